-- personify's store: keyed hashes, consent choices and (later) aggregate sketches. Nothing personal.

-- Long-lived secrets (the visitor-key HMAC secret), created once and shared by every node.
CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

-- Cookieless salts, one random value per UTC day, deleted 48 h after their day begins.
CREATE TABLE daily_salts (
    day        INTEGER PRIMARY KEY,
    salt       BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

-- The current explicit choice per subject (keyed hash of a visitor id).
CREATE TABLE consent_records (
    subject        TEXT PRIMARY KEY,
    personalize    INTEGER NOT NULL,
    measure        INTEGER NOT NULL,
    advertise      INTEGER NOT NULL,
    opted_out      INTEGER NOT NULL,
    source         TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    receipt_id     TEXT NOT NULL,
    recorded_at    INTEGER NOT NULL
);

-- Append-only, hash-chained history of every choice.
CREATE TABLE consent_log (
    seq            INTEGER PRIMARY KEY,
    receipt_id     TEXT NOT NULL UNIQUE,
    recorded_at    INTEGER NOT NULL,
    subject        TEXT NOT NULL,
    action         TEXT NOT NULL,
    personalize    INTEGER NOT NULL,
    measure        INTEGER NOT NULL,
    advertise      INTEGER NOT NULL,
    source         TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    entry_hash     TEXT NOT NULL
);
CREATE INDEX consent_log_subject ON consent_log (subject);

CREATE TRIGGER consent_log_no_update BEFORE UPDATE ON consent_log
BEGIN
    SELECT RAISE(ABORT, 'consent_log is append-only');
END;
CREATE TRIGGER consent_log_no_delete BEFORE DELETE ON consent_log
BEGIN
    SELECT RAISE(ABORT, 'consent_log is append-only');
END;
