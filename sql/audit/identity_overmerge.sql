-- Identifiers that link nothing (docs/semantics.md §5): over the fan-out limit or blocklisted.
-- Reported by an asset check; the values stay on their orders.
with fanout as (
    select * from core.identifier_fanout
),

final as (
    select
        identifier_type,
        identifier_value,
        fanout,
        order_count,
        case when is_blocklisted then 'blocklisted' else 'fanout_over_limit' end as reason,
        getvariable('identity_max_fanout') as max_fanout
    from fanout
    where not links
)

select * from final
