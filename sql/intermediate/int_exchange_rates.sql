-- Exchange rates (docs/semantics.md §6), one row per (base currency, currency, date): a rate sent
-- again for the same day replaces the earlier one (latest arrival wins), and each rate holds
-- until the next date of its currency and base, which is what the as-of lookup needs. Rates to
-- every base are kept; the ledger converts with those to ORDERS_BASE_CURRENCY only.
with rate_records as (
    select * from staging.exchange_rate_records
),

latest_per_day as (
    select base_currency, currency, rate_date, rate_to_base, arrival_seq
    from rate_records
    qualify row_number() over (
        partition by base_currency, currency, rate_date order by arrival_seq desc
    ) = 1
),

final as (
    select
        base_currency,
        currency,
        rate_date,
        lead(rate_date) over (partition by base_currency, currency order by rate_date)
            as valid_until,
        rate_to_base,
        arrival_seq
    from latest_per_day
)

select * from final
