-- Accepted rows of ODP historical CSV imports, each with the order event it belongs to
-- (docs/semantics.md §1.2): rows sharing (order_id, action, ts) are one event, whichever file they
-- came in, so the rows of a later file join an event an earlier file began (an export cut
-- into parts). The event's id derives from its key, so it stays the same as rows join it;
-- its arrival is its first row's; a line item's number is its position among the event's
-- items in arrival order. A new row never changes an earlier row's values here.
-- materialized: incremental
with new_records as (
    select * from staging.odp_csv_records
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

event_keys as (
    select distinct order_id, action, ts from new_records
),

event_records as (
    -- every row of those events, earlier files' too: they fix the event's first arrival
    -- and the numbers of its items
    select records.*
    from staging.odp_csv_records as records
    inner join event_keys
        on event_keys.order_id = records.order_id
        and event_keys.action = records.action
        and event_keys.ts = records.ts
),

events as (
    select
        order_id,
        action,
        ts,
        md5(concat_ws(chr(31), 'odp_csv', order_id, action, epoch_us(ts)::varchar))
            as order_event_id,
        min(arrival_seq) as event_arrival_seq
    from event_records
    group by order_id, action, ts
),

numbered as (
    select
        events.order_event_id,
        events.event_arrival_seq,
        event_records.*,
        case when event_records.is_item then row_number() over (
            partition by events.order_event_id, event_records.is_item
            order by event_records.arrival_seq
        ) end as item_no
    from event_records
    inner join events
        on events.order_id = event_records.order_id
        and events.action = event_records.action
        and events.ts = event_records.ts
),

final as (
    select * from numbered
    where arrival_seq > getvariable('incremental_after')
)

select * from final
