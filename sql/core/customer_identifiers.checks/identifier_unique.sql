-- One row per (identifier_type, identifier_value) in core.customer_identifiers.
-- severity: error
-- blocking: true
select identifier_type, identifier_value, count(*) as n
from core.customer_identifiers
group by all
having count(*) > 1
