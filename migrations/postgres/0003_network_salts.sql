-- Network-key salts, one random value per ISO week (weeks since the epoch, starting on Monday),
-- shared by every node and deleted once their week is over, so past weeks' network keys cannot be
-- recomputed from a candidate address prefix.
CREATE TABLE network_salts (
    week       BIGINT PRIMARY KEY,
    salt       BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
