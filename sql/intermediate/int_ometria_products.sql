-- Products Ometria creates from line items (Ometria's product matching): an unknown
-- product_id creates a product from the line item, an unknown sku does not. One row per
-- product_id seen in an accepted snapshot, described by the first line that names it
-- (arrival order); core.products combines these with the catalog.
with snapshot_items as (
    select * from staging.ometria_order_snapshot_items
),

product_lines as (
    select
        product_id,
        sku,
        name,
        -- NULL when the line sent neither
        case when variant_options is not null or properties is not null
            then json_object('variant_options', variant_options, 'properties', properties)
            end as attributes,
        arrival_seq,
        item_no
    from snapshot_items
    where product_id is not null
),

final as (
    select
        product_id,
        -- the line that created the product: the first one seen, whatever it sent
        arg_min_null(sku, (arrival_seq, item_no)) as sku,
        -- NULL unless some line sent a name
        arg_min(name, (arrival_seq, item_no)) filter (where name is not null) as name,
        arg_min_null(attributes, (arrival_seq, item_no)) as attributes,
        min(arrival_seq) as first_arrival_seq
    from product_lines
    group by product_id
)

select * from final
