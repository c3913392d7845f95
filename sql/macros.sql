-- The one normalisation of identifiers and contacts (docs/semantics.md §5), for every source and
-- model. warehouse.prepare_session creates these macros on every connection (temporary:
-- they live in the session, so the warehouse file and its published copy never depend on
-- them). Models call them; none writes its own lower(trim(...)) or digit filter.

-- Invisible characters identify nobody: format characters (zero-width space and joiners,
-- BOM, soft hyphen) go wherever they are; spaces of every kind (NBSP too) and control
-- characters at either end. NULL when nothing is left.
create or replace temp macro clean_identifier(identifier) as
    nullif(
        regexp_replace(
            regexp_replace(identifier, '\p{Cf}', '', 'g'),
            '^[\s\p{Z}\p{Cc}]+|[\s\p{Z}\p{Cc}]+$', '', 'g'
        ),
        ''
    );

-- An email: cleaned and lower-cased.
create or replace temp macro normalise_email(email) as lower(clean_identifier(email));

-- The same two rules for a value clean_identifier already cleaned, the one way the rules are
-- written: normalise_phone and normalise_identifier clean, then call them. A model that
-- normalises many values cleans each once in its own column and calls these (a macro's
-- argument is copied wherever the macro uses it, and a copy inside a CASE branch is
-- evaluated again: int_order_identifiers spent most of its time cleaning each value six
-- times). NULL in, NULL out; a phone is NULL when it has no digit.
create or replace temp macro normalise_cleaned_phone(cleaned) as
    case when regexp_matches(cleaned, '[0-9]')
         then case when starts_with(cleaned, '+') then '+' else '' end
              || regexp_replace(cleaned, '[^0-9]', '', 'g')
    end;

-- identifier_type: as normalise_identifier_type returns it
create or replace temp macro normalise_cleaned_identifier(identifier_type, cleaned) as
    case identifier_type
        when 'email' then lower(cleaned)
        when 'phone' then normalise_cleaned_phone(cleaned)
        else cleaned
    end;

-- A phone: `+` when the number starts with one, then its digits (E.164 style; a number
-- without `+` keeps its digits). NULL when it has no digit.
create or replace temp macro normalise_phone(phone) as
    normalise_cleaned_phone(clean_identifier(phone));

-- The type of an identifier from the name it was sent under: lower-cased, with the common
-- aliases of email and phone folded in.
create or replace temp macro normalise_identifier_type(identifier_name) as
    case lower(clean_identifier(identifier_name))
        when 'email_address' then 'email'
        when 'phone_number' then 'phone'
        when 'mobile' then 'phone'
        else lower(clean_identifier(identifier_name))
    end;

-- Any identifier by its type: email and phone as above, every other id cleaned only.
create or replace temp macro normalise_identifier(identifier_name, identifier) as
    normalise_cleaned_identifier(
        normalise_identifier_type(identifier_name), clean_identifier(identifier)
    );

-- Whether a text has a character a person can see: what clean_identifier leaves is not
-- empty. Validation refuses identifiers and names made only of spaces, zero-width or control
-- characters with it, so the rule is the same one that normalises them. clean_identifier
-- leaves something exactly when a character is neither a format character nor a space or
-- control character, so one search for such a character says it without rewriting the text
-- (issue 15: validation asks it of every identifier; tests/unit/test_one_rule_one_place.py).
create or replace temp macro has_visible_character(text) as
    coalesce(regexp_matches(text, '[^\s\p{Z}\p{Cc}\p{Cf}]'), false);

-- The ledger's classes of actions (docs/semantics.md §3): purchase, return, refund and
-- cancel are themselves; every other action is a custom one.
create or replace temp macro action_class(action) as
    case when action in ('purchase', 'return', 'refund', 'cancel') then action else 'custom' end;

-- A return, refund or cancel reduces the order (docs/semantics.md §3).
create or replace temp macro is_reduction(action_class) as
    action_class in ('return', 'refund', 'cancel');

-- What counts as gross revenue and as items sold (docs/semantics.md §3, §8): a purchase, and
-- a custom action that creates its order (it comes first). A reduction never does, even when
-- it comes first.
create or replace temp macro counts_as_gross(action_class, is_order_creating) as
    action_class = 'purchase' or (action_class = 'custom' and is_order_creating);

-- One event's line items added up (docs/semantics.md §3: without an order-level subtotal the
-- ledger takes Σ item subtotals), for a source's items CTE or table with event_id,
-- subtotal, quantity and dropped_fields: `left join item_totals(items) using (event_id)`.
create or replace temp macro item_totals(items) as table
    select
        event_id,
        sum(subtotal) as items_subtotal,
        sum(quantity) as items_quantity,
        count(*) as item_rows,
        sum(dropped_fields) as dropped_item_fields
    from query_table(items)
    group by event_id;

-- An amount of an event sent in another currency than its order's, in the order's currency
-- (docs/semantics.md §6): amount × rate_to_base(sent) ÷ rate_to_base(order), exact in
-- DECIMAL(38,14) and rounded half to even to 4 decimals by decimal_division (DECIMAL ÷ DECIMAL
-- would fall back to DOUBLE: docs/pitfalls.md). NULL when either rate is missing.
create or replace temp macro in_order_currency(
    amount, sent_currency, order_currency, sent_rate_to_base, order_rate_to_base
) as
    case when sent_currency = order_currency then amount
         else decimal_division(cast(amount as decimal(38, 4)) * sent_rate_to_base,
                               order_rate_to_base, 4) end;

-- The UTC calendar day and month of an instant (docs/semantics.md §8: reports are dated by the
-- UTC date of an event's ts), from its microseconds since the epoch rather than through the
-- session's time zone: the same dates whatever TimeZone a session has, and about a tenth of
-- the CPU of casting a TIMESTAMPTZ to DATE or truncating it, which go through ICU's calendar
-- (issue 15: 3.9M orders' months 0.53 against 0.06 CPU s). NULL in, NULL out.
create or replace temp macro utc_day(instant) as
    cast(make_timestamp(epoch_us(instant)) as date);

-- The first instant of a UTC calendar day, and the first instant after it:
-- utc_day(instant) >= day exactly when instant >= utc_day_start(day), and utc_day(instant) <=
-- day when instant < utc_day_end(day). A model that selects the events of some days compares
-- ts with these: a plain comparison of a column reaches the table scan through a view and
-- skips the row groups outside the days by their zone maps, where a condition on utc_day(ts)
-- is evaluated on every row (issue 15: core.order_ledger's days through the int_order_events
-- view). NULL in, NULL out.
create or replace temp macro utc_day_start(day) as to_timestamp(epoch(day));

create or replace temp macro utc_day_end(day) as to_timestamp(epoch(day) + 86400);

create or replace temp macro utc_month(instant) as
    cast(date_trunc('month', make_timestamp(epoch_us(instant))) as date);
