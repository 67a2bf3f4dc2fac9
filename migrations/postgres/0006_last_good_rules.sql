-- The last rule set that loaded, kept so a node whose rules directory has a typo serves it instead of
-- refusing to start (docs/decisions/last-good-rules.md). One row, replaced after every load.
CREATE TABLE last_good_rules (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  TEXT NOT NULL,
    -- JSON array of [file name, file text], in load order.
    files    TEXT NOT NULL,
    saved_at BIGINT NOT NULL
);
