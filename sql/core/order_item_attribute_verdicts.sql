-- Every product attribute sent with an Optimizely XML order line, judged against the catalog
-- (docs/semantics.md §1.5): kept (`dropped_because` NULL) only when core.products has that product
-- with that attribute name and value; otherwise the reason it is dropped.
with items as (
    select * from core.order_items
),

products as (
    select * from core.products
),

sent_attributes as (
    select
        items.event_id,
        items.order_id,
        items.item_no,
        items.product_id,
        attribute.key as attribute_key,
        attribute.value ->> '$' as attribute_value
    from items, json_each(items.attributes) as attribute
    where items.source = 'optimizely_xml' and items.attributes is not null
),

catalog_attributes as (
    select products.product_id, attribute.key as attribute_key,
           attribute.value ->> '$' as attribute_value
    from products, json_each(products.attributes) as attribute
    where products.attributes is not null
),

final as (
    select
        sent_attributes.*,
        catalog_attributes.attribute_value as catalog_value,
        case
            when products.product_id is null then 'unknown_product'
            when catalog_attributes.attribute_key is null then 'attribute_not_in_catalog'
            when catalog_attributes.attribute_value <> sent_attributes.attribute_value
                then 'value_differs'
        end as dropped_because
    from sent_attributes
    left join products on products.product_id = sent_attributes.product_id
    left join catalog_attributes
        on catalog_attributes.product_id = sent_attributes.product_id
       and catalog_attributes.attribute_key = sent_attributes.attribute_key
)

select * from final
