-- ODP line items (docs/semantics.md §1.1): one row per element of data.order.items of an accepted
-- event. Custom fields inside items were dropped at validation (ODP ignores them); the
-- order-level custom fields are copied onto every item.
-- materialized: incremental
with records as (
    select * from staging.odp_event_records
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

record_items as (
    select * from staging.odp_event_record_items
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

items_with_subtotal as (
    select
        record_items.*,
        -- §3: an item subtotal, when absent, is price × quantity − discount
        coalesce(
            record_items.subtotal,
            -- widened first: DECIMAL(18,4) × DECIMAL(18,4) would stay within 18 digits
            -- a line without a quantity is one unit
            cast(record_items.price as decimal(38, 4)) * coalesce(record_items.quantity, 1)
                - coalesce(record_items.discount, 0)
        ) as line_subtotal
    from record_items
),

final as (
    select
        items.event_id,
        'odp_events' as source,
        records.order_id,
        records.action,
        records.ts,
        items.item_no,
        items.product_id,
        items.sku,
        items.price,
        items.quantity,
        items.discount,
        cast(items.line_subtotal as decimal(38, 4)) as subtotal,
        items.subtotal is null as subtotal_derived,
        items.dropped_fields,
        records.custom,
        -- per-item attributes kept by other sources (Ometria variant options, XML product
        -- attributes); ODP drops custom item fields (§1.1)
        cast(null as json) as attributes,
        records.arrival_seq
    from items_with_subtotal as items
    inner join records on records.event_id = items.event_id
)

select * from final
