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

-- A phone: `+` when the number starts with one, then its digits (E.164 style; a number
-- without `+` keeps its digits). NULL when it has no digit.
create or replace temp macro normalise_phone(phone) as
    nullif(
        nullif(
            case when starts_with(clean_identifier(phone), '+') then '+' else '' end
            || regexp_replace(clean_identifier(phone), '[^0-9]', '', 'g'),
            ''
        ),
        '+'
    );

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
    case normalise_identifier_type(identifier_name)
        when 'email' then normalise_email(identifier)
        when 'phone' then normalise_phone(identifier)
        else clean_identifier(identifier)
    end;
