-- personify's store on PostgreSQL: the same tables as the SQLite store, shared by every node.

CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    value      BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE daily_salts (
    day        BIGINT PRIMARY KEY,
    salt       BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE consent_records (
    subject        TEXT PRIMARY KEY,
    personalize    BOOLEAN NOT NULL,
    measure        BOOLEAN NOT NULL,
    advertise      BOOLEAN NOT NULL,
    opted_out      BOOLEAN NOT NULL,
    source         TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    receipt_id     TEXT NOT NULL,
    recorded_at    BIGINT NOT NULL
);

CREATE TABLE consent_log (
    seq            BIGINT PRIMARY KEY,
    receipt_id     TEXT NOT NULL UNIQUE,
    recorded_at    BIGINT NOT NULL,
    subject        TEXT NOT NULL,
    action         TEXT NOT NULL,
    personalize    BOOLEAN NOT NULL,
    measure        BOOLEAN NOT NULL,
    advertise      BOOLEAN NOT NULL,
    source         TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    entry_hash     TEXT NOT NULL
);
CREATE INDEX consent_log_subject ON consent_log (subject);

CREATE FUNCTION consent_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'consent_log is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER consent_log_no_update BEFORE UPDATE OR DELETE ON consent_log
    FOR EACH ROW EXECUTE FUNCTION consent_log_append_only();
