//! Reading the consent log back at start, a chunk of entries per query (`ConsentLog::consent_replay`).
//!
//! Why chunks folded into one text value: through sqlx each row costs far more than SQLite spends
//! finding it (on SQLite every value is copied and every row crosses a channel from the
//! connection's thread; about 2 µs a row against 0.3 µs for the join itself), and a node with
//! 10 million entries must start in seconds. One `string_agg` row per chunk pays that
//! cost once per few thousand entries. The text is parsed strictly: a chunk that is not exactly what
//! the query builds is refused as corrupt, never half-read.
//!
//! Both backends run the same SQL: `string_agg` is PostgreSQL's, and SQLite's alias for
//! `group_concat` since 3.44 (sqlx bundles a newer SQLite). Neither promises the order inside an
//! aggregate, so every element carries its index and the parser puts the chunk back in log order.

use crate::domain::consent::Purposes;
use crate::domain::privacy::ConsentSubject;

use super::StoreError;

/// One log entry still linked to its visitor, as the record it sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// Its index in the log.
    pub index: u64,
    /// Who it is about.
    pub subject: ConsentSubject,
    /// Purposes granted.
    pub purposes: Purposes,
    /// Whether it is an opt-out.
    pub opted_out: bool,
    /// Unix milliseconds of the choice.
    pub recorded_at: i64,
}

/// The chunk query: the number of entries and, for each, `idx flags recorded_at subject` (flags:
/// personalize 1, measure 2, advertise 4, opt-out 8), elements separated by commas. Erasure entries
/// are skipped (their visitor link is never kept) as are entries whose link was erased.
pub const SQL: &str = "SELECT COUNT(*), string_agg(l.idx || ' ' || (\
     (CASE WHEN l.personalize THEN 1 ELSE 0 END) + (CASE WHEN l.measure THEN 2 ELSE 0 END) + \
     (CASE WHEN l.advertise THEN 4 ELSE 0 END) + (CASE WHEN l.action = 'opt_out' THEN 8 ELSE 0 END)\
     ) || ' ' || l.recorded_at || ' ' || s.subject, ',') \
     FROM consent_leaves l JOIN consent_subjects s ON s.idx = l.idx \
     WHERE l.idx >= $1 AND l.idx < $2 AND l.action <> 'erasure'";

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("a replayed consent log chunk {what}"))
}

fn element(e: &str) -> Result<Replayed, StoreError> {
    let mut fields = e.split(' ');
    let (Some(index), Some(flags), Some(at), Some(subject), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(corrupt("has an entry without exactly four fields"));
    };
    let index = index.parse::<u64>().map_err(|_| corrupt("has a bad index"))?;
    let flags = flags
        .parse::<u8>()
        .ok()
        .filter(|f| *f < 16)
        .ok_or_else(|| corrupt("has bad flags"))?;
    let recorded_at = at.parse::<i64>().map_err(|_| corrupt("has a bad time"))?;
    let subject =
        ConsentSubject::from_hex(subject).ok_or_else(|| corrupt("has a subject that is not 64 hex characters"))?;
    Ok(Replayed {
        index,
        subject,
        purposes: Purposes {
            personalize: flags & 1 != 0,
            measure: flags & 2 != 0,
            advertise: flags & 4 != 0,
        },
        opted_out: flags & 8 != 0,
        recorded_at,
    })
}

/// Parses what [`SQL`] returned for the indexes `[from, to)`: `count` entries (the aggregate is
/// `NULL` when there are none), returned in log order. Anything else (an element that does not
/// parse, a count that differs, an index outside the range or repeated) is corrupt: a subject holding
/// a comma cannot smuggle in an entry of its own.
pub fn parse(count: i64, text: Option<&str>, from: u64, to: u64) -> Result<Vec<Replayed>, StoreError> {
    let text = match text {
        None | Some("") if count == 0 => return Ok(Vec::new()),
        Some(t) => t,
        None => return Err(corrupt("counts entries but lists none")),
    };
    let mut out = text.split(',').map(element).collect::<Result<Vec<_>, _>>()?;
    if i64::try_from(out.len()).ok() != Some(count) {
        return Err(corrupt("lists another number of entries than it counts"));
    }
    if !out.is_sorted_by_key(|r| r.index) {
        out.sort_unstable_by_key(|r| r.index);
    }
    let in_range = out.first().is_none_or(|r| r.index >= from) && out.last().is_none_or(|r| r.index < to);
    if !in_range || out.windows(2).any(|w| w[0].index == w[1].index) {
        return Err(corrupt("has an index outside its range or twice"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: u8) -> String {
        hex::encode([b; 32])
    }

    #[test]
    fn a_chunk_parses_in_log_order_whatever_order_the_aggregate_chose() {
        let text = format!("12 9 -5 {},10 7 1795000000000 {}", hex(2), hex(1));
        let got = parse(2, Some(&text), 10, 20).unwrap();
        assert_eq!(got.iter().map(|r| r.index).collect::<Vec<_>>(), [10, 12]);
        assert_eq!(
            got[0],
            Replayed {
                index: 10,
                subject: ConsentSubject::from_hex(&hex(1)).unwrap(),
                purposes: Purposes::ALL,
                opted_out: false,
                recorded_at: 1_795_000_000_000,
            }
        );
        assert!(got[1].opted_out && got[1].purposes.personalize && !got[1].purposes.measure);
        assert_eq!(got[1].recorded_at, -5);
        assert!(parse(0, None, 0, 10).unwrap().is_empty());
    }

    #[test]
    fn anything_but_what_the_query_builds_is_corrupt() {
        let ok = format!("3 0 1 {}", hex(3));
        for (count, text, why) in [
            (1, None, "no text"),
            (2, Some(ok.clone()), "count differs"),
            (1, Some(format!("3 0 1 {}", &hex(3)[..62])), "short subject"),
            (1, Some(format!("3 0 1 {}zz", &hex(3)[..62])), "not hex"),
            (1, Some(format!("3 16 1 {}", hex(3))), "flags out of range"),
            (1, Some(format!("3 0 x {}", hex(3))), "time"),
            (1, Some(format!("-3 0 1 {}", hex(3))), "negative index"),
            (1, Some(format!("3 0 1 {} extra", hex(3))), "five fields"),
            (1, Some(format!("3 0 {}", hex(3))), "three fields"),
            (1, Some(format!("30 0 1 {}", hex(3))), "outside the range"),
            (2, Some(format!("{ok},{ok}")), "an index twice"),
            // A subject edited to hold a comma and an entry of its own.
            (1, Some(format!("{ok},4 8 1 {}", hex(4))), "smuggled entry"),
        ] {
            assert!(
                matches!(parse(count, text.as_deref(), 0, 10), Err(StoreError::Corrupt(_))),
                "{why}"
            );
        }
    }
}
