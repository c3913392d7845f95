-- Product attributes sent with Optimizely XML order lines and dropped (docs/semantics.md §1.5), each
-- with the reason: the product is not in the catalog, the catalog has no such attribute for
-- it, or it has another value (`catalog_value`).
with verdicts as (
    select * from core.order_item_attribute_verdicts
),

final as (
    select *
    from verdicts
    where dropped_because is not null
)

select * from final
