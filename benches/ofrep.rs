//! The OFREP bulk answer: every slot's flag serialised and its ETag (SHA-256 of the bytes), after the
//! decision (measured in `decide`). With the shipped example rules (2 slots), and with 2,000 slots: ten
//! times the 200 of the largest generated rule set (`generate(10_000)`), which this set extends with
//! 1,800 slots of defaults.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use personify::config::Settings;
use personify::domain::consent::ConsentInput;
use personify::domain::pageview::decide::decide;
use personify::domain::privacy::{Keyring, Secret, VisitorId};
use personify::domain::rules::generate::{generate, page_url};
use personify::domain::rules::load::load_sources;
use personify::domain::rules::{load_dir, RuleSet};
use personify::domain::signals::{PageFields, PageView, RequestMeta};
use personify::http::ofrep::answer::{etag, Bulk, Flag, SetMetadata};

/// `generate(10_000)` plus 1,800 slots of one default variant each: 2,000 slots.
fn two_thousand_slots() -> RuleSet {
    let mut sources = generate(10_000, 1);
    let mut extra = String::new();
    for s in 200..2_000 {
        let _ = write!(
            extra,
            "\n[[slot]]\nid = \"slot_{s}\"\ndescription = \"Extra slot {s}.\"\ndefault = \"generic\"\n\n[slot.variants.generic]\ncontent = {{ headline = \"Welcome\", body = \"Something for everyone.\" }}\n"
        );
    }
    sources.push(("extra_slots.toml".into(), extra));
    load_sources(&sources).expect("rules with 2,000 slots load")
}

fn bench(c: &mut Criterion) {
    let example = load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("segment_rules")).expect("example rules load");
    let large = two_thousand_slots();
    assert_eq!(large.slots.len(), 2_000);
    let settings = Settings::defaults().expect("defaults");
    let extractor = settings.signal_extractor();
    let policy = settings.consent_policy();
    let now = SystemTime::now();
    let keyring = Keyring::new(Secret::generate(), now);
    let id = VisitorId::parse("f3b1c9e0-7a4d-4c1e-9a55-1d2e3f4a5b6c").expect("id");
    let key = keyring.first_party("shop.example", &id);
    let meta = RequestMeta {
        country: Some("US"),
        ..RequestMeta::default()
    };
    let mut group = c.benchmark_group("ofrep");
    group.measurement_time(Duration::from_secs(4));
    for (name, rules, url) in [
        (
            "example",
            &example,
            "https://bank.example/mortgages/fixed-rate".to_string(),
        ),
        ("slots_2000", &large, page_url(3)),
    ] {
        let view = PageView::parse(PageFields {
            url,
            ..PageFields::default()
        })
        .expect("page view");
        let signals = extractor.extract(&view, meta, now).expect("signals").signals;
        let consent = policy.resolve(
            &ConsentInput {
                country: signals.country,
                ..Default::default()
            },
            &mut Vec::new(),
        );
        let decision = decide(rules, &signals, &consent, &key, None);
        group.bench_function(format!("bulk_answer/{name}"), |b| {
            b.iter(|| {
                let set = SetMetadata::new(&consent, &rules.version, false, &[]);
                let bulk = Bulk {
                    flags: decision.slots.iter().map(|d| Flag::new(d, None)).collect(),
                    metadata: &set,
                };
                let bytes = serde_json::to_vec(&bulk).expect("serialises");
                etag(&bytes)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
