//! The rules loader: any TOML text in, a rule set or `file:line` errors out, never a panic. A rule
//! set that loads is then matched against a few page views.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use personify::domain::rules::load::load_sources;
use personify::domain::signals::{PageFields, PageView, RequestMeta, SessionSummary};

fuzz_target!(|data: &[u8]| common::run(|| one(data)));

fn one(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let sources = [("fuzz.toml".to_string(), text.to_string())];
    match load_sources(&sources) {
        Err(errors) => {
            for e in &errors.0 {
                let _ = e.to_string();
            }
        }
        Ok(rules) => {
            for (url, referrer, categories) in [
                (
                    "https://bank.example/mortgages/fixed-rate",
                    Some("https://www.google.com/"),
                    vec![],
                ),
                (
                    "https://bank.example/students/?utm_campaign=isa",
                    None,
                    vec!["savings".to_string()],
                ),
                (
                    "https://bank.example/",
                    Some("https://www.linkedin.com/"),
                    vec!["first_time_buyer".to_string()],
                ),
            ] {
                let session = SessionSummary {
                    pages_viewed: 3,
                    categories,
                    returning: true,
                };
                let view = PageView::parse(PageFields {
                    url: url.to_string(),
                    referrer: referrer.map(str::to_string),
                    session: Some(session),
                    tz_offset_minutes: Some(60),
                    ..PageFields::default()
                })
                .expect("a fixed page view parses");
                let meta = RequestMeta {
                    user_agent: Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"),
                    client_hints: Default::default(),
                    accept_language: Some("en-GB,en;q=0.8"),
                    country: Some("GB"),
                    located: None,
                };
                let signals = common::EXTRACTOR
                    .extract(&view, meta, common::now())
                    .expect("a fixed page view extracts")
                    .signals;
                let fast = rules.match_segments(&signals);
                let slow = rules.match_segments_exhaustive(&signals);
                assert_eq!(
                    fast.iter().collect::<Vec<_>>(),
                    slow.iter().collect::<Vec<_>>(),
                    "the index and the exhaustive walk disagree"
                );
            }
        }
    }
}
