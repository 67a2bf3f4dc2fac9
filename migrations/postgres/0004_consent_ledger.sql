-- The consent log as an RFC 9162 Merkle tree; see migrations/sqlite/0004_consent_ledger.sql.

CREATE TABLE consent_leaves (
    idx            BIGINT PRIMARY KEY,
    receipt_id     TEXT NOT NULL UNIQUE,
    recorded_at    BIGINT NOT NULL,
    time           TEXT NOT NULL,
    action         TEXT NOT NULL,
    personalize    BOOLEAN NOT NULL,
    measure        BOOLEAN NOT NULL,
    advertise      BOOLEAN NOT NULL,
    source         TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    commitment     BYTEA NOT NULL,
    leaf_hash      BYTEA NOT NULL
);
CREATE FUNCTION consent_leaves_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'consent_leaves is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER consent_leaves_no_update BEFORE UPDATE OR DELETE ON consent_leaves
    FOR EACH ROW EXECUTE FUNCTION consent_leaves_append_only();

CREATE TABLE consent_subjects (
    idx     BIGINT PRIMARY KEY,
    subject TEXT NOT NULL,
    nonce   BYTEA NOT NULL
);
CREATE INDEX consent_subjects_subject ON consent_subjects (subject);

CREATE TABLE consent_subtrees (
    level BIGINT NOT NULL,
    idx   BIGINT NOT NULL,
    hash  BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE consent_checkpoints (
    size      BIGINT PRIMARY KEY,
    note      TEXT NOT NULL,
    issued_at BIGINT NOT NULL
);

ALTER TABLE consent_records ADD COLUMN pos BIGINT NOT NULL DEFAULT -1;
ALTER TABLE consent_records ADD COLUMN erased BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX consent_records_pos ON consent_records (pos);
