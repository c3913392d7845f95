-- The order summary (SEMANTICS §4): one row per order, from its ledger.
with ledger as (
    select * from core.order_events
),

timeline_ends as (
    select
        order_id,
        count(*) as event_count,
        min(ts) as placed_at,
        arg_min(action, event_seq) as created_by,
        arg_min(source, event_seq) as source,
        arg_min(currency, event_seq) as currency,
        arg_min(customer_id, event_seq) as customer_id,
        -- §4.2: subtotal and total are the final running tally
        arg_max(running_subtotal, event_seq) as subtotal,
        arg_max(running_total, event_seq) as total,
        -- base amounts exist only when every event converted (§6)
        case when count(subtotal_delta_base) = count(*) then sum(subtotal_delta_base) end
            as subtotal_base,
        case when count(total_delta_base) = count(*) then sum(total_delta_base) end
            as total_base,
        bool_or(is_reduction_event) as has_reduction,
        bool_or(action_class = 'cancel') as has_cancel
    from (select *, action_class in ('return', 'refund', 'cancel') as is_reduction_event
          from ledger)
    group by order_id
),

summary_fields as (
    -- §4.1/§4.2: pass-through custom events change no summary field
    select
        order_id,
        arg_max(action, event_seq) as status,
        -- tax and shipping: the last value sent (refunds send the positive remainder)
        arg_max(tax, event_seq) filter (where tax is not null) as tax,
        arg_max(shipping, event_seq) filter (where shipping is not null) as shipping,
        -- the rest: from the first event that carries them
        arg_min(discount, event_seq) filter (where discount is not null) as discount,
        arg_min(coupon_code, event_seq) filter (where coupon_code is not null) as coupon_code,
        arg_min(bill_address, event_seq) filter (where bill_address is not null) as bill_address,
        arg_min(ship_address, event_seq) filter (where ship_address is not null) as ship_address,
        arg_min(first_name, event_seq) filter (where first_name is not null) as first_name,
        arg_min(last_name, event_seq) filter (where last_name is not null) as last_name,
        arg_min(name, event_seq) filter (where name is not null) as name,
        arg_min(email, event_seq) filter (where email is not null) as email,
        arg_min(phone, event_seq) filter (where phone is not null) as phone
    from ledger
    where not is_pass_through
    group by order_id
),

final as (
    select
        timeline_ends.order_id,
        timeline_ends.customer_id,
        timeline_ends.source,
        timeline_ends.created_by,
        summary_fields.status,
        timeline_ends.placed_at,
        timeline_ends.currency,
        timeline_ends.subtotal,
        timeline_ends.total,
        cast(summary_fields.tax as decimal(38, 4)) as tax,
        cast(summary_fields.shipping as decimal(38, 4)) as shipping,
        cast(summary_fields.discount as decimal(38, 4)) as discount,
        summary_fields.coupon_code,
        -- §4.4: the event-derived tally; Orders-object updates may override subtotal/total
        timeline_ends.subtotal as tally_subtotal,
        false as is_overridden,
        cast(timeline_ends.subtotal_base as decimal(38, 4)) as subtotal_base,
        cast(timeline_ends.total_base as decimal(38, 4)) as total_base,
        cast(timeline_ends.subtotal_base as decimal(38, 4)) as tally_subtotal_base,
        -- §4.3
        case
            when not timeline_ends.has_reduction then 'none'
            when timeline_ends.subtotal > 0 then 'partial'
            else 'full'
        end as refund_state,
        timeline_ends.has_cancel and timeline_ends.subtotal <= 0 as is_cancelled,
        not (timeline_ends.has_cancel and timeline_ends.subtotal <= 0) as counts_for_lifecycle,
        cast(timeline_ends.event_count as integer) as event_count,
        summary_fields.first_name,
        summary_fields.last_name,
        summary_fields.name,
        summary_fields.email,
        summary_fields.phone,
        summary_fields.bill_address,
        summary_fields.ship_address
    from timeline_ends
    inner join summary_fields on summary_fields.order_id = timeline_ends.order_id
)

select * from final
