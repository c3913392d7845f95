-- For every landed file, records = accepted + quarantined + duplicates, and the raw table
-- holds exactly `records` rows of it (docs/semantics.md §2). One check per source, on its
-- validated table; the source's names are filled in from the registry (sources.py).
-- severity: error
-- blocking: true
with raw_rows as (
    select file_seq, count(*) as raw_rows
    from {raw_table}
    group by 1
)

select loads.file, loads.records, loads.accepted, loads.quarantined, loads.duplicates,
    raw_rows.raw_rows
from audit.loads as loads
left join raw_rows using (file_seq)
where loads.source = '{source}'
    and (
        loads.validated_at is null
        or loads.records <> loads.accepted + loads.quarantined + loads.duplicates
        or loads.records <> coalesce(raw_rows.raw_rows, 0)
    )
