-- Product sales (docs/semantics.md §8): units and revenue sold (purchase lines) and returned
-- (return lines), in the base currency.
with items as (
    select * from core.order_items
),

classified as (
    select
        coalesce(product_id, sku) as product_key,
        product_id,
        sku,
        order_id,
        quantity,
        subtotal_base,
        counts_as_gross(action_class, is_order_creating) as is_sale,
        action_class = 'return' as is_return
    from items
),

final as (
    select
        product_key,
        arg_max(product_id, product_id is not null) as product_id,
        arg_max(sku, sku is not null) as sku,
        cast(coalesce(sum(quantity) filter (where is_sale), 0) as decimal(38, 4)) as units_sold,
        cast(round(coalesce(sum(subtotal_base) filter (where is_sale), 0), 2) as decimal(38, 2))
            as revenue_sold,
        cast(coalesce(sum(quantity) filter (where is_return), 0) as decimal(38, 4))
            as units_returned,
        cast(round(coalesce(abs(sum(subtotal_base) filter (where is_return)), 0), 2)
             as decimal(38, 2)) as revenue_returned,
        count(distinct order_id) filter (where is_sale) as orders
    from classified
    where product_key is not null
    group by product_key
)

select * from final
order by revenue_sold desc, product_key
