-- Optimizely offline orders (docs/semantics.md §1.5): every accepted <order> is one `purchase`
-- event, order_id = refCode, ts = orderDate. `subtotal` is as sent; when it is absent the
-- ledger takes Σ item subtotals (items_subtotal), as for every source (§3).
-- materialized: incremental
with records as (
    select * from staging.optimizely_order_records
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

items as (
    select * from staging.stg_optimizely_order_items
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

item_totals as (
    -- the one sum of an event's line items (sql/macros.sql)
    select * from item_totals(items)
),

final as (
    select
        records.event_id,
        'optimizely_xml' as source,
        records.order_id,
        'purchase' as action,
        records.ts,
        false as ts_inferred,
        records.arrival_seq,
        0 as record_part,
        records.file,
        records.record_no,
        records.currency,
        records.subtotal,
        records.total,
        cast(null as decimal(18, 4)) as tax,
        records.shipping,
        cast(null as decimal(18, 4)) as discount,
        cast(null as varchar) as coupon_code,
        cast(null as varchar) as bill_address,
        cast(null as varchar) as ship_address,
        cast(null as varchar) as first_name,
        cast(null as varchar) as last_name,
        cast(null as varchar) as name,
        -- normalised as identifiers are (§5), so orders join their customers; no <user> is
        -- an anonymous order
        normalise_email(records.email) as email,
        cast(null as varchar) as phone,
        records.custom,
        item_totals.items_subtotal,
        coalesce(item_totals.items_quantity, 0) as items_quantity,
        coalesce(item_totals.item_rows, 0) as item_rows,
        -- product attributes are kept or dropped against the catalog in core models
        coalesce(item_totals.dropped_item_fields, 0) as dropped_item_fields,
        -- the feed sends no base-currency amounts: the ledger converts them (§6)
        cast(null as decimal(18, 4)) as subtotal_base_sent,
        cast(null as decimal(18, 4)) as total_base_sent
    from records
    left join item_totals on item_totals.event_id = records.event_id
)

select * from final
