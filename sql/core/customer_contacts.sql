-- Each resolved customer's identifiers as lists (docs/semantics.md §5): emails and phones sorted,
-- every other identifier type as a JSON object of sorted lists, shown by core.customers.
-- An incremental build recomputes only the customers customer_contacts.changed.sql lists.
-- materialized: incremental
-- unique_key: customer_id
with identifiers as (
    select * from core.customer_identifiers
    where getvariable('incremental_after') < 0
        or customer_id in (select customer_id from changed_keys)
),

contact_lists as (
    select
        customer_id,
        list(identifier_value order by identifier_value) filter (where identifier_type = 'email')
            as emails,
        list(identifier_value order by identifier_value) filter (where identifier_type = 'phone')
            as phones
    from identifiers
    group by customer_id
),

other_identifier_lists as (
    select customer_id, identifier_type, list(identifier_value order by identifier_value) as ids
    from identifiers
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

final as (
    select
        contact_lists.customer_id,
        coalesce(contact_lists.emails, []) as emails,
        coalesce(contact_lists.phones, []) as phones,
        coalesce(other_identifiers.other_identifiers, '{}'::json) as other_identifiers
    from contact_lists
    left join other_identifiers on other_identifiers.customer_id = contact_lists.customer_id
)

select * from final
