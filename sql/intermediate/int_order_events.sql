-- Every source's order events in one shape: the input of the ledger (docs/semantics.md §3).
-- Each source's events model returns exactly these columns, in this order:
--   event_id, source, order_id, action, ts, ts_inferred, arrival_seq,
--   record_part (orders the events one record yields: 0, 1, ...), file, record_no, currency,
--   subtotal, total, tax, shipping, discount (amounts as sent, DECIMAL(18,4)), coupon_code,
--   bill_address, ship_address, first_name, last_name, name, email, phone (normalised as
--   identifiers are), custom (JSON), items_subtotal, items_quantity, item_rows,
--   dropped_item_fields, subtotal_base_sent, total_base_sent (amounts already in the base
--   currency, same sign convention as subtotal/total; NULL when the source sent none).
-- revised_seq: the arrival of the latest record that changed the event (its arrival_seq for
-- every source but ODP CSV, whose events later files may join, docs/semantics.md §1.2): the
-- partition planning re-derives the days of every event revised since the last model run.
-- A view: its readers (the ledger, its planning, a check) read the union as cheaply as a table
-- of it, and a full run does not write every event once more (issue 15). A reader selecting
-- some days compares ts itself, not its UTC day (sql/macros.sql: utc_day_start, utc_day_end).
-- materialized: view
with odp_events as (
    select * from staging.stg_odp_order_events
),

ometria_orders as (
    select * from intermediate.int_ometria_order_events
),

optimizely_orders as (
    select * from staging.stg_optimizely_order_events
),

odp_csv_orders as (
    select * from intermediate.int_odp_csv_order_events
),

unioned as (
    select * from odp_events
    union all by name
    select * from ometria_orders
    union all by name
    select * from optimizely_orders
    union all by name
    select * from odp_csv_orders
),

final as (
    select * replace (coalesce(revised_seq, arrival_seq) as revised_seq)
    from unioned
)

select * from final
