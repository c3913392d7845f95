-- Accepted rows of ODP historical CSV imports grouped into order events (SEMANTICS §1.2):
-- rows sharing (order_id, action, ts) within one file are one event. Per file, so that a
-- file landed later never changes an event already in the ledger: its rows form events of
-- their own. The event's id is a hash of its rows' ids, its arrival its first row's.
-- materialized: incremental
with records as (
    select * from staging.odp_csv_records
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

events as (
    select
        file_seq,
        order_id,
        action,
        ts,
        md5('odp_csv' || chr(31) || string_agg(event_id, chr(31) order by event_id))
            as order_event_id,
        min(arrival_seq) as event_arrival_seq
    from records
    group by file_seq, order_id, action, ts
),

final as (
    select
        events.order_event_id,
        events.event_arrival_seq,
        records.*,
        -- position of the line item in its event, in file order
        case when records.is_item then row_number() over (
            partition by events.order_event_id, records.is_item order by records.arrival_seq
        ) end as item_no
    from records
    inner join events
        on events.file_seq = records.file_seq
        and events.order_id = records.order_id
        and events.action = records.action
        and events.ts = records.ts
)

select * from final
