-- Exact experiment counting (docs/reports.md): the units (64-bit keyed hashes of first-party visitor
-- keys under a per-experiment key) exposed to each arm and converting on each goal, per analysis
-- period. Pseudonymous personal data: erased with the visitor, purged with the experiment's period.
CREATE TABLE experiment_units (
    experiment TEXT NOT NULL,
    period     BIGINT NOT NULL,
    arm        TEXT NOT NULL,
    -- '' for an exposure, else the goal converted on.
    goal       TEXT NOT NULL,
    unit       BIGINT NOT NULL,
    day        BIGINT NOT NULL,
    PRIMARY KEY (experiment, period, arm, goal, unit)
);
CREATE INDEX experiment_units_day ON experiment_units (day);
CREATE INDEX experiment_units_unit ON experiment_units (unit);

-- Analysis periods: a new one starts when an experiment's bucketing, an arm's content or its
-- segment's condition changes (the fingerprint).
CREATE TABLE experiment_periods (
    experiment  TEXT NOT NULL,
    period      BIGINT NOT NULL,
    fingerprint TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    PRIMARY KEY (experiment, period)
);

-- Released numbers: each cell's value is computed once and every later query returns it.
CREATE TABLE releases (
    cell        TEXT PRIMARY KEY,
    release     BIGINT NOT NULL,
    value       BIGINT NOT NULL,
    visitors    BIGINT NOT NULL,
    networks    DOUBLE PRECISION NOT NULL,
    released_at BIGINT NOT NULL
);
