//! Segment reports as released cells: each segment's reach (distinct visitors, a HyperLogLog
//! estimate) and views per closed UTC day, and its reach per closed ISO week. A range's answer is
//! the list of its closed periods' cells and its `views` the sum of the released day cells, so two
//! overlapping ranges differ only by whole released cells: a period below k is never revealed by
//! subtraction. Open days and weeks are not released.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::{millis, Reports};
use crate::domain::counts::release::{cell_id, release_cell, Support};
use crate::domain::counts::report::civil_from_days;
use crate::domain::counts::{Kind, Seen};
use crate::domain::privacy::network::week_of_day;
use crate::domain::privacy::utc_day;
use crate::domain::rules::RuleSet;
use crate::store::experiments::ReleaseRow;
use crate::store::StoreError;

/// Every segment cell's store id starts with this.
pub const PREFIX: &str = "seg/";

/// A cell that was below k when its period closed: stored with this release number, so the
/// decision is made once too.
const SUPPRESSED: i64 = 0;

/// One closed day of a segment.
#[derive(Debug, Clone, Serialize)]
pub struct DayCell {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Distinct visitors (an estimate), or `None` below k.
    pub uniques: Option<i64>,
    /// Page views, or `None` below k.
    pub views: Option<i64>,
    /// Below k when the day closed.
    pub suppressed: bool,
}

/// One closed ISO week of a segment.
#[derive(Debug, Clone, Serialize)]
pub struct WeekCell {
    /// `YYYY-Www`.
    pub week: String,
    /// Its Monday.
    pub from: String,
    /// Its Sunday.
    pub to: String,
    /// Distinct visitors over the week (an estimate), or `None` below k.
    pub uniques: Option<i64>,
    /// Below k when the week closed.
    pub suppressed: bool,
}

/// One segment's cells over a range.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentCells {
    /// Segment id.
    pub id: String,
    /// Sum of the released day cells' views (`None` when no day was released).
    pub views: Option<i64>,
    /// Days in the range whose views were suppressed (not in `views`).
    pub suppressed_days: usize,
    /// Each closed day in the range.
    pub days: Vec<DayCell>,
    /// Each closed ISO week wholly in the range.
    pub weeks: Vec<WeekCell>,
}

/// `GET /v1/admin/reports/segments`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentsReport {
    /// First day asked for.
    pub from: String,
    /// Last day asked for.
    pub to: String,
    /// The last closed (released) day; days after it are not reported yet.
    pub closed_through: String,
    /// Minimum visitors and networks behind a released number.
    pub k: u64,
    /// Noise budget per released count.
    pub epsilon: f64,
    /// The segments.
    pub segments: Vec<SegmentCells>,
}

/// A period's cells: `(segment, metric) → (released value or None)`.
type Cells = HashMap<(String, &'static str), Option<i64>>;

fn iso_week(week: i64) -> String {
    let monday = 7 * week - 3;
    let julian = i32::try_from(monday + 2_440_588).unwrap_or(0);
    match time::Date::from_julian_day(julian) {
        Ok(d) => {
            let (y, w, _) = d.to_iso_week_date();
            format!("{y:04}-W{w:02}")
        }
        Err(_) => format!("week-{week}"),
    }
}

impl Reports {
    /// The last UTC day whose counts are final: every node has flushed it (`grace_seconds`).
    pub fn last_closed_day(&self, now: SystemTime) -> i64 {
        utc_day(now - Duration::from_secs(self.policy.grace_seconds)) - 1
    }

    /// Segment cells over days `from..=to` (closed ones only).
    pub async fn segments(
        &self,
        rules: &RuleSet,
        from: i64,
        to: i64,
        now: SystemTime,
    ) -> Result<SegmentsReport, StoreError> {
        self.counts.flush().await?;
        let closed = self.last_closed_day(now);
        let last = to.min(closed);
        let mut by_day: Vec<(i64, Cells)> = Vec::new();
        for day in from..=last {
            by_day.push((day, self.period_cells(&format!("d{day}"), day, day).await?));
        }
        let mut by_week: Vec<(i64, Cells)> = Vec::new();
        let mut week = week_of_day(from);
        while 7 * week - 3 <= last {
            let (monday, sunday) = (7 * week - 3, 7 * week + 3);
            if monday >= from && sunday <= last {
                by_week.push((week, self.period_cells(&format!("w{week}"), monday, sunday).await?));
            }
            week += 1;
        }
        let segments = rules
            .segments
            .iter()
            .map(|s| {
                let get = |cells: &Cells, metric: &'static str| cells.get(&(s.id.clone(), metric)).copied().flatten();
                let days: Vec<DayCell> = by_day
                    .iter()
                    .map(|(day, cells)| {
                        let (uniques, views) = (get(cells, "reach"), get(cells, "views"));
                        DayCell {
                            date: civil_from_days(*day),
                            uniques,
                            views,
                            suppressed: views.is_none(),
                        }
                    })
                    .collect();
                let released: Vec<i64> = days.iter().filter_map(|d| d.views).collect();
                SegmentCells {
                    id: s.id.clone(),
                    views: (!released.is_empty()).then(|| released.iter().sum()),
                    suppressed_days: days.len() - released.len(),
                    weeks: by_week
                        .iter()
                        .map(|(week, cells)| {
                            let uniques = get(cells, "reach");
                            WeekCell {
                                week: iso_week(*week),
                                from: civil_from_days(7 * week - 3),
                                to: civil_from_days(7 * week + 3),
                                uniques,
                                suppressed: uniques.is_none(),
                            }
                        })
                        .collect(),
                    days,
                }
            })
            .collect();
        Ok(SegmentsReport {
            from: civil_from_days(from),
            to: civil_from_days(to),
            closed_through: civil_from_days(closed),
            k: self.policy.k,
            epsilon: self.policy.epsilon,
            segments,
        })
    }

    /// The released cells of one closed period (`d{day}` or `w{week}` over days `first..=last`):
    /// read back when released before, else computed, stored once and read back (another node
    /// may have released them first; its values win).
    async fn period_cells(&self, period: &str, first: i64, last: i64) -> Result<Cells, StoreError> {
        let scope = format!("{PREFIX}{period}/");
        let mut rows = self.store.releases(&scope).await?;
        if rows.is_empty() {
            let fresh = self.compute_period(&scope, period, first, last).await?;
            if !fresh.is_empty() {
                self.store.put_first_releases(fresh).await?;
                rows = self.store.releases(&scope).await?;
            }
        }
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let rest = r.cell.strip_prefix(&scope)?;
                let (metric, segment) = rest.split_once('/')?;
                let metric: &'static str = match metric {
                    "reach" => "reach",
                    "views" => "views",
                    _ => return None,
                };
                let value = (r.release != SUPPRESSED).then_some(r.value);
                Some(((segment.to_string(), metric), value))
            })
            .collect())
    }

    /// Computes a closed period's cells from the stored sketches and counters.
    async fn compute_period(
        &self,
        scope: &str,
        period: &str,
        first: i64,
        last: i64,
    ) -> Result<Vec<ReleaseRow>, StoreError> {
        let reach = self
            .counts
            .seen_by(Kind::Segment, first, last, |k| Some(k.to_string()))
            .await?;
        let views = if first == last {
            self.counts.sums(Kind::Views, first, last).await?
        } else {
            HashMap::new()
        };
        let policy = self.policy;
        let now = millis(SystemTime::now());
        let mut rows = Vec::new();
        for (segment, seen) in &reach {
            let Seen { visitors, networks } = *seen;
            let support = Support {
                visitors: visitors.round().max(0.0) as u64,
                networks,
            };
            let mut push = |metric: &str, exact: u64| {
                let cell = format!("{scope}{metric}/{segment}");
                let noise_cell = cell_id(metric, segment, None, period);
                let row = match release_cell(
                    policy.k,
                    &self.noise,
                    &noise_cell,
                    policy.epsilon,
                    1.0,
                    exact,
                    support,
                    None,
                ) {
                    Some(r) => ReleaseRow {
                        cell,
                        release: i64::from(r.release),
                        value: r.value,
                        visitors: i64::try_from(r.visitors).unwrap_or(i64::MAX),
                        networks: r.networks,
                        released_at: now,
                    },
                    None => ReleaseRow {
                        cell,
                        release: SUPPRESSED,
                        value: 0,
                        visitors: 0,
                        networks: 0.0,
                        released_at: now,
                    },
                };
                rows.push(row);
            };
            push("reach", support.visitors);
            if first == last {
                // Views are released only with the visitors behind them: they come from the same page views.
                push(
                    "views",
                    u64::try_from(views.get(segment).copied().unwrap_or(0)).unwrap_or(0),
                );
            }
        }
        Ok(rows)
    }
}
