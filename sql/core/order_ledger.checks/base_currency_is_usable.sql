-- ORDERS_BASE_CURRENCY has no usable rates (issue 11): no event is in it and no exchange rate
-- to it has been landed (rates to another base, or in files that name no base, which are rates
-- to USD, never count), so no amount converts into it and the base-currency reports are empty.
-- Set ORDERS_BASE_CURRENCY to a currency of your orders, or land exchange rates to it
-- (exchange_rates/ with a base_currency column). A warning, not a failure: an order with no
-- usable rate keeps its local amounts (docs/semantics.md §6).
-- severity: warn
-- blocking: false
select
    getvariable('base_currency') as base_currency,
    list(distinct currency order by currency) as event_currencies
from core.order_ledger
having count(*) > 0
    and count(*) filter (where currency = getvariable('base_currency')) = 0
    and count(*) filter (where subtotal_delta_base is not null) = 0
    and not exists (
        select 1 from intermediate.int_exchange_rates
        where base_currency = getvariable('base_currency')
    )
