-- The product catalog (issue 3): one row per product_id. Catalog records (`products/`) come
-- first, the latest arrival of each product winning; a product an Ometria order line names
-- by product_id and the catalog lacks is created from the line item (Ometria's rule; an
-- unknown sku creates nothing, and ODP purchases never create products).
with catalog_records as (
    select * from staging.product_records
),

ometria_products as (
    select * from intermediate.int_ometria_products
),

latest_catalog as (
    select product_id, sku, name, attributes, arrival_seq
    from catalog_records
    qualify row_number() over (partition by product_id order by arrival_seq desc) = 1
),

final as (
    select
        product_id,
        sku,
        name,
        attributes,
        'catalog' as created_by,
        arrival_seq as updated_arrival_seq
    from latest_catalog

    union all

    select
        product_id,
        sku,
        name,
        attributes,
        'ometria_orders' as created_by,
        first_arrival_seq as updated_arrival_seq
    from ometria_products
    where product_id not in (select product_id from latest_catalog)
)

select * from final
