//! One decision with the shipped example rules and with generated sets of 1,000 and 10,000 segments:
//! the rule engine alone, and the whole in-process pipeline a `/v1/decide` request runs (page-view
//! parsing, signal extraction with the PII firewall and device class, consent, visitor key, decision)
//! minus HTTP and JSON. `match_exhaustive/*` evaluates every rule, as before the segment index.
//! `geo/*` is the country lookup of a browser's address that has no country header.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use personify::config::Settings;
use personify::domain::consent::ConsentInput;
use personify::domain::pageview::decide::decide;
use personify::domain::pageview::view::{ConsentStrings, Pipeline, Records, ViewInput};
use personify::domain::privacy::{Keyring, Secret, VisitorId};
use personify::domain::rules::generate::{generate, page_url};
use personify::domain::rules::load::load_sources;
use personify::domain::rules::{load_dir, RuleSet};
use personify::domain::signals::{PageFields, PageView, RequestMeta};
use personify::engine::geo::Locator;

const UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

/// A page view of `url` from a partner site, one hour east of UTC.
fn page(url: &str) -> PageFields {
    PageFields {
        url: url.to_string(),
        referrer: Some("https://www.partner7.example/".into()),
        tz_offset_minutes: Some(60),
        ..PageFields::default()
    }
}

/// The example bank's mortgage page from a paid search click.
fn example_page() -> PageFields {
    PageFields {
        url: "https://bank.example/mortgages/fixed-rate?utm_source=google&utm_medium=cpc&gclid=abc".into(),
        referrer: Some("https://www.google.co.uk/".into()),
        tz_offset_minutes: Some(60),
        ..PageFields::default()
    }
}

fn bench(c: &mut Criterion) {
    example(c);
    geo(c);
    for n in [1_000, 10_000] {
        generated(c, n);
    }
}

/// A generated rule set of `n` segments, with page views of its catalogue paths.
fn generated(c: &mut Criterion, n: usize) {
    let settings = Settings::defaults().expect("defaults");
    let rules: RuleSet = load_sources(&generate(n, 1)).expect("generated rules load");
    let extractor = settings.signal_extractor();
    let policy = settings.consent_policy();
    let now = SystemTime::now();
    let keyring = Keyring::new(Secret::generate(), now);
    let id = VisitorId::parse("f3b1c9e0-7a4d-4c1e-9a55-1d2e3f4a5b6c").expect("id");
    let meta = RequestMeta {
        user_agent: Some(UA),
        client_hints: Default::default(),
        accept_language: Some("en-GB,en;q=0.9"),
        country: Some("US"),
        located: None,
    };
    let urls: Vec<String> = (0..64).map(page_url).collect();
    let views: Vec<_> = urls
        .iter()
        .map(|u| {
            let view = PageView::parse(page(u)).expect("valid page view");
            extractor.extract(&view, meta, now).expect("signals").signals
        })
        .collect();
    let consent = policy.resolve(
        &ConsentInput {
            country: views[0].country,
            ..Default::default()
        },
        &mut Vec::new(),
    );
    let key = keyring.first_party("shop.example", &id);

    let mut group = c.benchmark_group("decide");
    group.measurement_time(Duration::from_secs(4));
    let mut i = 0;
    group.bench_function(format!("match_exhaustive/generated_{n}"), |b| {
        b.iter(|| {
            i += 1;
            rules.match_segments_exhaustive(&views[i % views.len()]).len()
        })
    });
    group.bench_function(format!("rules_only/generated_{n}"), |b| {
        b.iter(|| {
            i += 1;
            decide(&rules, &views[i % views.len()], &consent, &key, None)
                .slots
                .len()
        })
    });
    group.bench_function(format!("pipeline/generated_{n}"), |b| {
        b.iter(|| {
            i += 1;
            let view = PageView::parse(page(&urls[i % urls.len()])).expect("valid page view");
            let extracted = extractor.extract(&view, meta, now).expect("signals");
            let consent = policy.resolve(
                &ConsentInput {
                    country: extracted.signals.country,
                    ..Default::default()
                },
                &mut Vec::new(),
            );
            let key = keyring.first_party("shop.example", &id);
            decide(&rules, &extracted.signals, &consent, &key, None).slots.len()
        })
    });
    group.finish();
}

/// The shipped example bank rules.
fn example(c: &mut Criterion) {
    let settings = Settings::defaults().expect("defaults");
    let rules = load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("segment_rules")).expect("example rules load");
    let extractor = settings.signal_extractor();
    let policy = settings.consent_policy();
    let now = SystemTime::now();
    let keyring = Keyring::new(Secret::generate(), now);
    let meta = RequestMeta {
        user_agent: Some(UA),
        client_hints: Default::default(),
        accept_language: Some("en-GB,en;q=0.9"),
        country: Some("US"),
        located: None,
    };
    let parse = || PageView::parse(example_page()).expect("valid page view");
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
    // What `/v1/decide` runs between the parsed body and the JSON answer: the one page-view pipeline.
    let book = personify::domain::consent::ConsentBook::default();
    let pipeline = Pipeline {
        extractor: &extractor,
        consent: &policy,
        keyring: &keyring,
        records: Records::Book(&book),
        pii_policy: settings.privacy.pii_policy,
    };
    group.bench_function("view/example", |b| {
        b.iter(|| {
            let view = pipeline
                .view(ViewInput {
                    page: example_page(),
                    visitor_id: Some("f3b1c9e0-7a4d-4c1e-9a55-1d2e3f4a5b6c"),
                    meta,
                    consent: ConsentStrings::default(),
                    client: None,
                    now,
                })
                .expect("valid page view");
            std::hint::black_box(view.decide(&rules, None).slots.len())
        })
    });
    group.finish();
}

/// The country of a browser's address, as `/v1/decide` looks it up without a country header: the
/// test database (`tests/fixtures/geo/country-v1.mmdb`) and the built-in table, IPv4 and IPv6, plus
/// an address that is never looked up. A lookup walks at most one tree node per address bit, so its
/// cost is bounded by the address length, not the database's size.
fn geo(c: &mut Criterion) {
    let mut settings = Settings::defaults().expect("defaults");
    settings.geo.mmdb_path = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/geo/country-v1.mmdb"));
    let database = Locator::open(&settings.geo).expect("the test database loads");
    settings.geo.mmdb_path = None;
    settings.geo.builtin = true;
    let builtin = Locator::open(&settings.geo).expect("the built-in table");
    let v4: IpAddr = "8.8.8.8".parse().expect("ip");
    let v6: IpAddr = "2001:4860:4860::8888".parse().expect("ip");
    let private: IpAddr = "10.1.2.3".parse().expect("ip");
    let mut group = c.benchmark_group("geo");
    group.measurement_time(Duration::from_secs(3));
    for (name, locator, ip) in [
        ("database_v4", &database, v4),
        ("database_v6", &database, v6),
        ("builtin_v4", &builtin, v4),
        ("builtin_v6", &builtin, v6),
        ("private_never_looked_up", &database, private),
    ] {
        group.bench_function(name, |b| b.iter(|| locator.locate(std::hint::black_box(ip))));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
