//! Experiment data both backends keep with the same SQL: exact unit sets per analysis period, the
//! periods themselves and the released cells (`docs/reports.md`). Written as a macro for the reason
//! given in `consent_sql.rs`.

/// One unit counted: a 64-bit keyed hash (stored as the `i64` of the same bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnitRow {
    /// Experiment id.
    pub experiment: String,
    /// Analysis period number.
    pub period: i64,
    /// Arm label (`holdout` or the variant id).
    pub arm: String,
    /// `None` for an exposure, else the goal converted on.
    pub goal: Option<String>,
    /// The unit's keyed hash.
    pub unit: u64,
    /// UTC day it was first flushed (for retention).
    pub day: i64,
}

/// Exact counts of one analysis period: `(arm, goal, units)`, `goal = None` for exposures.
/// Converters are counted only among the arm's exposed units.
pub type UnitCounts = Vec<(String, Option<String>, u64)>;

/// An analysis period as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PeriodRow {
    /// Experiment id.
    pub experiment: String,
    /// Its number, from 1.
    pub period: i64,
    /// What the period's configuration hashes to (bucketing, contents, segment condition).
    pub fingerprint: String,
    /// Unix milliseconds.
    pub started_at: i64,
}

/// A released cell as stored: computed once, returned unchanged afterwards.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReleaseRow {
    /// The cell's id.
    pub cell: String,
    /// How many times it has been released (experiment-to-date cells grow in steps of at least k).
    pub release: i64,
    /// The released value.
    pub value: i64,
    /// Exact units (or the estimate, for reach) it was released at.
    pub visitors: i64,
    /// Distinct networks it was released at.
    pub networks: f64,
    /// Unix milliseconds.
    pub released_at: i64,
}

/// Implements [`ExperimentData`](super::ExperimentData) for `$store` (field `pool`, `begin_write()`).
macro_rules! experiments_sql {
    ($store:ident, $db:ty) => {
        mod experiments_sql {
            use async_trait::async_trait;
            use sqlx::QueryBuilder;

            use super::$store;
            use $crate::store::experiments::{PeriodRow, ReleaseRow, UnitCounts, UnitRow};
            use $crate::store::{ExperimentData, StoreError};

            /// Rows per statement and per transaction: six values a row, far below both backends'
            /// limit on bound values per statement, and short to commit. On SQLite every write goes
            /// through one connection, so a busy node's flush (tens of thousands of new units every
            /// `counts.flush_seconds`) in one transaction held every consent write behind it for most
            /// of a second; in transactions of this size (milliseconds each) a waiting consent batch
            /// takes its turn between two of them (the writer pool hands its connection over in
            /// order of asking).
            const ROWS_PER_STATEMENT: usize = 500;

            #[async_trait]
            impl ExperimentData for $store {
                async fn put_units(&self, rows: Vec<UnitRow>) -> Result<(), StoreError> {
                    // One transaction per statement. Not all-or-nothing, and need not be: a unit
                    // written twice changes nothing, so a flush that fails half way keeps its units
                    // in memory and the next one writes them all again.
                    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                        let mut writer = self.writer().await?;
                        let mut tx = Self::begin_write(&mut writer).await?;
                        let mut q: QueryBuilder<'_, $db> =
                            QueryBuilder::new("INSERT INTO experiment_units (experiment, period, arm, goal, unit, day) ");
                        q.push_values(chunk, |mut b, r| {
                            b.push_bind(r.experiment.as_str())
                                .push_bind(r.period)
                                .push_bind(r.arm.as_str())
                                .push_bind(r.goal.as_deref().unwrap_or(""))
                                .push_bind(r.unit as i64)
                                .push_bind(r.day);
                        });
                        q.push(" ON CONFLICT (experiment, period, arm, goal, unit) DO NOTHING");
                        q.build().execute(&mut *tx).await?;
                        tx.commit().await?;
                    }
                    Ok(())
                }

                async fn unit_counts(&self, experiment: &str, period: i64) -> Result<UnitCounts, StoreError> {
                    let exposed: Vec<(String, i64)> = sqlx::query_as(
                        "SELECT arm, COUNT(*) FROM experiment_units \
                         WHERE experiment = $1 AND period = $2 AND goal = '' GROUP BY arm",
                    )
                    .bind(experiment)
                    .bind(period)
                    .fetch_all(&self.pool)
                    .await?;
                    // A converter counts only when the same unit was exposed to the same arm.
                    let converted: Vec<(String, String, i64)> = sqlx::query_as(
                        "SELECT c.arm, c.goal, COUNT(*) FROM experiment_units c \
                         JOIN experiment_units e ON e.experiment = c.experiment AND e.period = c.period \
                           AND e.arm = c.arm AND e.goal = '' AND e.unit = c.unit \
                         WHERE c.experiment = $1 AND c.period = $2 AND c.goal <> '' GROUP BY c.arm, c.goal",
                    )
                    .bind(experiment)
                    .bind(period)
                    .fetch_all(&self.pool)
                    .await?;
                    let count = |n: i64| u64::try_from(n).unwrap_or(0);
                    Ok(exposed
                        .into_iter()
                        .map(|(arm, n)| (arm, None, count(n)))
                        .chain(converted.into_iter().map(|(arm, goal, n)| (arm, Some(goal), count(n))))
                        .collect())
                }

                async fn erase_units(&self, units: &[(String, u64)]) -> Result<u64, StoreError> {
                    let mut writer = self.writer().await?;
                    let mut tx = Self::begin_write(&mut writer).await?;
                    let mut deleted = 0;
                    for (experiment, unit) in units {
                        deleted += sqlx::query("DELETE FROM experiment_units WHERE unit = $1 AND experiment = $2")
                            .bind(*unit as i64)
                            .bind(experiment)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                    }
                    tx.commit().await?;
                    Ok(deleted)
                }

                async fn unit_experiments(&self) -> Result<Vec<String>, StoreError> {
                    Ok(sqlx::query_scalar(
                        "SELECT DISTINCT experiment FROM experiment_periods ORDER BY experiment",
                    )
                    .fetch_all(&self.pool)
                    .await?)
                }

                async fn purge_units_before(&self, day: i64) -> Result<u64, StoreError> {
                    Ok(sqlx::query("DELETE FROM experiment_units WHERE day < $1")
                        .bind(day)
                        .execute(&self.pool)
                        .await?
                        .rows_affected())
                }

                async fn periods(&self, experiment: Option<&str>) -> Result<Vec<PeriodRow>, StoreError> {
                    Ok(sqlx::query_as(
                        "SELECT experiment, period, fingerprint, started_at FROM experiment_periods \
                         WHERE CAST($1 AS TEXT) IS NULL OR experiment = $1 ORDER BY experiment, period",
                    )
                    .bind(experiment)
                    .fetch_all(&self.pool)
                    .await?)
                }

                async fn start_period(&self, row: &PeriodRow) -> Result<bool, StoreError> {
                    Ok(sqlx::query(
                        "INSERT INTO experiment_periods (experiment, period, fingerprint, started_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (experiment, period) DO NOTHING",
                    )
                    .bind(&row.experiment)
                    .bind(row.period)
                    .bind(&row.fingerprint)
                    .bind(row.started_at)
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
                        == 1)
                }

                async fn releases(&self, prefix: &str) -> Result<Vec<ReleaseRow>, StoreError> {
                    // Cell ids are ASCII; `prefix || '~'` bounds a range scan of the primary key.
                    Ok(sqlx::query_as(
                        "SELECT cell, release, value, visitors, networks, released_at FROM releases \
                         WHERE cell >= $1 AND cell < $2 ORDER BY cell",
                    )
                    .bind(prefix)
                    .bind(format!("{prefix}\u{7f}"))
                    .fetch_all(&self.pool)
                    .await?)
                }

                async fn put_release(&self, row: &ReleaseRow) -> Result<ReleaseRow, StoreError> {
                    // First writer wins a release number: a node that raced another reads the winner's
                    // row, so every node returns the same value.
                    sqlx::query(
                        "INSERT INTO releases (cell, release, value, visitors, networks, released_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (cell) DO UPDATE SET release = excluded.release, value = excluded.value, \
                           visitors = excluded.visitors, networks = excluded.networks, released_at = excluded.released_at \
                         WHERE releases.release < excluded.release",
                    )
                    .bind(&row.cell)
                    .bind(row.release)
                    .bind(row.value)
                    .bind(row.visitors)
                    .bind(row.networks)
                    .bind(row.released_at)
                    .execute(&self.pool)
                    .await?;
                    Ok(sqlx::query_as(
                        "SELECT cell, release, value, visitors, networks, released_at FROM releases WHERE cell = $1",
                    )
                    .bind(&row.cell)
                    .fetch_one(&self.pool)
                    .await?)
                }

                async fn put_first_releases(&self, rows: Vec<ReleaseRow>) -> Result<(), StoreError> {
                    if rows.is_empty() {
                        return Ok(());
                    }
                    let mut writer = self.writer().await?;
                    let mut tx = Self::begin_write(&mut writer).await?;
                    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                        let mut q: QueryBuilder<'_, $db> = QueryBuilder::new(
                            "INSERT INTO releases (cell, release, value, visitors, networks, released_at) ",
                        );
                        q.push_values(chunk, |mut b, r| {
                            b.push_bind(r.cell.as_str())
                                .push_bind(r.release)
                                .push_bind(r.value)
                                .push_bind(r.visitors)
                                .push_bind(r.networks)
                                .push_bind(r.released_at);
                        });
                        q.push(" ON CONFLICT (cell) DO NOTHING");
                        q.build().execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn purge_releases(&self, prefix: &str, released_before_ms: i64) -> Result<u64, StoreError> {
                    Ok(sqlx::query("DELETE FROM releases WHERE cell >= $1 AND cell < $2 AND released_at < $3")
                        .bind(prefix)
                        .bind(format!("{prefix}\u{7f}"))
                        .bind(released_before_ms)
                        .execute(&self.pool)
                        .await?
                        .rows_affected())
                }
            }
        }
    };
}

pub(super) use experiments_sql;
