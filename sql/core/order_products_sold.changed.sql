-- The orders an incremental build of core.order_products_sold recomputes: those with ledger
-- rows on the days re-derived since the last build, as for core.orders (orders.changed.sql).
-- An order's line items are re-derived with its ledger days only: new events, a backfill
-- (docs/semantics.md §3; models.py sets the bounds).
select distinct order_id from core.order_ledger
where getvariable('rederived')
  and (getvariable('rederived_first_day') is null
       or event_date >= getvariable('rederived_first_day'))
  and (getvariable('rederived_last_day') is null
       or event_date <= getvariable('rederived_last_day'))
