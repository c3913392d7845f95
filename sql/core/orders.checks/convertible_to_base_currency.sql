-- Orders with no usable exchange rate keep NULL base amounts (docs/semantics.md §6).
-- severity: warn
-- blocking: false
select order_id, currency, placed_at
from core.orders
where subtotal_base is null
