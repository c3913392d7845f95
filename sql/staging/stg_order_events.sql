-- Every source's order events in one shape: the input of the ledger (SEMANTICS §3).
with odp_events as (
    select * from staging.stg_odp_order_events
),

final as (
    select * from odp_events
)

select * from final
