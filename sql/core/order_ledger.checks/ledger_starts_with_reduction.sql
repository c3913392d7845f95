-- Orders whose first event is a return, refund or cancel (the purchase has not arrived, or
-- never will): their tally is negative until it does.
-- severity: warn
-- blocking: false
select order_id, action, ts
from core.order_ledger
where event_seq = 1 and is_reduction(action_class)
