-- The days of core.order_ledger that the records staged since its last build change
-- (incremental_after, incremental_through: the positions of that build and of this one):
-- for every order that received an event, the days from its earliest new event to its last
-- event (earlier events keep their tallies); and, for new exchange rates, every day from the
-- earliest new rate's date on (docs/semantics.md §6: a rate converts the orders placed on or after
-- its date, and those orders' events all lie on or after it). NULL: open on that side.
with new_events as (
    select order_id, utc_day(ts) as event_date
    from intermediate.int_order_events
    -- revised_seq: also the ODP CSV events that a later file's rows joined (docs/semantics.md §1.2)
    where revised_seq > getvariable('incremental_after')
      and revised_seq <= getvariable('incremental_through')
),

affected_orders as (
    select distinct order_id from new_events
),

new_rates as (
    select rate_date
    from intermediate.int_exchange_rates
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

event_days as (
    select
        (select min(event_date) from new_events) as first_day,
        utc_day(max(events.ts)) as last_day
    from intermediate.int_order_events as events
    where events.order_id in (select order_id from affected_orders)
    having count(*) > 0
),

rate_days as (
    select min(rate_date) as first_day, null::date as last_day
    from new_rates
    having count(*) > 0
)

select * from event_days
union all
select * from rate_days
