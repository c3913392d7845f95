-- The bench's plain SQL chain (issue 15, item 4): what a data team would write in an
-- afternoon over the same ODP event files, the lower bound of a pipeline with the same
-- outputs. No quarantine (a record that does not read is skipped), no identity graph
-- (customers are emails), no currency conversion, no incremental state, no audit. Not a
-- model of the pipeline: sql/ holds those. The bench puts in the read (chain_read over the
-- NDJSON files, union all over the .json files: bench.chain_sql).

set TimeZone = 'UTC';  -- dates are UTC dates (docs/pitfalls.md)

-- read with explicit columns (no inference); the order stays JSON until it is typed. NDJSON
-- skips a line that does not parse; a .json file (an array or one object) must parse whole.
create temp macro chain_read(files, json_format) as table
select *
from read_json(
    files,
    format = json_format,
    ignore_errors = true,
    columns = {
        type: 'VARCHAR',
        action: 'VARCHAR',
        identifiers: 'STRUCT(email VARCHAR, phone VARCHAR, customer_id VARCHAR)',
        ts: 'JSON',
        data: 'JSON'
    }
);

create table chain_records as
{read};

-- typed with one json_transform, exact duplicates (the same parsed record) dropped
create table chain_events as
with typed as (
    select
        action,
        identifiers,
        ts,
        json_transform(data, '{
            "ts": "JSON",
            "order": {
                "order_id": "VARCHAR", "currency": "VARCHAR",
                "subtotal": "DECIMAL(18,4)", "total": "DECIMAL(18,4)",
                "tax": "DECIMAL(18,4)", "shipping": "DECIMAL(18,4)",
                "items": [{"product_id": "VARCHAR", "price": "DECIMAL(18,4)",
                           "quantity": "INTEGER", "subtotal": "DECIMAL(18,4)"}]
            }
        }') as d
    from chain_records
    where type = 'order'
),

unique_records as (
    select distinct * from typed
),

timed as (
    select
        *,
        coalesce(d.ts, ts) as ts_json
    from unique_records
)

select
    d.order.order_id as order_id,
    action,
    case when json_type(ts_json) in ('UBIGINT', 'BIGINT', 'DOUBLE')
         then to_timestamp(cast(ts_json as double))
         else try_cast(json_extract_string(ts_json, '$') as timestamptz) end as ts,
    d.order.currency as currency,
    lower(trim(identifiers.email)) as email,
    case when action in ('return', 'refund', 'cancel') then -abs(d.order.subtotal)
         else d.order.subtotal end as subtotal_delta,
    case when action in ('return', 'refund', 'cancel') then -abs(d.order.total)
         else d.order.total end as total_delta,
    d.order.items as items
from timed
where d.order.order_id is not null and action is not null;

-- line items of the purchases
create table chain_order_items as
select order_id, item.product_id, item.quantity, item.price, item.subtotal
from (
    select order_id, unnest(items) as item
    from chain_events
    where action = 'purchase'
);

-- running tallies per order
create table chain_ledger as
select
    order_id, action, ts, email, subtotal_delta, total_delta,
    sum(coalesce(subtotal_delta, 0)) over order_timeline as running_subtotal,
    sum(coalesce(total_delta, 0)) over order_timeline as running_total,
    row_number() over order_timeline as event_seq
from chain_events
window order_timeline as (
    partition by order_id order by ts rows between unbounded preceding and current row
);

create table chain_orders as
select
    order_id,
    min(ts) as placed_at,
    arg_min(email, ts) as email,
    arg_min(currency, ts) as currency,
    sum(coalesce(subtotal_delta, 0)) as subtotal,
    sum(coalesce(total_delta, 0)) as total,
    count(*) as events
from chain_events
group by order_id;

-- customers by email
create table chain_customers as
select
    email,
    count(*) as orders,
    sum(subtotal) as ltv,
    min(placed_at) as first_order_at,
    max(placed_at) as last_order_at
from chain_orders
where email is not null
group by email;

create table chain_daily_revenue as
select
    cast(ts as date) as day,
    sum(subtotal_delta) filter (where subtotal_delta > 0) as gross,
    -sum(subtotal_delta) filter (where subtotal_delta < 0) as reductions,
    sum(subtotal_delta) as net,
    count(*) filter (where action = 'purchase') as purchases
from chain_events
group by all;
