-- Ometria snapshots as ledger changes (docs/semantics.md §1.4, §6): one row per ledger event that an
-- order's snapshots yield, before the event's fields are filled in (int_ometria_order_events)
-- and its lines listed (int_ometria_order_items). Each snapshot is the whole current state of
-- its order; the ledger wants events, so consecutive states are differenced:
--   - the first snapshot yields a `purchase` of its gross (amount + Σ lines' refunded),
--     then (record_part 1) the change from that gross to its net;
--   - a later snapshot yields the change from the previous snapshot's net to its own, when
--     there is one: a decrease is a cancel / return / refund by status, an increase a purchase.
-- Amounts are positive in the direction of the event (the ledger negates reductions).
-- A snapshot here is an order state (int_ometria_order_states): a partial record merged into
-- the state before it is differenced like a full snapshot.
with snapshots as (
    select * from intermediate.int_ometria_order_states
),

snapshot_items as (
    select * from staging.ometria_order_snapshot_items
),

line_refunds as (
    select
        event_id,
        -- OrderExtended lines may carry their refund only under totals.local / totals.base
        sum(coalesce(refunded, local_refunded, 0)) as refunded,
        -- §6: a base refund total exists only when every refunded line sent its base amount
        case when bool_and(coalesce(refunded, local_refunded, 0) = 0 or base_refunded is not null)
            then sum(coalesce(base_refunded, 0)) end as base_refunded
    from snapshot_items
    group by event_id
),

snapshot_states as (
    select
        snapshots.event_id as snapshot_event_id,
        snapshots.order_id,
        snapshots.arrival_seq,
        snapshots.ts,
        -- docs/semantics.md §1.4: per order, snapshots in arrival order
        row_number() over (partition by snapshots.order_id order by snapshots.arrival_seq)
            as snapshot_no,
        lower(trim(snapshots.status)) as status,
        coalesce(snapshots.is_valid, true) as is_valid,
        -- §1.4: the amount is the subtotal, else the grand total (OrderExtended: totals.local)
        coalesce(snapshots.local_subtotal, snapshots.subtotal,
                 snapshots.local_grand_total, snapshots.grand_total) as amount,
        coalesce(snapshots.local_grand_total, snapshots.grand_total) as grand_total,
        coalesce(line_refunds.refunded, 0) as refunded,
        -- §6: totals.base is used as sent when it is in the warehouse's base currency
        snapshots.base_currency is not distinct from getvariable('base_currency') as has_base,
        coalesce(snapshots.base_subtotal, snapshots.base_grand_total) as base_amount,
        snapshots.base_grand_total,
        case when line_refunds.event_id is null then 0 else line_refunds.base_refunded end
            as base_refunded
    from snapshots
    -- the lines in effect: a partial record without lineitems keeps the previous ones
    left join line_refunds on line_refunds.event_id = snapshots.items_event_id
),

snapshot_nets as (
    -- §1.4: the net of a snapshot is its amount when it is valid, else 0
    select
        snapshot_states.*,
        case when is_valid then amount else 0 end as net,
        case when is_valid then grand_total else 0 end as net_total,
        case when not is_valid then 0 when has_base then base_amount end as base_net,
        case when not is_valid then 0 when has_base then base_grand_total end as base_net_total,
        -- the first snapshot's gross: what was bought before any of its refunds
        amount + refunded as gross,
        grand_total + refunded as gross_total,
        case when has_base then base_amount + base_refunded end as base_gross,
        case when has_base then base_grand_total + base_refunded end as base_gross_total
    from snapshot_states
),

snapshot_pairs as (
    -- each snapshot against the state before it: the previous snapshot, or for the first
    -- one its own gross
    select
        snapshot_nets.*,
        case when snapshot_no = 1 then gross else lag(net) over by_arrival end as previous_net,
        case when snapshot_no = 1 then gross_total else lag(net_total) over by_arrival end
            as previous_net_total,
        case when snapshot_no = 1 then base_gross else lag(base_net) over by_arrival end
            as previous_base_net,
        case when snapshot_no = 1 then base_gross_total else lag(base_net_total) over by_arrival end
            as previous_base_net_total,
        case when snapshot_no = 1 then true else lag(is_valid) over by_arrival end
            as previous_is_valid
    from snapshot_nets
    window by_arrival as (partition by order_id order by arrival_seq)
),

gross_purchases as (
    -- §1.4: the first snapshot yields a purchase of its gross
    select
        snapshot_event_id, order_id, arrival_seq, ts, snapshot_no, is_valid,
        true as previous_is_valid,
        0 as record_part,
        'gross' as change_kind,
        'purchase' as action,
        gross as subtotal,
        gross_total as total,
        base_gross as subtotal_base_sent,
        base_gross_total as total_base_sent
    from snapshot_pairs
    where snapshot_no = 1
),

net_changes as (
    -- §1.4: a change of net is one event for the difference
    select
        snapshot_event_id, order_id, arrival_seq, ts, snapshot_no, is_valid, previous_is_valid,
        case when snapshot_no = 1 then 1 else 0 end as record_part,
        case when net < previous_net then 'decrease' else 'increase' end as change_kind,
        case
            when net > previous_net then 'purchase'
            when status in ('cancelled', 'canceled') then 'cancel'
            when status = 'returned' then 'return'
            else 'refund'
        end as action,
        abs(net - previous_net) as subtotal,
        case when net < previous_net then previous_net_total - net_total
            else net_total - previous_net_total end as total,
        case when net < previous_net then previous_base_net - base_net
            else base_net - previous_base_net end as subtotal_base_sent,
        case when net < previous_net then previous_base_net_total - base_net_total
            else base_net_total - previous_base_net_total end as total_base_sent
    from snapshot_pairs
    where net <> previous_net
),

final as (
    select
        -- stable: the same snapshot always yields the same events
        md5(snapshot_event_id || ':' || record_part) as event_id,
        snapshot_event_id,
        order_id,
        arrival_seq,
        cast(record_part as integer) as record_part,
        ts,
        cast(snapshot_no as integer) as snapshot_no,
        change_kind,
        action,
        is_valid,
        previous_is_valid,
        cast(subtotal as decimal(38, 4)) as subtotal,
        cast(total as decimal(38, 4)) as total,
        cast(subtotal_base_sent as decimal(38, 4)) as subtotal_base_sent,
        cast(total_base_sent as decimal(38, 4)) as total_base_sent
    from (
        select * from gross_purchases
        union all
        select * from net_changes
    )
)

select * from final
