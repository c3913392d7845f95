-- The customers an incremental build of core.customers recomputes: those whose orders,
-- events or identifiers can differ from the last build's (incremental_after: the last
-- record that build had seen; rederived*: the ledger days re-derived since).
with rederived_orders as (
    -- new events and exchange rates, or a backfill (docs/semantics.md §3, §6)
    select distinct order_id from core.order_ledger
    where getvariable('rederived')
      and (getvariable('rederived_first_day') is null
           or event_date >= getvariable('rederived_first_day'))
      and (getvariable('rederived_last_day') is null
           or event_date <= getvariable('rederived_last_day'))
),

updated_orders as (
    -- §4.4: an Orders-object update can change an order's subtotal, so its customer's LTV
    select order_id from staging.odp_order_update_records
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

changed_orders as (
    select order_id from rederived_orders
    union
    select order_id from updated_orders
),

customers_of_changed_orders as (
    -- one semi-join on the orders (issue 15: two IN lists joined by OR read every order)
    select customer_id from core.orders
    where order_id in (select order_id from changed_orders)
),

regrouped as (
    -- §5: customers whose identifiers changed: merged, split, new or gone (identity.py logs
    -- them). Orders change customer only this way, so the customers an order left or
    -- joined are all here.
    select customer_id from state.identity_changes
    where built_through > getvariable('incremental_after')
      and built_through <= getvariable('incremental_through')
),

final as (
    select customer_id from customers_of_changed_orders
    union
    select customer_id from regrouped
)

select * from final
