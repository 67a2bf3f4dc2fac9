-- The audit trail of admin actions: who (the token's configured name), what (a closed set of
-- actions) and when. Never a request value.
CREATE TABLE admin_audit (
    seq         BIGSERIAL PRIMARY KEY,
    recorded_at BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL
);
