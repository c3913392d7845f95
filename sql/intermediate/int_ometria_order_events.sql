-- Ometria order snapshots as ledger events (docs/semantics.md §1.4, §6), in the columns of
-- int_order_events. The events themselves (which, their action and amounts) come from
-- int_ometria_order_changes; here each gets its snapshot's fields.
with changes as (
    select * from intermediate.int_ometria_order_changes
),

snapshots as (
    -- order states: partial records merged into the state before them (§1.4)
    select * from intermediate.int_ometria_order_states
),

items as (
    select * from intermediate.int_ometria_order_items
),

item_totals as (
    -- the one sum of an event's line items (sql/macros.sql)
    select * from item_totals(items)
),

rendered_addresses as (
    -- OrderAddress as the comma-delimited text ODP uses: street lines (if any), city,
    -- state, postcode, country code
    select
        event_id as snapshot_event_id,
        nullif(concat_ws(', ',
            case when json_type(shipping_address, '$.street') = 'ARRAY'
                then nullif(array_to_string(list_filter(
                    json_extract_string(shipping_address, '$.street[*]'),
                    lambda line: trim(line) <> ''), ', '), '')
                else nullif(trim(shipping_address ->> '$.street'), '') end,
            nullif(trim(shipping_address ->> '$.line_1'), ''),
            nullif(trim(shipping_address ->> '$.line_2'), ''),
            nullif(trim(shipping_address ->> '$.line_3'), ''),
            nullif(trim(shipping_address ->> '$.city'), ''),
            nullif(trim(shipping_address ->> '$.state'), ''),
            nullif(trim(shipping_address ->> '$.postcode'), ''),
            nullif(trim(shipping_address ->> '$.country_code'), '')
        ), '') as ship_address,
        nullif(concat_ws(', ',
            case when json_type(billing_address, '$.street') = 'ARRAY'
                then nullif(array_to_string(list_filter(
                    json_extract_string(billing_address, '$.street[*]'),
                    lambda line: trim(line) <> ''), ', '), '')
                else nullif(trim(billing_address ->> '$.street'), '') end,
            nullif(trim(billing_address ->> '$.line_1'), ''),
            nullif(trim(billing_address ->> '$.line_2'), ''),
            nullif(trim(billing_address ->> '$.line_3'), ''),
            nullif(trim(billing_address ->> '$.city'), ''),
            nullif(trim(billing_address ->> '$.state'), ''),
            nullif(trim(billing_address ->> '$.postcode'), ''),
            nullif(trim(billing_address ->> '$.country_code'), '')
        ), '') as bill_address
    from snapshots
),

final as (
    select
        changes.event_id,
        'ometria_orders' as source,
        changes.order_id,
        changes.action,
        -- §1.4: the event's ts is the snapshot's timestamp; a partial record without one
        -- takes its arrival time, flagged as an inferred ODP ts is
        changes.ts,
        snapshots.ts_inferred,
        changes.arrival_seq,
        changes.record_part,
        snapshots.file,
        snapshots.record_no,
        coalesce(snapshots.currency, snapshots.local_currency) as currency,
        changes.subtotal,
        changes.total,
        -- every event carries its snapshot's tax and shipping: a snapshot is the order's whole
        -- current state, so after a refund they are "the positive remainder" the summary takes
        -- from the last event (§4.2); the other order-level fields travel on purchases only
        coalesce(snapshots.local_tax, snapshots.tax) as tax,
        coalesce(snapshots.local_shipping, snapshots.shipping) as shipping,
        case when is_purchase then coalesce(snapshots.local_discount, snapshots.discount) end
            as discount,
        case when is_purchase then snapshots.coupon_code end as coupon_code,
        case when is_purchase then rendered_addresses.bill_address end as bill_address,
        case when is_purchase then rendered_addresses.ship_address end as ship_address,
        case when is_purchase then snapshots.customer_firstname end as first_name,
        case when is_purchase then snapshots.customer_lastname end as last_name,
        case when is_purchase then nullif(concat_ws(' ', snapshots.customer_firstname,
                                                    snapshots.customer_lastname), '') end
            as name,
        -- contacts normalised as identifiers are (§5), so orders join their customers
        normalise_email(snapshots.customer_email) as email,
        cast(null as varchar) as phone,
        snapshots.custom,
        item_totals.items_subtotal,
        coalesce(item_totals.items_quantity, 0) as items_quantity,
        coalesce(item_totals.item_rows, 0) as item_rows,
        coalesce(item_totals.dropped_item_fields, 0) as dropped_item_fields,
        -- §6: totals.base in the base currency, used as sent; else NULL (converted later)
        changes.subtotal_base_sent,
        changes.total_base_sent
    from (select *, action = 'purchase' as is_purchase from changes) as changes
    inner join snapshots on snapshots.event_id = changes.snapshot_event_id
    inner join rendered_addresses on rendered_addresses.snapshot_event_id = changes.snapshot_event_id
    left join item_totals on item_totals.event_id = changes.event_id
)

select * from final
