-- The consent log as an RFC 9162 Merkle tree (docs/decisions/002-consent-ledger.md).
-- The old hash-chained `consent_log` is converted into these tables by the server at start (it needs
-- SHA-256 and the configured closed sets, which SQL does not have), then dropped.

-- One row per leaf, append-only. `commitment` is SHA-256(nonce ‖ keyed visitor hash): it binds the
-- leaf to a visitor only for whoever holds both, and they live in `consent_subjects`, not here.
CREATE TABLE consent_leaves (
    idx            INTEGER PRIMARY KEY,
    receipt_id     TEXT NOT NULL UNIQUE,
    recorded_at    INTEGER NOT NULL,
    time           TEXT NOT NULL,
    action         TEXT NOT NULL,
    personalize    INTEGER NOT NULL,
    measure        INTEGER NOT NULL,
    advertise      INTEGER NOT NULL,
    source         TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    commitment     BLOB NOT NULL,
    leaf_hash      BLOB NOT NULL
);
CREATE TRIGGER consent_leaves_no_update BEFORE UPDATE ON consent_leaves
BEGIN
    SELECT RAISE(ABORT, 'consent_leaves is append-only');
END;
CREATE TRIGGER consent_leaves_no_delete BEFORE DELETE ON consent_leaves
BEGIN
    SELECT RAISE(ABORT, 'consent_leaves is append-only');
END;

-- Who a leaf is about: the nonce and the keyed visitor hash. Erasure deletes the row; the leaf stays.
CREATE TABLE consent_subjects (
    idx     INTEGER PRIMARY KEY,
    subject TEXT NOT NULL,
    nonce   BLOB NOT NULL
);
CREATE INDEX consent_subjects_subject ON consent_subjects (subject);

-- Hashes of complete subtrees (2^level leaves at position idx): what proofs are built from.
CREATE TABLE consent_subtrees (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- Signed tree heads, as issued (C2SP signed notes).
CREATE TABLE consent_checkpoints (
    size      INTEGER PRIMARY KEY,
    note      TEXT NOT NULL,
    issued_at INTEGER NOT NULL
);

-- `pos`: the leaf that last changed the record (incremental resync reads by it). `erased`: the visitor
-- asked for erasure; an erased opt-out stays as a suppression marker, anything else as a short-lived
-- tombstone so other nodes drop it too.
ALTER TABLE consent_records ADD COLUMN pos INTEGER NOT NULL DEFAULT -1;
ALTER TABLE consent_records ADD COLUMN erased INTEGER NOT NULL DEFAULT 0;
CREATE INDEX consent_records_pos ON consent_records (pos);
