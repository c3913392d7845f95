-- Product attributes sent with order lines that the catalog confirms (SEMANTICS §1.5): an
-- Optimizely XML product attribute is kept only when core.products has that product with
-- that attribute name and value; the others are listed in audit.dropped_item_attributes.
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
        items.source,
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
    select sent_attributes.*
    from sent_attributes
    inner join catalog_attributes
        on catalog_attributes.product_id = sent_attributes.product_id
       and catalog_attributes.attribute_key = sent_attributes.attribute_key
       and catalog_attributes.attribute_value = sent_attributes.attribute_value
)

select * from final
