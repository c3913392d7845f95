-- ODP order events (docs/semantics.md §1.1): one row per accepted API call, typed and named as the
-- ledger expects. Amount fallbacks are resolved in core.order_events, not here.
-- materialized: incremental
with records as (
    select * from staging.odp_event_records
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

items as (
    select * from staging.stg_odp_order_items
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
        'odp_events' as source,
        records.order_id,
        records.action,
        records.ts,
        records.ts_inferred,
        records.arrival_seq,
        0 as record_part,
        records.file,
        records.record_no,
        records.currency,
        records.subtotal,
        records.total,
        records.tax,
        records.shipping,
        records.discount,
        records.coupon_code,
        records.bill_address,
        records.ship_address,
        records.first_name,
        records.last_name,
        records.name,
        -- contacts normalised as identifiers are (§5), so orders join their customers
        normalise_email(coalesce(records.email, records.identifiers ->> '$.email')) as email,
        normalise_phone(coalesce(records.phone, records.identifiers ->> '$.phone')) as phone,
        records.custom,
        item_totals.items_subtotal,
        coalesce(item_totals.items_quantity, 0) as items_quantity,
        coalesce(item_totals.item_rows, 0) as item_rows,
        coalesce(item_totals.dropped_item_fields, 0) as dropped_item_fields,
        -- ODP sends no base-currency amounts: the ledger converts with exchange rates (§6)
        cast(null as decimal(18, 4)) as subtotal_base_sent,
        cast(null as decimal(18, 4)) as total_base_sent
    from records
    left join item_totals on item_totals.event_id = records.event_id
)

select * from final
