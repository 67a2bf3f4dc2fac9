//! One decision with the shipped example rules: the rule engine alone, and the whole in-process
//! pipeline a `/v1/decide` request runs (page-view parsing, signal extraction with the PII
//! firewall and device class, consent, visitor key, decision) minus HTTP and JSON.

use std::path::Path;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use personify::config::Settings;
use personify::consent::{ConsentInput, ConsentPolicy};
use personify::decide::decide;
use personify::privacy::{Keyring, Secret, VisitorId};
use personify::rules::load_dir;
use personify::signals::{PageView, RequestMeta, SignalExtractor};

const UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

fn bench(c: &mut Criterion) {
    let settings = Settings::defaults().expect("defaults");
    let rules = load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("segment_rules")).expect("example rules load");
    let extractor = SignalExtractor::new(&settings);
    let policy = ConsentPolicy::new(&settings.consent);
    let now = SystemTime::now();
    let keyring = Keyring::new(Secret::generate(), now);
    let meta = RequestMeta {
        user_agent: Some(UA),
        accept_language: Some("en-GB,en;q=0.9"),
        country: Some("US"),
    };
    let parse = || {
        PageView::parse(
            None,
            "https://bank.example/mortgages/fixed-rate?utm_source=google&utm_medium=cpc&gclid=abc",
            Some("https://www.google.co.uk/".into()),
            None,
            None,
            Some(60),
        )
        .expect("valid page view")
    };
    let view = parse();
    let extracted = extractor.extract(&view, meta, now).expect("signals");
    let consent = policy.resolve(
        &ConsentInput {
            country: extracted.signals.country,
            ..Default::default()
        },
        &mut Vec::new(),
    );
    let id = VisitorId::parse("f3b1c9e0-7a4d-4c1e-9a55-1d2e3f4a5b6c").expect("id");
    let key = keyring.first_party("bank.example", &id);

    let mut group = c.benchmark_group("decide");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("rules_only/example", |b| {
        b.iter(|| decide(&rules, std::hint::black_box(&extracted.signals), &consent, &key, None))
    });
    group.bench_function("pipeline/example", |b| {
        b.iter(|| {
            let view = parse();
            let extracted = extractor.extract(&view, meta, now).expect("signals");
            let consent = policy.resolve(
                &ConsentInput {
                    country: extracted.signals.country,
                    ..Default::default()
                },
                &mut Vec::new(),
            );
            let key = keyring.first_party("bank.example", &id);
            let d = decide(&rules, &extracted.signals, &consent, &key, None);
            std::hint::black_box(d.slots.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
