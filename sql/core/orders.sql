-- The order summary (docs/semantics.md §4): one row per order, from its ledger, overlaid field by
-- field with the ODP Orders-object updates (§4.4).
-- An incremental build recomputes only the orders orders.changed.sql lists (changed_keys):
-- every other order's row is as the last build left it.
-- materialized: incremental
-- unique_key: order_id
with order_customers as (
    -- the customer of each order rebuilt (core.order_events' join, on both sides: issue 15,
    -- the view hashed every order's customer to join the few events of the orders rebuilt)
    select order_id, customer_id from core.order_customers
    where getvariable('incremental_after') < 0
        or order_id in (select order_id from changed_keys)
),

ledger as not materialized (
    -- core.order_events of the orders rebuilt: read by each of the two summaries below, not
    -- kept for both (keeping every event's wide row cost more than reading the ledger twice)
    select events.*, order_customers.customer_id
    from core.order_ledger as events
    left join order_customers on order_customers.order_id = events.order_id
    where getvariable('incremental_after') < 0
        or events.order_id in (select order_id from changed_keys)
),

orders_with_later_events as (
    -- an order's fields are chosen among its events only when it has a second one
    -- (event_seq counts an order's events from 1, core/order_ledger)
    select order_id from core.order_ledger
    where event_seq = 2
      and (getvariable('incremental_after') < 0
           or order_id in (select order_id from changed_keys))
),

order_updates as (
    select * from intermediate.int_odp_order_updates
    where getvariable('incremental_after') < 0
        or order_id in (select order_id from changed_keys)
),

named_identifiers as (
    -- the contacts the order updates name: update_customers looks up no other identifier
    select 'email' as identifier_type, email as identifier_value
    from order_updates where email is not null
    union
    select 'phone' as identifier_type, phone as identifier_value
    from order_updates where phone is not null
),

customer_identifiers as (
    -- only those (issue 15: a build with no update read every identifier)
    select customer_identifiers.*
    from core.customer_identifiers
    inner join named_identifiers
        on named_identifiers.identifier_type = customer_identifiers.identifier_type
        and named_identifiers.identifier_value = customer_identifiers.identifier_value
),

exchange_rates as (
    select * from intermediate.int_exchange_rates
),

multi_event_summaries as (
    -- one pass over the ledger (one hash table of orders, not two joined after): the tally
    -- ends from every event, the summary fields from the events that are not pass-through
    select
        order_id,
        arg_min(customer_id, event_seq) as customer_id,
        arg_min(source, event_seq) as source,
        arg_min(action, event_seq) as created_by,
        -- §4.1/§4.2: pass-through custom events change no summary field
        arg_max(action, event_seq) filter (where not is_pass_through) as status,
        min(ts) as placed_at,
        arg_min(currency, event_seq) as currency,
        -- the order's conversion rate (§6: the rate of its placed_at date)
        arg_min(rate_to_base, event_seq) as rate_to_base,
        -- §4.2: subtotal and total are the final running tally
        arg_max(running_subtotal, event_seq) as subtotal,
        arg_max(running_total, event_seq) as total,
        -- tax and shipping: the last value sent (refunds send the positive remainder)
        cast(arg_max(tax, event_seq) filter (where tax is not null and not is_pass_through)
             as decimal(38, 4)) as tax,
        cast(arg_max(shipping, event_seq)
                 filter (where shipping is not null and not is_pass_through)
             as decimal(38, 4)) as shipping,
        -- the rest: from the first event that carries them
        cast(arg_min(discount, event_seq)
                 filter (where discount is not null and not is_pass_through)
             as decimal(38, 4)) as discount,
        arg_min(coupon_code, event_seq)
            filter (where coupon_code is not null and not is_pass_through) as coupon_code,
        -- base amounts exist only when every event of the tally converted (§6); an event
        -- left unconverted to the order's currency is in no tally (core/order_ledger check)
        cast(case when count(subtotal_delta_base) = count(*) filter (where not is_unconverted)
                  then sum(subtotal_delta_base) end as decimal(38, 4)) as subtotal_base,
        cast(case when count(total_delta_base) = count(*) filter (where not is_unconverted)
                  then sum(total_delta_base) end as decimal(38, 4)) as total_base,
        bool_or(is_reduction(action_class)) as has_reduction,
        bool_or(action_class = 'cancel') as has_cancel,
        count(*) as event_count,
        arg_min(first_name, event_seq)
            filter (where first_name is not null and not is_pass_through) as first_name,
        arg_min(last_name, event_seq)
            filter (where last_name is not null and not is_pass_through) as last_name,
        arg_min(name, event_seq) filter (where name is not null and not is_pass_through) as name,
        arg_min(email, event_seq)
            filter (where email is not null and not is_pass_through) as email,
        arg_min(phone, event_seq)
            filter (where phone is not null and not is_pass_through) as phone,
        arg_min(bill_address, event_seq)
            filter (where bill_address is not null and not is_pass_through) as bill_address,
        arg_min(ship_address, event_seq)
            filter (where ship_address is not null and not is_pass_through) as ship_address
    from ledger
    where order_id in (select order_id from orders_with_later_events)
    group by order_id
),

single_event_summaries as (
    -- An order of one event is that event: multi_event_summaries over its one row, without
    -- the aggregation (most orders, and the most costly step of a full build). Its event is
    -- the first, so never a pass-through (§4.1).
    select
        order_id,
        customer_id,
        source,
        action as created_by,
        action as status,
        ts as placed_at,
        currency,
        rate_to_base,
        running_subtotal as subtotal,
        running_total as total,
        cast(tax as decimal(38, 4)) as tax,
        cast(shipping as decimal(38, 4)) as shipping,
        cast(discount as decimal(38, 4)) as discount,
        coupon_code,
        -- the base amount when its one event converted (§6)
        cast(case when (subtotal_delta_base is not null) = coalesce(not is_unconverted, false)
                  then subtotal_delta_base end as decimal(38, 4)) as subtotal_base,
        cast(case when (total_delta_base is not null) = coalesce(not is_unconverted, false)
                  then total_delta_base end as decimal(38, 4)) as total_base,
        is_reduction(action_class) as has_reduction,
        action_class = 'cancel' as has_cancel,
        cast(1 as bigint) as event_count,
        first_name,
        last_name,
        name,
        email,
        phone,
        bill_address,
        ship_address
    from ledger
    where order_id not in (select order_id from orders_with_later_events)
),

event_summaries as (
    select
        summaries.*,
        -- §4.3
        case
            when not summaries.has_reduction then 'none'
            when summaries.subtotal > 0 then 'partial'
            else 'full'
        end as refund_state,
        summaries.has_cancel and summaries.subtotal <= 0 as is_cancelled
    from (
        select * from multi_event_summaries
        union all
        select * from single_event_summaries
    ) as summaries
),

update_customers as (
    -- an order known only from Orders-object updates joins the customer its email (else
    -- its phone) already belongs to; it links no identifiers itself (it has no event).
    -- Looked up for every update and used only where the order has no event (overlaid):
    -- the orders with events are not listed a second time to leave them out here
    select
        order_updates.order_id,
        coalesce(
            (select customer_identifiers.customer_id from customer_identifiers
             where customer_identifiers.identifier_type = 'email'
               and customer_identifiers.identifier_value = order_updates.email),
            (select customer_identifiers.customer_id from customer_identifiers
             where customer_identifiers.identifier_type = 'phone'
               and customer_identifiers.identifier_value = order_updates.phone)
        ) as customer_id
    from order_updates
),

overlaid as (
    -- §4.4: for each field an update carried, the latest update's value replaces the
    -- event-derived one, subtotal and total included; the tally stays in tally_subtotal
    select
        coalesce(events.order_id, order_updates.order_id) as order_id,
        case when events.order_id is not null then events.customer_id
             else update_customers.customer_id end as customer_id,
        coalesce(events.source, 'odp_orders') as source,
        coalesce(events.created_by, 'object') as created_by,
        events.placed_at,
        events.event_count,
        events.subtotal as tally_subtotal,
        events.total as tally_total,
        events.subtotal_base as tally_subtotal_base,
        events.total_base as tally_total_base,
        events.rate_to_base,
        events.refund_state,
        events.is_cancelled,
        coalesce(array_length(order_updates.overridden_fields), 0) > 0 as is_overridden,
        order_updates.overridden_fields,
        case when list_contains(order_updates.overridden_fields, 'status') then order_updates.status
             else events.status end as status,
        case when list_contains(order_updates.overridden_fields, 'currency') then order_updates.currency
             else events.currency end as currency,
        case when list_contains(order_updates.overridden_fields, 'subtotal') then order_updates.subtotal
             else events.subtotal end as subtotal,
        case when list_contains(order_updates.overridden_fields, 'total') then order_updates.total
             else events.total end as total,
        case when list_contains(order_updates.overridden_fields, 'tax') then order_updates.tax
             else events.tax end as tax,
        case when list_contains(order_updates.overridden_fields, 'shipping') then order_updates.shipping
             else events.shipping end as shipping,
        case when list_contains(order_updates.overridden_fields, 'discount') then order_updates.discount
             else events.discount end as discount,
        case when list_contains(order_updates.overridden_fields, 'coupon_code') then order_updates.coupon_code
             else events.coupon_code end as coupon_code,
        case when list_contains(order_updates.overridden_fields, 'first_name') then order_updates.first_name
             else events.first_name end as first_name,
        case when list_contains(order_updates.overridden_fields, 'last_name') then order_updates.last_name
             else events.last_name end as last_name,
        case when list_contains(order_updates.overridden_fields, 'name') then order_updates.name
             else events.name end as name,
        case when list_contains(order_updates.overridden_fields, 'email') then order_updates.email
             else events.email end as email,
        case when list_contains(order_updates.overridden_fields, 'phone') then order_updates.phone
             else events.phone end as phone,
        case when list_contains(order_updates.overridden_fields, 'bill_address') then order_updates.bill_address
             else events.bill_address end as bill_address,
        case when list_contains(order_updates.overridden_fields, 'ship_address') then order_updates.ship_address
             else events.ship_address end as ship_address
    from event_summaries as events
    full outer join order_updates on order_updates.order_id = events.order_id
    left join update_customers
        on update_customers.order_id = order_updates.order_id
),

converted as (
    -- §6: an overridden subtotal or total converts at the order's rate; an order known only
    -- from updates converts only when it is in the base currency (it has no placed_at date)
    select
        overlaid.*,
        case when overlaid.currency = getvariable('base_currency') then 1.0
             else overlaid.rate_to_base end as summary_rate
    from overlaid
),

final as (
    select
        order_id,
        customer_id,
        source,
        created_by,
        status,
        placed_at,
        currency,
        cast(subtotal as decimal(38, 4)) as subtotal,
        cast(total as decimal(38, 4)) as total,
        cast(tax as decimal(38, 4)) as tax,
        cast(shipping as decimal(38, 4)) as shipping,
        cast(discount as decimal(38, 4)) as discount,
        coupon_code,
        tally_subtotal,
        is_overridden,
        cast(case when list_contains(overridden_fields, 'subtotal')
                  then subtotal * summary_rate else tally_subtotal_base end
             as decimal(38, 4)) as subtotal_base,
        cast(case when list_contains(overridden_fields, 'total')
                  then total * summary_rate else tally_total_base end
             as decimal(38, 4)) as total_base,
        tally_subtotal_base,
        coalesce(refund_state, 'none') as refund_state,
        coalesce(is_cancelled, false) as is_cancelled,
        -- §4.3: counts_for_lifecycle = not is_cancelled, also for an order known only from
        -- Orders-object updates (not cancelled: it counts, though it brings no revenue)
        not coalesce(is_cancelled, false) as counts_for_lifecycle,
        cast(coalesce(event_count, 0) as integer) as event_count,
        first_name,
        last_name,
        name,
        email,
        phone,
        bill_address,
        ship_address,
        overridden_fields
    from converted
)

select * from final
