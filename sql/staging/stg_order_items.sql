-- Every source's line items in one shape.
with odp_items as (
    select * from staging.stg_odp_order_items
),

final as (
    select
        event_id, source, order_id, action, ts, item_no, product_id, sku, price, quantity,
        discount, subtotal, subtotal_derived, custom
    from odp_items
)

select * from final
