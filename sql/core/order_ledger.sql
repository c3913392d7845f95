-- The order ledger (docs/semantics.md §3): every accepted order event of every source, ordered per
-- order by (ts, arrival sequence), with signed deltas and running tallies. Partitioned by
-- UTC event date; the customer is joined on in core.order_events, so that a change of
-- identity touches no partition.
-- partition_by: event_date
with orders_on_rederived_days as (
    -- re-deriving some days (models.run_model_partitions sets the bounds) needs every event of
    -- the orders with an event on those days, and no other order's; a full build (no bounds)
    -- lists none and reads every event without this semi-join (below)
    select order_id from intermediate.int_order_events
    where not (getvariable('partition_first') is null and getvariable('partition_last') is null)
      -- the days' events by their instants (sql/macros.sql: utc_day_start, utc_day_end), so that
      -- the scan through the int_order_events view reads only the row groups of those days
      and (getvariable('partition_first') is null
           or ts >= utc_day_start(getvariable('partition_first')))
      and (getvariable('partition_last') is null
           or ts < utc_day_end(getvariable('partition_last')))
),

events as (
    -- both branches' filters are constants of the build, so one of them reads nothing
    select * from intermediate.int_order_events
    where getvariable('partition_first') is null and getvariable('partition_last') is null
    union all
    select * from intermediate.int_order_events
    where not (getvariable('partition_first') is null and getvariable('partition_last') is null)
      and order_id in (select order_id from orders_on_rederived_days)
),

sent_events as (
    -- the fields the ledger passes through as sent, joined on by event_id at the end (read
    -- again rather than kept from `events`: the windows below never carry them), of the same
    -- events as `events`: a build of a few days reads those days' orders only
    select
        event_id, source, ts_inferred, coupon_code, bill_address, ship_address, first_name,
        last_name, name, email, phone, custom, items_quantity, file, record_no
    from intermediate.int_order_events
    where getvariable('partition_first') is null and getvariable('partition_last') is null
    union all
    select
        event_id, source, ts_inferred, coupon_code, bill_address, ship_address, first_name,
        last_name, name, email, phone, custom, items_quantity, file, record_no
    from intermediate.int_order_events
    where not (getvariable('partition_first') is null and getvariable('partition_last') is null)
      and order_id in (select order_id from orders_on_rederived_days)
),

amounts as (
    -- what the timeline, the rates and the tallies read: the windows below sort these
    -- columns only; the event's other fields join on again at the end (event_id is unique:
    -- core/order_ledger:event_id_unique)
    select
        event_id, order_id, action, ts, arrival_seq, record_part, currency, subtotal, total,
        items_subtotal, tax, shipping, discount, subtotal_base_sent, total_base_sent
    from events
),

exchange_rates as (
    -- rates to the configured base only: a rate to another base is never read as one to it
    -- (issue 11: that relabelled GBP→USD rates as GBP→EUR after --base-currency EUR)
    select * from intermediate.int_exchange_rates
    where base_currency = getvariable('base_currency')
),

timeline as (
    select
        amounts.*,
        row_number() over order_timeline as event_seq,
        action_class(action) as action_class,
        -- one order, one currency: the currency of its first event that names one (the
        -- base currency when none does); an event may name another one (issue 11)
        coalesce(
            first_value(currency ignore nulls) over (
                order_timeline rows between unbounded preceding and unbounded following
            ),
            getvariable('base_currency')
        ) as order_currency,
        -- §6: every amount of an order converts at the rate of its placed_at date (its
        -- earliest ts: the timeline's first, so the same window pass gives it)
        utc_day(first_value(ts) over order_timeline) as placed_date,
        -- §3: a cancel with no amount at all cancels the rest of the order (decided on the
        -- amounts as sent: an event left unconverted below is not a cancel-the-rest)
        action = 'cancel' and subtotal is null and total is null and items_subtotal is null
            as is_cancel_rest,
        -- A cancel-the-rest sets the tally to zero, so the tally after any other event is
        -- the sum of the plain deltas since the last cancel-the-rest: the events after one
        -- cancel-the-rest up to and including the next form a segment of the timeline, and
        -- the segment's sum up to a cancel-the-rest is the tally it cancels
        count(*) filter (
            where action = 'cancel' and subtotal is null and total is null
              and items_subtotal is null
        ) over (order_timeline rows between unbounded preceding and 1 preceding)
            as tally_segment
    from amounts
    window order_timeline as (partition by order_id order by ts, arrival_seq, record_part)
),

rated as (
    -- §6: the rate of the latest exchange_rates date on or before the order's placed_at date,
    -- for the currency the event was sent in and for the order's currency (a range join on
    -- each rate's validity, not ASOF: docs/pitfalls.md); the base currency's rate is 1.
    select
        timeline.*,
        coalesce(timeline.currency, timeline.order_currency) as sent_currency,
        case when coalesce(timeline.currency, timeline.order_currency)
                  = getvariable('base_currency')
             then cast(1 as decimal(18, 10)) else sent_rates.rate_to_base end
            as sent_rate_to_base,
        case when timeline.order_currency = getvariable('base_currency')
             then cast(1 as decimal(18, 10)) else order_rates.rate_to_base end
            as order_rate_to_base
    from timeline
    left join exchange_rates as sent_rates
        on sent_rates.currency = coalesce(timeline.currency, timeline.order_currency)
       and timeline.placed_date >= sent_rates.rate_date
       and (sent_rates.valid_until is null or timeline.placed_date < sent_rates.valid_until)
    left join exchange_rates as order_rates
        on order_rates.currency = timeline.order_currency
       and timeline.placed_date >= order_rates.rate_date
       and (order_rates.valid_until is null or timeline.placed_date < order_rates.valid_until)
),

in_order_currency as (
    -- One order's amounts are in one currency (issue 11): an event sent in another currency
    -- converts at the cross rate of the order's placed_at date, rate_to_base(sent currency) /
    -- rate_to_base(order currency), exact and rounded half to even to 4 decimals, the scale
    -- of every amount as sent (the in_order_currency macro). With either rate missing the event is
    -- left unconverted: it stays in the ledger with its own currency, its amounts are NULL
    -- here and enter no tally, a check lists it, and a later rate file re-derives it.
    select
        rated.* replace (
            in_order_currency(subtotal, sent_currency, order_currency, sent_rate_to_base,
                              order_rate_to_base) as subtotal,
            in_order_currency(total, sent_currency, order_currency, sent_rate_to_base,
                              order_rate_to_base) as total,
            in_order_currency(items_subtotal, sent_currency, order_currency, sent_rate_to_base,
                              order_rate_to_base) as items_subtotal,
            in_order_currency(tax, sent_currency, order_currency, sent_rate_to_base,
                              order_rate_to_base) as tax,
            in_order_currency(shipping, sent_currency, order_currency, sent_rate_to_base,
                              order_rate_to_base) as shipping,
            in_order_currency(discount, sent_currency, order_currency, sent_rate_to_base,
                              order_rate_to_base) as discount
        ),
        sent_currency <> order_currency
            and (sent_rate_to_base is null or order_rate_to_base is null)
            -- an event without amounts (a custom action, a cancel-the-rest) needs no rate
            and coalesce(subtotal, total, items_subtotal, tax, shipping, discount) is not null
            as is_unconverted
    from rated
),

classified as (
    select
        in_order_currency.*,
        event_seq = 1 as is_order_creating,
        -- §3: a custom action on an existing order is a pass-through
        action_class = 'custom' and event_seq > 1 as is_pass_through,
        is_reduction(action_class) as is_reduction,
        -- §3: subtotal as sent, else Σ item subtotals (else the total, the only amount left;
        -- validation admits no purchase, return or refund without one, so 0 is a last guard
        -- that keeps every tally a number)
        coalesce(subtotal, items_subtotal, total, 0) as amount_subtotal
    from in_order_currency
),

plain_deltas as (
    -- Deltas of every event but a cancel-the-rest, whose delta depends on the tally before it.
    select
        classified.*,
        case
            when is_cancel_rest or is_unconverted then 0
            when is_reduction then -abs(amount_subtotal)  -- §3: −30 and 30 mean the same
            when counts_as_gross(action_class, is_order_creating) then amount_subtotal
            else 0
        end as plain_subtotal_delta,
        case
            when is_cancel_rest or is_unconverted then 0
            when is_reduction then coalesce(-abs(total), -abs(amount_subtotal))
            when counts_as_gross(action_class, is_order_creating) then
                coalesce(total, amount_subtotal + coalesce(tax, 0) + coalesce(shipping, 0))
            else 0
        end as plain_total_delta
    from classified
),

running_tallies as (
    select
        plain_deltas.*,
        -- a cancel-the-rest's plain delta is 0: its segment's sum through it is the tally
        -- before it
        sum(plain_subtotal_delta) over (
            partition by order_id, tally_segment order by event_seq rows unbounded preceding
        ) as segment_subtotal,
        sum(plain_total_delta) over (
            partition by order_id, tally_segment order by event_seq rows unbounded preceding
        ) as segment_total
    from plain_deltas
),

ledger as (
    select
        running_tallies.*,
        case when is_cancel_rest then -segment_subtotal else plain_subtotal_delta end
            as subtotal_delta,
        case when is_cancel_rest then -segment_total else plain_total_delta end as total_delta,
        case when is_cancel_rest then 0 else segment_subtotal end as running_subtotal,
        case when is_cancel_rest then 0 else segment_total end as running_total
    from running_tallies
),

in_base_currency as (
    -- §6: the order's amounts (all in its currency now) convert at the order currency's
    -- rate of its placed_at date, so an order's base tally is its tally times one rate.
    -- Amounts a source sent in the base currency (Ometria OrderExtended totals.base) are
    -- used as sent, with the sign of the event's delta. No usable rate, or an event left
    -- unconverted: NULL base amounts.
    select
        events.*,
        events.order_rate_to_base as rate_to_base,
        case
            when events.is_unconverted then null
            when events.subtotal_base_sent is not null and events.subtotal_delta <> 0
                then sign(events.subtotal_delta) * abs(events.subtotal_base_sent)
            else events.subtotal_delta * events.order_rate_to_base
        end as subtotal_delta_in_base,
        case
            when events.is_unconverted then null
            when events.total_base_sent is not null and events.total_delta <> 0
                then sign(events.total_delta) * abs(events.total_base_sent)
            else events.total_delta * events.order_rate_to_base
        end as total_delta_in_base
    from ledger as events
),

final as (
    select
        ledger.event_id,
        ledger.order_id,
        sent.source,
        ledger.action,
        ledger.action_class,
        ledger.ts,
        utc_day(ledger.ts) as event_date,
        sent.ts_inferred,
        ledger.arrival_seq,
        cast(ledger.event_seq as integer) as event_seq,
        -- the currency of the row's amounts: the order's
        ledger.order_currency as currency,
        -- an unconverted event's deltas are NULL: they are in no tally (issue 11)
        cast(case when not ledger.is_unconverted then ledger.subtotal_delta end
             as decimal(38, 4)) as subtotal_delta,
        cast(case when not ledger.is_unconverted then ledger.total_delta end
             as decimal(38, 4)) as total_delta,
        cast(ledger.subtotal_delta_in_base as decimal(38, 4)) as subtotal_delta_base,
        cast(ledger.total_delta_in_base as decimal(38, 4)) as total_delta_base,
        cast(ledger.rate_to_base as decimal(18, 10)) as rate_to_base,
        ledger.placed_date,
        -- the currency the event was sent in, its rate, and whether it could be converted
        ledger.sent_currency,
        cast(ledger.sent_rate_to_base as decimal(18, 10)) as sent_rate_to_base,
        ledger.is_unconverted,
        cast(ledger.running_subtotal as decimal(38, 4)) as running_subtotal,
        cast(ledger.running_total as decimal(38, 4)) as running_total,
        -- §3: partial when the running subtotal after it is still above zero
        case when ledger.is_reduction
            then case when ledger.running_subtotal > 0 then 'partial' else 'full' end
        end as refund_kind,
        ledger.is_order_creating,
        ledger.is_pass_through,
        ledger.is_cancel_rest,
        ledger.tax,
        ledger.shipping,
        ledger.discount,
        sent.coupon_code,
        sent.bill_address,
        sent.ship_address,
        sent.first_name,
        sent.last_name,
        sent.name,
        sent.email,
        sent.phone,
        sent.custom,
        sent.items_quantity,
        sent.file,
        sent.record_no
    from in_base_currency as ledger
    inner join sent_events as sent on sent.event_id = ledger.event_id
)

select * from final
