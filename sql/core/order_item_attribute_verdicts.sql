-- Every product attribute sent with an Optimizely XML order line, judged against the catalog
-- (docs/semantics.md §1.5): kept (`dropped_because` NULL) only when core.products has that product
-- with that attribute name and value; otherwise the reason it is dropped.
with items as (
    select * from core.order_items
),

products as (
    select * from core.products
),

sent_attribute_entries as (
    -- each entry of an item's attributes object: its keys and its values in lock-step (the
    -- idiom of stg_odp_order_identifiers)
    select
        event_id,
        order_id,
        item_no,
        product_id,
        unnest(json_keys(attributes)) as attribute_key,
        unnest(json_extract(attributes, '$.*')) as attribute
    from items
    where source = 'optimizely_xml' and attributes is not null
),

sent_attributes as (
    select
        event_id, order_id, item_no, product_id, attribute_key,
        attribute ->> '$' as attribute_value
    from sent_attribute_entries
),

catalog_attribute_entries as (
    select
        product_id,
        unnest(json_keys(attributes)) as attribute_key,
        unnest(json_extract(attributes, '$.*')) as attribute
    from products
    where attributes is not null
),

catalog_attributes as (
    select product_id, attribute_key, attribute ->> '$' as attribute_value
    from catalog_attribute_entries
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
