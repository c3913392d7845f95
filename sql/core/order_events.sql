-- The order ledger with each event's resolved customer (docs/semantics.md §3, §5): what analysts
-- query. A view, so that identity resolution never rewrites the partitioned ledger.
-- materialized: view
with ledger as (
    select * from core.order_ledger
),

order_customers as (
    select * from core.order_customers
),

final as (
    select ledger.*, order_customers.customer_id
    from ledger
    left join order_customers on order_customers.order_id = ledger.order_id
)

select * from final
