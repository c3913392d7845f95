-- The ODP CSV events an incremental build of int_odp_csv_order_events recomputes: those
-- with rows accepted since the last build, new events and events that rows of a later file
-- joined (docs/semantics.md §1.2).
select distinct order_event_id as event_id
from intermediate.int_odp_csv_event_rows
where arrival_seq > getvariable('incremental_after')
  and arrival_seq <= getvariable('incremental_through')
