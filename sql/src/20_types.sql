------------------------------------------------------------------------
-- Types
------------------------------------------------------------------------

CREATE TYPE apikey.verification AS (
    valid       boolean,
    code        text,
    key_id      uuid,
    owner       text,
    org         text,
    name        text,
    scopes      text[],
    tier        text,
    expires_at  timestamptz,
    metadata    jsonb
);


CREATE TYPE apikey.limit_result AS (
    allowed         boolean,
    code            text,
    limit_value     bigint,
    remaining       bigint,
    reset_at        timestamptz,
    retry_after_ms  bigint
);

CREATE TYPE apikey.check_result AS (
    allowed         boolean,
    status          integer,
    code            text,
    key_id          uuid,
    owner           text,
    scopes          text[],
    tier            text,
    limit_value     bigint,
    remaining       bigint,
    reset_at        timestamptz,
    retry_after_ms  bigint,
    headers         jsonb
);


