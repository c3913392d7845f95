-- Product attributes sent with order lines that the catalog confirms (docs/semantics.md §1.5): an
-- Optimizely XML product attribute is kept only when core.products has that product with
-- that attribute name and value; the others are in audit.dropped_item_attributes.
with verdicts as (
    select * from core.order_item_attribute_verdicts
),

final as (
    select event_id, order_id, item_no, product_id, attribute_key, attribute_value
    from verdicts
    where dropped_because is null
)

select * from final
