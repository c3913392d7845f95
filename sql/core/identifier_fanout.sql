-- Over-merge guard (docs/semantics.md §5): how many distinct other identifier values each identifier
-- appears with on the same orders, and whether it may link customers. A value seen with more
-- than ORDERS_IDENTITY_MAX_FANOUT others (a shop's phone, test@test.com) or on the blocklist
-- links nothing; it stays on its orders.
-- An incremental build recomputes only the identifiers identifier_fanout.changed.sql lists.
-- materialized: incremental
-- unique_key: identifier_type, identifier_value
with all_identifiers as (
    -- a full build: every identifier on every order
    select distinct order_id, identifier_type, identifier_value
    from intermediate.int_order_identifiers
    where getvariable('incremental_after') < 0
),

changed_identifiers as (
    -- an incremental build: those identifier_fanout.changed.sql lists, on all their orders
    -- (filtered before the distinct: the whole table is never made distinct)
    select distinct identifiers.order_id, identifiers.identifier_type, identifiers.identifier_value
    from intermediate.int_order_identifiers as identifiers
    inner join changed_keys
        on changed_keys.identifier_type = identifiers.identifier_type
        and changed_keys.identifier_value = identifiers.identifier_value
    where getvariable('incremental_after') >= 0
),

chosen_identifiers as (
    select * from all_identifiers
    union all
    select * from changed_identifiers
),

identifiers_on_their_orders as (
    -- what the chosen identifiers' orders carry
    select * from all_identifiers
    union all
    select distinct order_id, identifier_type, identifier_value
    from intermediate.int_order_identifiers
    where getvariable('incremental_after') >= 0
        and order_id in (select order_id from changed_identifiers)
),

co_occurrences as (
    select
        this.identifier_type,
        this.identifier_value,
        count(distinct other.identifier_type || chr(31) || other.identifier_value) as fanout
    from chosen_identifiers as this
    inner join identifiers_on_their_orders as other
        on other.order_id = this.order_id
        and (other.identifier_type <> this.identifier_type
             or other.identifier_value <> this.identifier_value)
    group by this.identifier_type, this.identifier_value
),

order_counts as (
    select identifier_type, identifier_value, count(*) as order_count
    from chosen_identifiers
    group by identifier_type, identifier_value
),

blocklisted as (
    -- a blocklist entry is normalised as the identifiers are (sql/macros.sql), so that
    -- '+1 555 0100' blocks +15550100; case aside, as before
    select
        order_counts.*,
        -- an empty blocklist (the default) blocks nothing: no list built per identifier
        case when array_length(getvariable('identity_blocklist')) = 0 then false
             else list_contains(
                 list_transform(getvariable('identity_blocklist'),
                                lambda entry: lower(normalise_identifier(identifier_type, entry))),
                 lower(identifier_value)
             )
        end as is_blocklisted
    from order_counts
),

final as (
    select
        order_counts.identifier_type,
        order_counts.identifier_value,
        order_counts.order_count,
        coalesce(co_occurrences.fanout, 0) as fanout,
        order_counts.is_blocklisted,
        not order_counts.is_blocklisted
            and coalesce(co_occurrences.fanout, 0) <= getvariable('identity_max_fanout')
            as links
    from blocklisted as order_counts
    left join co_occurrences
        on co_occurrences.identifier_type = order_counts.identifier_type
        and co_occurrences.identifier_value = order_counts.identifier_value
)

select * from final
