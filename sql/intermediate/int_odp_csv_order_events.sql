-- ODP historical CSV order events (docs/semantics.md §1.2): one row per event, i.e. per group of
-- accepted rows sharing (order_id, action, ts), in one file or across several. Order-level
-- values are the same on every row that sends them (validation quarantines an event whose
-- rows disagree), so each counts once: the first one sent. subtotal is the order-level
-- subtotal as sent; without it the ledger takes Σ item subtotals (items_subtotal), as for
-- ODP events (§3).
-- An event changes when a later file's rows join it: an incremental build recomputes the
-- events int_odp_csv_order_events.changed.sql lists, whole. arrival_seq (the event's place
-- in its order's timeline) is its first row's and never changes; revised_seq is its latest
-- row's, which tells the models downstream that the event changed.
-- materialized: incremental
-- unique_key: event_id
with event_rows as (
    select * from intermediate.int_odp_csv_event_rows
    where (getvariable('incremental_after') < 0
           or order_event_id in (select event_id from changed_keys))
      and arrival_seq <= getvariable('incremental_through')
),

items as (
    select * from intermediate.int_odp_csv_order_items
    where (getvariable('incremental_after') < 0
           or event_id in (select event_id from changed_keys))
      and arrival_seq <= getvariable('incremental_through')
),

item_totals as (
    -- the one sum of an event's line items (sql/macros.sql)
    select * from item_totals(items)
),

events as (
    select
        order_event_id as event_id,
        any_value(order_id) as order_id,
        any_value(action) as action,
        any_value(ts) as ts,
        bool_and(ts_inferred) as ts_inferred,
        min(arrival_seq) as arrival_seq,
        max(arrival_seq) as revised_seq,
        arg_min(file, arrival_seq) as file,
        arg_min(record_no, arrival_seq) as record_no,
        first(currency order by arrival_seq) filter (where currency is not null) as currency,
        first(order_subtotal order by arrival_seq) filter (where order_subtotal is not null)
            as subtotal,
        first(order_total order by arrival_seq) filter (where order_total is not null)
            as total,
        first(order_tax order by arrival_seq) filter (where order_tax is not null) as tax,
        first(order_shipping order by arrival_seq) filter (where order_shipping is not null)
            as shipping,
        first(order_discount order by arrival_seq) filter (where order_discount is not null)
            as discount,
        first(coupon_code order by arrival_seq) filter (where coupon_code is not null)
            as coupon_code,
        first(bill_address order by arrival_seq) filter (where bill_address is not null)
            as bill_address,
        first(ship_address order by arrival_seq) filter (where ship_address is not null)
            as ship_address,
        first(first_name order by arrival_seq) filter (where first_name is not null)
            as first_name,
        first(last_name order by arrival_seq) filter (where last_name is not null)
            as last_name,
        first(name order by arrival_seq) filter (where name is not null) as name,
        -- contacts normalised as identifiers are (§5), so orders join their customers
        first(email order by arrival_seq) filter (where normalise_email(email) is not null)
            as email_sent,
        first(phone order by arrival_seq) filter (where normalise_phone(phone) is not null)
            as phone_sent,
        first(custom order by arrival_seq) filter (where custom is not null) as custom,
        sum(dropped_fields) as dropped_item_fields
    from event_rows
    group by order_event_id
),

final as (
    select
        events.event_id,
        'odp_csv' as source,
        events.order_id,
        events.action,
        events.ts,
        events.ts_inferred,
        events.arrival_seq,
        events.revised_seq,
        0 as record_part,
        events.file,
        events.record_no,
        events.currency,
        events.subtotal,
        events.total,
        events.tax,
        events.shipping,
        events.discount,
        events.coupon_code,
        events.bill_address,
        events.ship_address,
        events.first_name,
        events.last_name,
        events.name,
        normalise_email(events.email_sent) as email,
        normalise_phone(events.phone_sent) as phone,
        coalesce(events.custom, json('{}')) as custom,
        item_totals.items_subtotal,
        coalesce(item_totals.items_quantity, 0) as items_quantity,
        coalesce(item_totals.item_rows, 0) as item_rows,
        cast(events.dropped_item_fields as bigint) as dropped_item_fields,
        -- ODP sends no base-currency amounts: the ledger converts with exchange rates (§6)
        cast(null as decimal(18, 4)) as subtotal_base_sent,
        cast(null as decimal(18, 4)) as total_base_sent
    from events
    left join item_totals on item_totals.event_id = events.event_id
)

select * from final
