-- Every source's identifiers, normalised (SEMANTICS §5): email trimmed and lower-cased,
-- phone reduced to `+` and digits, other ids trimmed (of invisible characters too). Empty
-- values never link.
-- materialized: incremental
with odp_identifiers as (
    select * from staging.stg_odp_order_identifiers
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

ometria_identifiers as (
    select * from staging.stg_ometria_order_identifiers
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

optimizely_identifiers as (
    select * from staging.stg_optimizely_order_identifiers
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

odp_csv_identifiers as (
    select * from staging.stg_odp_csv_order_identifiers
    where arrival_seq > getvariable('incremental_after')
      and arrival_seq <= getvariable('incremental_through')
),

unioned as (
    select * from odp_identifiers
    union all
    select * from ometria_identifiers
    union all
    select * from optimizely_identifiers
    union all
    select * from odp_csv_identifiers
),

normalised as (
    select
        event_id,
        source,
        order_id,
        arrival_seq,
        case
            when identifier_type in ('email', 'email_address') then 'email'
            when identifier_type in ('phone', 'phone_number', 'mobile') then 'phone'
            else identifier_type
        end as identifier_type,
        -- invisible characters identify nobody: zero-width ones go wherever they are, other
        -- spaces and control characters at either end (an email of '\u200b' must not link)
        regexp_replace(
            regexp_replace(identifier_value, '\p{Cf}', '', 'g'),
            '^[\s\p{Z}\p{Cc}]+|[\s\p{Z}\p{Cc}]+$', '', 'g'
        ) as value_as_sent
    from unioned
),

final as (
    select distinct
        event_id,
        source,
        order_id,
        arrival_seq,
        identifier_type,
        case identifier_type
            when 'email' then lower(trim(value_as_sent))
            when 'phone' then
                case when starts_with(trim(value_as_sent), '+') then '+' else '' end
                || regexp_replace(value_as_sent, '[^0-9]', '', 'g')
            else trim(value_as_sent)
        end as identifier_value
    from normalised
)

select * from final
where identifier_value <> '' and identifier_value <> '+'
