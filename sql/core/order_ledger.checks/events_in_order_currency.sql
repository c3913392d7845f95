-- Issue 11, docs/semantics.md §6: events sent in another currency than their order's that no
-- exchange rate converts (none on or before the order's placed_at date, for either currency).
-- They stay in the ledger with is_unconverted, their amounts enter no tally or report; a rate
-- file for that date converts them on the next run.
-- severity: warn
-- blocking: false
select
    ledger.order_id, ledger.event_id, ledger.action, ledger.sent_currency, ledger.currency,
    ledger.placed_date, events.subtotal, events.total
from core.order_ledger as ledger
left join intermediate.int_order_events as events using (event_id)
where ledger.is_unconverted
