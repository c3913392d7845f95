-- Line items of the ledger events Ometria snapshots yield (docs/semantics.md §1.4), in the shape of
-- int_order_items:
--   - the first snapshot's gross purchase carries each line as bought: quantity +
--     quantity_refunded, subtotal (else total) + refunded;
--   - a decrease carries the products whose quantity_refunded / refunded grew (quantity =
--     the growth, subtotal = the refunded growth); when the snapshot is no longer valid, what
--     remained of every line goes too (a full refund by is_valid false); with no refund
--     fields at all, the products whose quantity or value shrank;
--   - an increase carries the products whose quantity or value grew, or every line when the
--     order was not valid before (a re-validation buys it all again).
-- Items are keyed by product_id, else sku (product_id NULL, sku set).
with changes as (
    select * from intermediate.int_ometria_order_changes
),

line_changes as (
    select * from intermediate.int_ometria_order_line_changes
),

snapshots as (
    -- order states (§1.4): a partial record's events carry its merged state's fields
    select * from intermediate.int_ometria_order_states
),

snapshot_items as (
    select * from staging.ometria_order_snapshot_items
),

gross_lines as (
    select
        changes.event_id,
        changes.order_id,
        changes.action,
        changes.ts,
        snapshot_items.item_no,
        snapshot_items.product_id,
        snapshot_items.sku,
        coalesce(snapshot_items.unit_price, snapshot_items.local_unit_price) as price,
        coalesce(snapshot_items.quantity, 0) + coalesce(snapshot_items.quantity_refunded, 0)
            as quantity,
        -- Ometria sends line discounts as negative numbers; kept as sent
        coalesce(snapshot_items.discount, snapshot_items.local_discount) as discount,
        coalesce(snapshot_items.subtotal, snapshot_items.total,
                 snapshot_items.local_subtotal, snapshot_items.local_total)
            + coalesce(snapshot_items.refunded, snapshot_items.local_refunded, 0)
            as subtotal_as_sent,
        cast(coalesce(snapshot_items.unit_price, snapshot_items.local_unit_price)
             as decimal(38, 4))
            * (coalesce(snapshot_items.quantity, 0)
               + coalesce(snapshot_items.quantity_refunded, 0)) as subtotal_from_price,
        -- the line's own attributes, kept (NULL when it sent neither)
        case when snapshot_items.variant_options is not null
                  or snapshot_items.properties is not null
            then json_object('variant_options', snapshot_items.variant_options,
                             'properties', snapshot_items.properties) end as attributes,
        snapshot_items.dropped_fields
    from changes
    inner join snapshot_items on snapshot_items.event_id = changes.snapshot_event_id
    where changes.change_kind = 'gross'
),

gross_items as (
    select
        event_id, order_id, action, ts, item_no, product_id, sku, price, quantity, discount,
        coalesce(subtotal_as_sent, subtotal_from_price) as subtotal,
        subtotal_as_sent is null as subtotal_derived,
        attributes,
        dropped_fields
    from gross_lines
),

line_movements as (
    select
        changes.event_id,
        changes.order_id,
        changes.action,
        changes.ts,
        changes.change_kind,
        changes.is_valid,
        changes.previous_is_valid,
        line_changes.* exclude (order_id, snapshot_event_id),
        greatest(line_changes.quantity_refunded - line_changes.previous_quantity_refunded, 0)
            as refunded_quantity_growth,
        greatest(line_changes.refunded - line_changes.previous_refunded, 0)
            as refunded_growth
    from changes
    inner join line_changes on line_changes.snapshot_event_id = changes.snapshot_event_id
    where changes.change_kind in ('decrease', 'increase')
),

moved_lines as (
    select
        line_movements.*,
        case
            when change_kind = 'decrease' and not is_valid
                then refunded_quantity_growth + quantity
            when change_kind = 'decrease'
                 and (refunded_quantity_growth > 0 or refunded_growth > 0)
                then refunded_quantity_growth
            when change_kind = 'decrease' then greatest(previous_quantity - quantity, 0)
            when not previous_is_valid then quantity
            else greatest(quantity - previous_quantity, 0)
        end as moved_quantity,
        case
            when change_kind = 'decrease' and not is_valid then refunded_growth + line_value
            when change_kind = 'decrease' and refunded_growth > 0 then refunded_growth
            -- refunded units without a refunded amount: valued at the unit price
            when change_kind = 'decrease' and refunded_quantity_growth > 0
                then cast(price as decimal(38, 4)) * refunded_quantity_growth
            when change_kind = 'decrease' then greatest(previous_line_value - line_value, 0)
            when not previous_is_valid then line_value
            else greatest(line_value - previous_line_value, 0)
        end as moved_subtotal,
        change_kind = 'decrease' and is_valid and refunded_growth = 0
            and refunded_quantity_growth > 0 as moved_subtotal_derived
    from line_movements
),

change_items as (
    select
        event_id, order_id, action, ts,
        row_number() over (partition by event_id order by first_item_no, item_key) as item_no,
        product_id, sku, price,
        moved_quantity as quantity,
        cast(null as decimal(18, 4)) as discount,
        moved_subtotal as subtotal,
        coalesce(moved_subtotal_derived, false) as subtotal_derived,
        attributes,
        0 as dropped_fields
    from moved_lines
    where moved_quantity > 0 or moved_subtotal > 0
),

final as (
    select
        items.event_id,
        'ometria_orders' as source,
        items.order_id,
        items.action,
        items.ts,
        cast(items.item_no as integer) as item_no,
        items.product_id,
        items.sku,
        items.price,
        cast(items.quantity as decimal(18, 4)) as quantity,
        items.discount,
        cast(items.subtotal as decimal(38, 4)) as subtotal,
        items.subtotal_derived,
        cast(items.dropped_fields as integer) as dropped_fields,
        snapshots.custom,
        items.attributes,
        changes.arrival_seq
    from (
        select * from gross_items
        union all by name
        select * from change_items
    ) as items
    inner join changes on changes.event_id = items.event_id
    inner join snapshots on snapshots.event_id = changes.snapshot_event_id
)

select * from final
