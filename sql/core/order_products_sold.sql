-- The products each order sold (docs/semantics.md §8): one row per order and product key
-- (product_id, else sku) with a sale line of that order. reporting.product_sales counts an
-- order once per product it sold: with one row per order and product sold, that is a plain
-- count of these rows, never a distinct count over every line item.
-- An incremental build recomputes only the orders order_products_sold.changed.sql lists.
-- materialized: incremental
-- unique_key: order_id
with items as (
    select * from core.order_items
    where getvariable('incremental_after') < 0
        or order_id in (select order_id from changed_keys)
),

sale_lines as (
    select order_id, coalesce(product_id, sku) as product_key
    from items
    where counts_as_gross(action_class, is_order_creating)
),

final as (
    select distinct order_id, product_key
    from sale_lines
    where product_key is not null
)

select * from final
