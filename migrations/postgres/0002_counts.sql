-- Aggregates: each node upserts its own rows; reports union every node's sketches.
CREATE TABLE sketches (
    kind TEXT NOT NULL,
    key  TEXT NOT NULL,
    day  BIGINT NOT NULL,
    node TEXT NOT NULL,
    blob BYTEA NOT NULL,
    PRIMARY KEY (kind, key, day, node)
);
CREATE INDEX sketches_day ON sketches (kind, day);

CREATE TABLE counters (
    kind  TEXT NOT NULL,
    key   TEXT NOT NULL,
    day   BIGINT NOT NULL,
    node  TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (kind, key, day, node)
);
CREATE INDEX counters_day ON counters (kind, day);
