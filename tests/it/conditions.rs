//! The rule engine: every operator on every kind of signal, including absent signals.

use personify::domain::rules::load::load_sources;
use personify::domain::signals::{Country, LocalTime, SessionSummary, Signals};

fn matches(when: &str, s: &Signals) -> bool {
    let text = format!("[[segment]]\nid = \"t\"\nname = \"T\"\nwhen = {when}\n");
    let rules = load_sources(&[("t.toml".into(), text)]).unwrap_or_else(|e| panic!("{when}: {e}"));
    !rules.match_segments(s).is_empty()
}

fn signals() -> Signals {
    Signals {
        page_host: Some("bank.example".into()),
        page_path: Some("/mortgages/fixed-rate".into()),
        country: Country::parse("GB"),
        lang: Some("en".into()),
        time: Some(LocalTime { hour: 21, weekday: 4 }),
        session: Some(SessionSummary {
            pages_viewed: 4,
            categories: vec!["savings".into(), "isa".into()],
            returning: true,
        }),
        ..Signals::default()
    }
}

#[test]
fn text_operators() {
    let s = signals();
    assert!(matches(
        r#"{ signal = "page.path", op = "eq", value = "/mortgages/fixed-rate" }"#,
        &s
    ));
    assert!(matches(r#"{ signal = "page.path", op = "ne", value = "/" }"#, &s));
    assert!(matches(
        r#"{ signal = "page.path", op = "starts_with", value = "/mortgages" }"#,
        &s
    ));
    assert!(matches(
        r#"{ signal = "page.path", op = "ends_with", value = "-rate" }"#,
        &s
    ));
    assert!(matches(
        r#"{ signal = "page.path", op = "contains", value = "fixed" }"#,
        &s
    ));
    assert!(matches(
        r#"{ signal = "page.path", op = "matches", value = "^/mortgages/(fixed|tracker)" }"#,
        &s
    ));
    assert!(!matches(
        r#"{ signal = "page.path", op = "matches", value = "^/savings" }"#,
        &s
    ));
    assert!(matches(
        r#"{ signal = "page.host", op = "in", value = ["www.bank.example", "BANK.example"] }"#,
        &s
    ));
    assert!(matches(
        r#"{ signal = "geo.country", op = "not_in", value = ["us", "ca"] }"#,
        &s
    ));
    assert!(
        matches(r#"{ signal = "geo.country", op = "eq", value = "gb" }"#, &s),
        "country values are case-normalised"
    );
}

#[test]
fn numeric_boolean_enum_and_list_operators() {
    let s = signals();
    assert!(matches(
        r#"{ signal = "time.hour", op = "between", value = [18, 23] }"#,
        &s
    ));
    assert!(matches(r#"{ signal = "time.hour", op = "gte", value = 21 }"#, &s));
    assert!(!matches(r#"{ signal = "time.hour", op = "gt", value = 21 }"#, &s));
    assert!(matches(r#"{ signal = "time.hour", op = "lt", value = 22 }"#, &s));
    assert!(matches(r#"{ signal = "time.hour", op = "lte", value = 21 }"#, &s));
    assert!(matches(r#"{ signal = "time.hour", op = "in", value = [9, 21] }"#, &s));
    assert!(matches(
        r#"{ signal = "time.hour", op = "not_in", value = [9, 10] }"#,
        &s
    ));
    assert!(matches(r#"{ signal = "time.weekday", op = "eq", value = "fri" }"#, &s));
    assert!(matches(
        r#"{ signal = "session.returning", op = "eq", value = true }"#,
        &s
    ));
    assert!(matches(
        r#"{ signal = "session.returning", op = "ne", value = false }"#,
        &s
    ));
    assert!(matches(
        r#"{ signal = "session.categories", op = "contains", value = "isa" }"#,
        &s
    ));
    assert!(matches(
        r#"{ signal = "session.categories", op = "in", value = ["mortgages", "savings"] }"#,
        &s
    ));
    assert!(matches(
        r#"{ signal = "session.categories", op = "not_in", value = ["mortgages"] }"#,
        &s
    ));
    assert!(matches(
        r#"{ signal = "session.pages_viewed", op = "gte", value = 3 }"#,
        &s
    ));
}

#[test]
fn combinators_and_absent_signals() {
    let s = signals();
    assert!(matches(
        r#"{ all = [{ signal = "lang", op = "eq", value = "en" }, { not = { signal = "geo.country", op = "eq", value = "US" } }] }"#,
        &s
    ));
    assert!(!matches(
        r#"{ any = [{ signal = "lang", op = "eq", value = "de" }, { signal = "lang", op = "eq", value = "fr" }] }"#,
        &s
    ));
    assert!(matches(r#"{ all = [] }"#, &s));
    // Absent: only ne, not_in and exists = false hold.
    assert!(!matches(r#"{ signal = "referrer.host", op = "eq", value = "x" }"#, &s));
    assert!(!matches(
        r#"{ signal = "referrer.host", op = "contains", value = "x" }"#,
        &s
    ));
    assert!(matches(r#"{ signal = "referrer.host", op = "ne", value = "x" }"#, &s));
    assert!(matches(
        r#"{ signal = "referrer.host", op = "not_in", value = ["x"] }"#,
        &s
    ));
    assert!(matches(
        r#"{ signal = "referrer.host", op = "exists", value = false }"#,
        &s
    ));
    assert!(!matches(r#"{ signal = "referrer.host", op = "exists" }"#, &s));
    assert!(matches(r#"{ signal = "device.class", op = "ne", value = "bot" }"#, &s));
}
