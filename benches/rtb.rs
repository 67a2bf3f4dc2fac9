//! One OpenRTB 2.6 bid request to targeting buckets, in process: JSON parse of the request,
//! signals, consent (a TC string), segment match, release gates, and the JSON of the answer.

use std::path::Path;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use personify::config::Settings;
use personify::domain::rtb::{evaluate, BidRequest, Caller, RtbContext};
use personify::domain::rules::load_dir;

const WEB: &str = r#"{"id":"b1","imp":[{"id":"1","banner":{"w":300,"h":250}}],"site":{"domain":"bank.example","page":"https://bank.example/mortgages/fixed-rate","ref":"https://www.google.com/"},"device":{"ua":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36","devicetype":2,"geo":{"country":"USA"}},"user":{},"regs":{"gdpr":0,"us_privacy":"1YNN"}}"#;

fn bench(c: &mut Criterion) {
    let settings = Settings::defaults().expect("defaults");
    let rules = load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("segment_rules")).expect("example rules load");
    let extractor = settings.signal_extractor();
    let policy = settings.consent_policy();
    let rolling = |_: &str| personify::domain::counts::Seen {
        visitors: 1_000.0,
        networks: 1_000.0,
    };
    let ctx = RtbContext {
        rules: &rules,
        extractor: &extractor,
        consent: &policy,
        provider: "personify",
        k: 50,
        rolling_uniques: &rolling,
        sec_gpc: false,
    };
    let now = SystemTime::now();
    let answer = evaluate(
        serde_json::from_str(WEB).expect("bid request"),
        Caller::Server,
        &ctx,
        now,
    )
    .expect("answer");
    assert!(answer.user.is_some(), "the bench request releases buckets");

    let mut group = c.benchmark_group("rtb");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("one_request/example", |b| {
        b.iter(|| {
            let req: BidRequest = serde_json::from_str(std::hint::black_box(WEB)).expect("bid request");
            let answer = evaluate(req, Caller::Server, &ctx, now).expect("answer");
            serde_json::to_vec(&answer).expect("answer JSON").len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
