-- Product sales (docs/semantics.md §8): units and revenue sold (purchase lines) and returned
-- (return lines), in the base currency, and the orders that sold the product.
with items as (
    select * from core.order_items
),

order_products_sold as (
    select * from core.order_products_sold
),

classified as (
    select
        coalesce(product_id, sku) as product_key,
        product_id,
        sku,
        quantity,
        subtotal_base,
        counts_as_gross(action_class, is_order_creating) as is_sale,
        action_class = 'return' as is_return
    from items
),

line_totals as (
    select
        product_key,
        arg_max(product_id, product_id is not null) as product_id,
        arg_max(sku, sku is not null) as sku,
        sum(quantity) filter (where is_sale) as units_sold,
        sum(subtotal_base) filter (where is_sale) as revenue_sold,
        sum(quantity) filter (where is_return) as units_returned,
        sum(subtotal_base) filter (where is_return) as revenue_returned
    from classified
    where product_key is not null
    group by product_key
),

orders_sold as (
    -- one row per order and product it sold: counting the rows counts the orders
    select product_key, count(*) as orders
    from order_products_sold
    group by product_key
),

final as (
    select
        line_totals.product_key,
        line_totals.product_id,
        line_totals.sku,
        cast(coalesce(line_totals.units_sold, 0) as decimal(38, 4)) as units_sold,
        cast(round(coalesce(line_totals.revenue_sold, 0), 2) as decimal(38, 2)) as revenue_sold,
        cast(coalesce(line_totals.units_returned, 0) as decimal(38, 4)) as units_returned,
        cast(round(coalesce(abs(line_totals.revenue_returned), 0), 2) as decimal(38, 2))
            as revenue_returned,
        coalesce(orders_sold.orders, 0) as orders
    from line_totals
    left join orders_sold on orders_sold.product_key = line_totals.product_key
)

select * from final
order by revenue_sold desc, product_key
