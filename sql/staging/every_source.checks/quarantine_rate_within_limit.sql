-- Blocks the run when the share of quarantined records among this source's new files
-- (validated since the last successful model run) exceeds ORDERS_MAX_QUARANTINE_RATE
-- (default 5 %), once they hold at least ORDERS_QUARANTINE_MIN_RECORDS records (default
-- 100). Raise the rate for one run to accept the batch; the files stay landed.
-- severity: error
-- blocking: true
with published as (
    select coalesce(max(arrival_seq), -1) as seen from audit.model_watermark
),

new_files as (
    select *
    from audit.loads
    where source = '{source}'
        and validated_at is not null
        and file_seq * {arrival_stride} + records > (select seen from published)
)

select
    '{source}' as source,
    count(*) as files,
    sum(records) as records,
    sum(quarantined) as quarantined,
    round(sum(quarantined) / sum(records), 4) as rate,
    getvariable('max_quarantine_rate') as max_rate,
    list(file order by file_seq) filter (where quarantined > 0) as files_with_quarantine
from new_files
having sum(records) >= getvariable('quarantine_min_records')
    and sum(quarantined) > getvariable('max_quarantine_rate') * sum(records)
