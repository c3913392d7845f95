-- The events an incremental build of int_order_events replaces: ODP CSV events that rows of
-- a later file joined since the last build (docs/semantics.md §1.2). Every other source's event is
-- complete when it arrives, so it is only ever added.
select event_id
from intermediate.int_odp_csv_order_events
where revised_seq > getvariable('incremental_after')
  and revised_seq <= getvariable('incremental_through')
  and arrival_seq <= getvariable('incremental_after')
