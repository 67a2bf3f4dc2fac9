-- The audit trail of admin actions: who (the token's configured name), what (a closed set of
-- actions) and when. Never a request value.
CREATE TABLE admin_audit (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL
);
