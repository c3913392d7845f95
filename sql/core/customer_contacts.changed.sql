-- The customers an incremental build of core.customer_contacts recomputes: those whose
-- identifiers an identity resolution since the last build changed (docs/semantics.md §5:
-- merged, split, new or gone; orders_pipeline/identity.py logs their old and new ids).
with regrouped as (
    select customer_id from state.identity_changes
    where built_through > getvariable('incremental_after')
      and built_through <= getvariable('incremental_through')
),

final as (
    select distinct customer_id from regrouped
)

select * from final
