-- ODP Orders-object updates folded into one row per order (docs/semantics.md §1.3, §4.4): for each
-- summary field, the value of the latest update (arrival order) that carried it. An update
-- carries a field when it sends a non-null, non-empty value: null never clears a field.
-- Updates create no ledger events; core.orders overlays this row on the event-derived
-- summary (and creates the order, created_by = 'object', when it has no events).
with updates as (
    select * from staging.odp_order_update_records
),

latest_fields as (
    select
        order_id,
        arg_max(status, arrival_seq) filter (where status is not null) as status,
        arg_max(subtotal, arrival_seq) filter (where subtotal is not null) as subtotal,
        arg_max(total, arrival_seq) filter (where total is not null) as total,
        arg_max(tax, arrival_seq) filter (where tax is not null) as tax,
        arg_max(shipping, arrival_seq) filter (where shipping is not null) as shipping,
        arg_max(discount, arrival_seq) filter (where discount is not null) as discount,
        arg_max(currency, arrival_seq) filter (where currency is not null) as currency,
        arg_max(coupon_code, arrival_seq) filter (where coupon_code is not null)
            as coupon_code,
        arg_max(bill_address, arrival_seq) filter (where bill_address is not null)
            as bill_address,
        arg_max(ship_address, arrival_seq) filter (where ship_address is not null)
            as ship_address,
        arg_max(phone, arrival_seq) filter (where phone is not null) as phone_sent,
        arg_max(email, arrival_seq) filter (where email is not null) as email_sent,
        arg_max(first_name, arrival_seq) filter (where first_name is not null) as first_name,
        arg_max(last_name, arrival_seq) filter (where last_name is not null) as last_name,
        arg_max(name, arrival_seq) filter (where name is not null) as name,
        list_sort(list_distinct(flatten(list(carried_fields)))) as overridden_fields,
        count(*) as update_count,
        min(arrival_seq) as first_arrival_seq,
        max(arrival_seq) as last_arrival_seq
    from updates
    group by order_id
),

sent_custom_entries as (
    -- each entry of each update's custom object: its keys and its values in lock-step (the
    -- idiom of stg_odp_order_identifiers)
    select
        order_id,
        arrival_seq,
        unnest(json_keys(custom)) as key,
        unnest(json_extract(custom, '$.*')) as value
    from updates
    where custom is not null
),

custom_entries as (
    -- the latest value of each custom key, over every update of the order
    select order_id, key, arg_max(value, arrival_seq) as value
    from sent_custom_entries
    group by order_id, key
),

latest_custom as (
    select order_id, json_group_object(key, value) as custom
    from custom_entries
    group by order_id
),

final as (
    select
        latest_fields.order_id,
        latest_fields.status,
        latest_fields.subtotal,
        latest_fields.total,
        latest_fields.tax,
        latest_fields.shipping,
        latest_fields.discount,
        latest_fields.currency,
        latest_fields.coupon_code,
        latest_fields.bill_address,
        latest_fields.ship_address,
        -- contacts normalised as identifiers are (§5)
        normalise_phone(latest_fields.phone_sent) as phone,
        normalise_email(latest_fields.email_sent) as email,
        latest_fields.first_name,
        latest_fields.last_name,
        latest_fields.name,
        coalesce(latest_custom.custom, json('{}')) as custom,
        cast(latest_fields.overridden_fields as varchar[]) as overridden_fields,
        latest_fields.update_count,
        latest_fields.first_arrival_seq,
        latest_fields.last_arrival_seq
    from latest_fields
    left join latest_custom on latest_custom.order_id = latest_fields.order_id
)

select * from final
