-- The orders an incremental build of core.orders recomputes: those whose summary can differ
-- from the last build's (incremental_after: the last record that build had seen).
with rederived as (
    -- the orders with ledger rows on the days re-derived since the last build: new events and
    -- exchange rates (docs/semantics.md §3, §6), or a backfill (models.py sets the bounds)
    select distinct order_id from core.order_ledger
    where getvariable('rederived')
      and (getvariable('rederived_first_day') is null
           or event_date >= getvariable('rederived_first_day'))
      and (getvariable('rederived_last_day') is null
           or event_date <= getvariable('rederived_last_day'))
),

new_updates as (
    -- §4.4: a new Orders-object update overlays its order
    select order_id from staging.odp_order_update_records
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

regrouped_customers as (
    -- §5: the customers whose identifiers changed since the last build (identity.py logs
    -- their old and new ids): an order changes customer only when one of these does
    select customer_id from state.identity_changes
    where built_through > getvariable('incremental_after')
      and built_through <= getvariable('incremental_through')
),

recustomered as (
    -- identity resolution may move an order to another customer, or leave it anonymous
    select order_id from core.order_customers
    where customer_id in (select customer_id from regrouped_customers)
    union
    select order_id from core.orders
    where customer_id in (select customer_id from regrouped_customers)
),

object_only as (
    -- §4.4: an order known only from updates finds its customer by email or phone, which
    -- any new identifier may change: always looked at again (there are few)
    select order_id from core.orders
    where event_count = 0
),

final as (
    select order_id from rederived
    union
    select order_id from new_updates
    union
    select order_id from recustomered
    union
    select order_id from object_only
)

select * from final
