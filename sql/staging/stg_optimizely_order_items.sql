-- Optimizely offline-order products (docs/semantics.md §1.5): one row per <product> of an accepted
-- <order>. `price` is per unit, so the line subtotal is quantity × price. The product's
-- <attribute>s are kept as sent in `attributes`; core.order_item_attributes keeps those the
-- catalog confirms. The order's own <attribute>s are copied onto every item as `custom`.
-- materialized: incremental
with records as (
    select * from staging.optimizely_order_records
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

record_items as (
    select * from staging.optimizely_order_record_items
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

final as (
    select
        record_items.event_id,
        'optimizely_xml' as source,
        records.order_id,
        'purchase' as action,
        records.ts,
        record_items.item_no,
        record_items.product_id,
        cast(null as varchar) as sku,
        record_items.price,
        record_items.quantity,
        cast(null as decimal(18, 4)) as discount,
        -- §1.5: item subtotal = quantity × price (widened first: DECIMAL(18,4) × DECIMAL(18,4)
        -- would stay within 18 digits)
        cast(cast(record_items.price as decimal(38, 4)) * record_items.quantity
            as decimal(38, 4)) as subtotal,
        true as subtotal_derived,
        -- nothing of a <product> is dropped here: its attributes are judged in core models
        0 as dropped_fields,
        records.custom,
        record_items.attributes,
        record_items.attribute_count,
        records.arrival_seq
    from record_items
    inner join records on records.event_id = record_items.event_id
)

select * from final
