-- Aggregates: HyperLogLog sketches (versioned envelopes) and counters, per UTC day and per node.
CREATE TABLE sketches (
    kind TEXT NOT NULL,
    key  TEXT NOT NULL,
    day  INTEGER NOT NULL,
    node TEXT NOT NULL,
    blob BLOB NOT NULL,
    PRIMARY KEY (kind, key, day, node)
);
CREATE INDEX sketches_day ON sketches (kind, day);

CREATE TABLE counters (
    kind  TEXT NOT NULL,
    key   TEXT NOT NULL,
    day   INTEGER NOT NULL,
    node  TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (kind, key, day, node)
);
CREATE INDEX counters_day ON counters (kind, day);
