-- Every source's line items in one shape. Each source's items model provides these columns:
--   event_id, source, order_id, action, ts, item_no, product_id, sku, price, quantity,
--   discount, subtotal (DECIMAL(38,4), derived when absent), subtotal_derived, custom (JSON,
--   the order-level custom fields), attributes (JSON, the item's own kept attributes),
--   arrival_seq (its event's).
-- A view, read by core.order_items alone: a full run does not write every item once more
-- (issue 15).
-- materialized: view
with odp_items as (
    select * from staging.stg_odp_order_items
),

ometria_items as (
    select * from intermediate.int_ometria_order_items
),

optimizely_items as (
    select * from staging.stg_optimizely_order_items
),

odp_csv_items as (
    select * from intermediate.int_odp_csv_order_items
),

final as (
    select
        event_id, source, order_id, action, ts, item_no, product_id, sku, price, quantity,
        discount, subtotal, subtotal_derived, custom, attributes, arrival_seq
    from odp_items
    union all
    select
        event_id, source, order_id, action, ts, item_no, product_id, sku, price, quantity,
        discount, subtotal, subtotal_derived, custom, attributes, arrival_seq
    from ometria_items
    union all
    select
        event_id, source, order_id, action, ts, item_no, product_id, sku, price, quantity,
        discount, subtotal, subtotal_derived, custom, attributes, arrival_seq
    from optimizely_items
    union all
    select
        event_id, source, order_id, action, ts, item_no, product_id, sku, price, quantity,
        discount, subtotal, subtotal_derived, custom, attributes, arrival_seq
    from odp_csv_items
)

select * from final
