-- Identifiers of Ometria snapshots (docs/semantics.md §1.4, §5): customer.id (as
-- `ometria_customer_id`) and customer.email, as sent. A snapshot with only a first and last
-- name has none: an anonymous order. Identity links identifiers by order, so a snapshot that
-- yields no event still links its order's identifiers; event_id is that of the snapshot's
-- first event (record_part 0), the event its change would be.
with snapshots as (
    select * from staging.ometria_order_snapshots
),

snapshot_identifiers as (
    select
        md5(event_id || ':0') as event_id,
        order_id,
        arrival_seq,
        'ometria_customer_id' as identifier_type,
        customer_id as identifier_value
    from snapshots
    where customer_id is not null
    union all
    select
        md5(event_id || ':0') as event_id,
        order_id,
        arrival_seq,
        'email' as identifier_type,
        customer_email as identifier_value
    from snapshots
    where customer_email is not null
),

final as (
    select event_id, 'ometria_orders' as source, order_id, identifier_type, identifier_value,
           arrival_seq
    from snapshot_identifiers
)

select * from final
