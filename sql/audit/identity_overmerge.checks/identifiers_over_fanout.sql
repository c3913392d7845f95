-- Identifiers that link nothing because they appear with too many others (a shop phone,
-- test@test.com) or are blocklisted (docs/semantics.md §5).
-- severity: warn
-- blocking: false
select * from audit.identity_overmerge
order by fanout desc
