-- The customers an incremental build of core.customers recomputes: those whose orders,
-- events or identifiers can differ from the last build's (incremental_after: the last
-- record that build had seen; rederived*: the ledger days re-derived since).
with rederived_orders as (
    -- new events and exchange rates, or a backfill (SEMANTICS §3, §6)
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
),

customers_of_changed_orders as (
    select customer_id from core.orders
    where order_id in (select order_id from rederived_orders)
       or order_id in (select order_id from updated_orders)
),

contact_lists as (
    -- as core.customers lists them
    select
        customer_id,
        list(identifier_value order by identifier_value) filter (where identifier_type = 'email')
            as emails,
        list(identifier_value order by identifier_value) filter (where identifier_type = 'phone')
            as phones
    from core.customer_identifiers
    group by customer_id
),

other_identifier_lists as (
    select customer_id, identifier_type, list(identifier_value order by identifier_value) as ids
    from core.customer_identifiers
    where identifier_type not in ('email', 'phone')
    group by customer_id, identifier_type
),

other_identifiers as (
    select customer_id, to_json(map_from_entries(list({'key': identifier_type, 'value': ids}
                                                      order by identifier_type)))
        as other_identifiers
    from other_identifier_lists
    group by customer_id
),

resolved as (
    select
        contact_lists.customer_id,
        coalesce(contact_lists.emails, []) as emails,
        coalesce(contact_lists.phones, []) as phones,
        coalesce(other_identifiers.other_identifiers, '{}'::json)::varchar as other_identifiers
    from contact_lists
    left join other_identifiers on other_identifiers.customer_id = contact_lists.customer_id
),

regrouped as (
    -- §5: customers whose identifiers changed: merged, split, new or gone. Orders change
    -- customer only this way, so the customers an order left or joined are all here.
    select coalesce(resolved.customer_id, customers.customer_id) as customer_id
    from resolved
    full outer join core.customers on customers.customer_id = resolved.customer_id
    where resolved.emails is distinct from customers.emails
       or resolved.phones is distinct from customers.phones
       or resolved.other_identifiers is distinct from customers.other_identifiers::varchar
),

final as (
    select customer_id from customers_of_changed_orders
    union
    select customer_id from regrouped
)

select * from final
