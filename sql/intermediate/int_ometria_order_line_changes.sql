-- Ometria line items per snapshot and product, next to the same product's line in the
-- snapshot before (docs/semantics.md §1.4): what the items of a refund, cancel or later purchase
-- are made of. Lines are keyed by product_id, else sku; lines of one snapshot that share a
-- key are added up. A product in either snapshot of a pair has a row (a line that vanished
-- shows as zeros now).
with snapshots as (
    -- order states: a partial record merged into the state before it (§1.4)
    select * from intermediate.int_ometria_order_states
),

sent_items as (
    select * from staging.ometria_order_snapshot_items
),

snapshot_items as (
    -- each state's lines: those of the latest record of the state that sent lineitems
    select sent_items.* exclude (event_id), snapshots.event_id
    from snapshots
    inner join sent_items on sent_items.event_id = snapshots.items_event_id
),

snapshot_order as (
    select
        event_id as snapshot_event_id,
        order_id,
        row_number() over (partition by order_id order by arrival_seq) as snapshot_no
    from snapshots
),

keyed_lines as (
    select
        snapshot_items.*,
        -- §1.4: line items keyed by product_id, else sku
        case when snapshot_items.product_id is not null then 'product_id:' || product_id
            else 'sku:' || snapshot_items.sku end as item_key,
        coalesce(snapshot_items.refunded, snapshot_items.local_refunded, 0) as refunded_amount,
        -- what the line is worth now: its subtotal (after refunds), else its total, else
        -- (OrderExtended) the same under totals.local, else unit price × quantity
        coalesce(
            snapshot_items.subtotal, snapshot_items.total,
            snapshot_items.local_subtotal, snapshot_items.local_total,
            cast(coalesce(snapshot_items.unit_price, snapshot_items.local_unit_price)
                 as decimal(38, 4)) * coalesce(snapshot_items.quantity, 0)
        ) as line_value,
        -- the line's own attributes, kept (NULL when it sent neither)
        case when snapshot_items.variant_options is not null
                  or snapshot_items.properties is not null
            then json_object('variant_options', snapshot_items.variant_options,
                             'properties', snapshot_items.properties) end as attributes
    from snapshot_items
),

snapshot_lines as (
    select
        snapshot_order.order_id,
        snapshot_order.snapshot_no,
        keyed_lines.event_id as snapshot_event_id,
        keyed_lines.item_key,
        min(keyed_lines.item_no) as first_item_no,
        arg_min(keyed_lines.product_id, keyed_lines.item_no) as product_id,
        arg_min(keyed_lines.sku, keyed_lines.item_no) as sku,
        arg_min(coalesce(keyed_lines.unit_price, keyed_lines.local_unit_price),
                keyed_lines.item_no) as price,
        arg_min(keyed_lines.attributes, keyed_lines.item_no) as attributes,
        sum(coalesce(keyed_lines.quantity, 0)) as quantity,
        sum(coalesce(keyed_lines.quantity_refunded, 0)) as quantity_refunded,
        sum(keyed_lines.refunded_amount) as refunded,
        sum(keyed_lines.line_value) as line_value
    from keyed_lines
    inner join snapshot_order on snapshot_order.snapshot_event_id = keyed_lines.event_id
    group by all
),

pair_keys as (
    -- every product of a snapshot or of the snapshot before it
    select order_id, snapshot_no, item_key from snapshot_lines
    union
    select order_id, snapshot_no + 1 as snapshot_no, item_key from snapshot_lines
),

final as (
    select
        snapshot_order.snapshot_event_id,
        pair_keys.order_id,
        cast(pair_keys.snapshot_no as integer) as snapshot_no,
        pair_keys.item_key,
        coalesce(now_line.first_item_no, before_line.first_item_no) as first_item_no,
        coalesce(now_line.product_id, before_line.product_id) as product_id,
        coalesce(now_line.sku, before_line.sku) as sku,
        coalesce(now_line.price, before_line.price) as price,
        coalesce(now_line.attributes, before_line.attributes) as attributes,
        cast(coalesce(now_line.quantity, 0) as decimal(38, 4)) as quantity,
        cast(coalesce(now_line.quantity_refunded, 0) as decimal(38, 4)) as quantity_refunded,
        cast(coalesce(now_line.refunded, 0) as decimal(38, 4)) as refunded,
        cast(coalesce(now_line.line_value, 0) as decimal(38, 4)) as line_value,
        -- the first snapshot is compared with its own gross: nothing refunded yet, every
        -- refunded unit still bought
        cast(case when pair_keys.snapshot_no = 1
                  then coalesce(now_line.quantity, 0) + coalesce(now_line.quantity_refunded, 0)
                  else coalesce(before_line.quantity, 0) end as decimal(38, 4))
            as previous_quantity,
        cast(case when pair_keys.snapshot_no = 1 then 0
                  else coalesce(before_line.quantity_refunded, 0) end as decimal(38, 4))
            as previous_quantity_refunded,
        cast(case when pair_keys.snapshot_no = 1 then 0
                  else coalesce(before_line.refunded, 0) end as decimal(38, 4))
            as previous_refunded,
        cast(case when pair_keys.snapshot_no = 1
                  then coalesce(now_line.line_value, 0) + coalesce(now_line.refunded, 0)
                  else coalesce(before_line.line_value, 0) end as decimal(38, 4))
            as previous_line_value
    from pair_keys
    -- pairs past the order's last snapshot have no snapshot and are dropped here
    inner join snapshot_order
        on snapshot_order.order_id = pair_keys.order_id
        and snapshot_order.snapshot_no = pair_keys.snapshot_no
    left join snapshot_lines as now_line
        on now_line.order_id = pair_keys.order_id
        and now_line.snapshot_no = pair_keys.snapshot_no
        and now_line.item_key = pair_keys.item_key
    left join snapshot_lines as before_line
        on before_line.order_id = pair_keys.order_id
        and before_line.snapshot_no = pair_keys.snapshot_no - 1
        and before_line.item_key = pair_keys.item_key
)

select * from final
