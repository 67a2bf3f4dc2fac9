//! Decoding consent strings: TCF (2.2 and 2.3 shapes), GPP with a US section, US privacy, and the
//! whole resolution a request with a TC string runs. Strings come from the IAB-encoder fixtures.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use personify::config::Settings;
use personify::domain::consent::tcf::decode;
use personify::domain::consent::us::{decode_gpp, UsPrivacy};
use personify::domain::consent::ConsentInput;
use personify::domain::signals::Country;
use serde_json::Value;

fn fixture(kind: &str, name: Option<&str>) -> String {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/consent_strings.json"
    ))
    .expect("fixtures");
    let all: Value = serde_json::from_str(&text).expect("fixture JSON");
    let list = all[kind].as_array().expect("fixture list");
    let entry = match name {
        Some(n) => list.iter().find(|e| e["name"] == n).expect("named fixture"),
        None => &list[0],
    };
    entry["string"].as_str().expect("string").to_string()
}

fn bench(c: &mut Criterion) {
    let tcf = fixture("tcf", Some("full_consent_v2_2"));
    let gpp = fixture("gpp", Some("usnat_sale_opt_out"));
    let usp = fixture("us_privacy", None);
    let settings = Settings::defaults().expect("defaults");
    let policy = settings.consent_policy();

    let mut group = c.benchmark_group("consent");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("tcf_decode", |b| {
        b.iter(|| decode(std::hint::black_box(&tcf)).map(|t| t.purpose(1)))
    });
    group.bench_function("gpp_decode_usnat", |b| {
        b.iter(|| decode_gpp(std::hint::black_box(&gpp), None).map(|g| g.section_ids.len()))
    });
    group.bench_function("us_privacy_parse", |b| {
        b.iter(|| UsPrivacy::parse(std::hint::black_box(&usp)).is_ok())
    });
    group.bench_function("resolve_with_tcf", |b| {
        b.iter(|| {
            let input = ConsentInput {
                country: Country::parse("DE"),
                tcf: Some(&tcf),
                ..Default::default()
            };
            policy.resolve(&input, &mut Vec::new()).purposes.personalize
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
