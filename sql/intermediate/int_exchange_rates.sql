-- Exchange rates to the base currency (docs/semantics.md §6), one row per (currency, date): a rate
-- sent again for the same day replaces the earlier one (latest arrival wins), and each rate
-- holds until the next date of its currency, which is what the as-of lookup needs.
with rate_records as (
    select * from staging.exchange_rate_records
),

latest_per_day as (
    select currency, rate_date, rate_to_base, arrival_seq
    from rate_records
    qualify row_number() over (partition by currency, rate_date order by arrival_seq desc) = 1
),

final as (
    select
        currency,
        rate_date,
        lead(rate_date) over (partition by currency order by rate_date) as valid_until,
        rate_to_base,
        arrival_seq
    from latest_per_day
)

select * from final
