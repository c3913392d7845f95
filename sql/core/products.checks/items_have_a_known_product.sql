-- Line items whose product is not in the catalog (by product_id, or by sku when the line has
-- no product_id). They are kept and count in revenue; this lists them so the catalog can be
-- completed. ODP purchases never create products; Ometria lines with an unknown product_id do.
-- severity: warn
-- blocking: false
-- also_after: core.order_items
select items.source, items.order_id, items.event_id, items.item_no, items.product_id, items.sku
from core.order_items as items
where not exists (
        select 1 from core.products as products where products.product_id = items.product_id
    )
    and not exists (
        select 1 from core.products as products
        where items.product_id is null and products.sku = items.sku
    )
