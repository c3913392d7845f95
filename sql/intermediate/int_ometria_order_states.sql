-- Each accepted Ometria record as the whole state of its order after it (docs/semantics.md §1.4):
-- a full snapshot is its own state; a partial record (Ometria's Push API: "only the supplied
-- fields will be merged into the existing record") is merged field by field into the state
-- before it. So every field is the last value sent since the order's latest full snapshot,
-- up to this record; the lines are those of the latest of these records that sent
-- `lineitems` (items_event_id). A field a partial record sends as null keeps its value. The
-- state's time is the record's own ts (a partial record without timestamp: its arrival,
-- ts_inferred). The other Ometria models difference these states.
with snapshots as (
    select * from staging.ometria_order_snapshots
),

segments as (
    -- records since (and with) each full snapshot, per order in arrival order
    select
        snapshots.*,
        sum(case when snapshots.is_partial then 0 else 1 end) over (
            partition by snapshots.order_id order by snapshots.arrival_seq
            rows between unbounded preceding and current row
        ) as full_snapshot_no
    from snapshots
),

final as (
    select
        snapshots.event_id,
        snapshots.arrival_seq,
        snapshots.file,
        snapshots.record_no,
        snapshots.order_id,
        snapshots.ts,
        snapshots.ts_inferred,
        snapshots.is_partial,
        snapshots.loaded_at,
        -- a partial record without `totals` keeps the state's kind
        last_value(case when snapshots.is_partial and not snapshots.is_extended then null
                        else snapshots.is_extended end ignore nulls) over this_state
            as is_extended,
        last_value(snapshots.is_valid ignore nulls) over this_state as is_valid,
        last_value(snapshots.currency ignore nulls) over this_state as currency,
        last_value(snapshots.grand_total ignore nulls) over this_state as grand_total,
        last_value(snapshots.subtotal ignore nulls) over this_state as subtotal,
        last_value(snapshots.discount ignore nulls) over this_state as discount,
        last_value(snapshots.shipping ignore nulls) over this_state as shipping,
        last_value(snapshots.tax ignore nulls) over this_state as tax,
        last_value(snapshots.local_currency ignore nulls) over this_state as local_currency,
        last_value(snapshots.local_grand_total ignore nulls) over this_state as local_grand_total,
        last_value(snapshots.local_subtotal ignore nulls) over this_state as local_subtotal,
        last_value(snapshots.local_discount ignore nulls) over this_state as local_discount,
        last_value(snapshots.local_shipping ignore nulls) over this_state as local_shipping,
        last_value(snapshots.local_tax ignore nulls) over this_state as local_tax,
        last_value(snapshots.base_currency ignore nulls) over this_state as base_currency,
        last_value(snapshots.base_grand_total ignore nulls) over this_state as base_grand_total,
        last_value(snapshots.base_subtotal ignore nulls) over this_state as base_subtotal,
        last_value(snapshots.base_discount ignore nulls) over this_state as base_discount,
        last_value(snapshots.base_shipping ignore nulls) over this_state as base_shipping,
        last_value(snapshots.base_tax ignore nulls) over this_state as base_tax,
        last_value(snapshots.web_id ignore nulls) over this_state as web_id,
        last_value(snapshots.status ignore nulls) over this_state as status,
        last_value(snapshots.ip_address ignore nulls) over this_state as ip_address,
        last_value(snapshots.channel ignore nulls) over this_state as channel,
        last_value(snapshots.store ignore nulls) over this_state as store,
        last_value(snapshots.payment_method ignore nulls) over this_state as payment_method,
        last_value(snapshots.shipping_method ignore nulls) over this_state as shipping_method,
        last_value(snapshots.coupon_code ignore nulls) over this_state as coupon_code,
        last_value(snapshots.customer_id ignore nulls) over this_state as customer_id,
        last_value(snapshots.customer_email ignore nulls) over this_state as customer_email,
        last_value(snapshots.customer_firstname ignore nulls) over this_state as customer_firstname,
        last_value(snapshots.customer_lastname ignore nulls) over this_state as customer_lastname,
        last_value(snapshots.shipping_address ignore nulls) over this_state as shipping_address,
        last_value(snapshots.billing_address ignore nulls) over this_state as billing_address,
        last_value(case when snapshots.is_partial and snapshots.custom::varchar = '{}' then null
                        else snapshots.custom end ignore nulls) over this_state as custom,
        last_value(case when snapshots.is_partial and not snapshots.sent_lineitems then null
                        else snapshots.event_id end ignore nulls) over this_state
            as items_event_id,
        last_value(case when snapshots.is_partial and not snapshots.sent_lineitems then null
                        else snapshots.item_count end ignore nulls) over this_state
            as item_count
    from segments as snapshots
    window this_state as (
        partition by snapshots.order_id, snapshots.full_snapshot_no
        order by snapshots.arrival_seq
        rows between unbounded preceding and current row
    )
)

select * from final
