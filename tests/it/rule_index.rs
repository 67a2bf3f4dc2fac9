//! The segment index answers exactly what evaluating every rule answers, on the example rules and on
//! a generated set of 600 segments, for page views drawn from the values those rules name.

use std::path::Path;

use personify::domain::rules::generate::generate;
use personify::domain::rules::load::load_sources;
use personify::domain::rules::{load_dir, RuleSet};
use personify::domain::signals::{Campaign, Country, DeviceClass, LocalTime, SessionSummary, Signals};
use proptest::prelude::*;

fn pick(words: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(0.8, prop::sample::select(words).prop_map(str::to_string))
}

fn numbered(prefix: &'static str, suffix: &'static str) -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(0.7, (0usize..700).prop_map(move |n| format!("{prefix}{n}{suffix}")))
}

fn signals() -> impl Strategy<Value = Signals> {
    let path = prop_oneof![
        (0usize..700, "[a-z0-9/-]{0,8}").prop_map(|(n, rest)| Some(format!("/c/cat{n}{rest}"))),
        (0usize..700).prop_map(|n| Some(format!("/guides/cat{n}"))),
        pick(&[
            "/",
            "/mortgages",
            "/mortgages/first-time-buyers/guide",
            "/tools/mortgage-calculator",
            "/savings/isa",
            "/bereavement-support",
            "/business/loans",
            "/students",
            "/c/caté/ü",
        ]),
    ];
    let referrer = prop_oneof![
        numbered("www.partner", ".example"),
        pick(&[
            "www.google.com",
            "www.uswitch.com",
            "moneysupermarket.com",
            "bank.example",
            "ex.ample"
        ]),
    ];
    let campaign = (
        prop_oneof![
            numbered("network_", ""),
            numbered("partner", ""),
            pick(&["google", "newsletter"])
        ],
        pick(&["cpc", "email", "comparison"]),
        prop_oneof![numbered("campaign_", ""), pick(&["isa_season_2027", "ftb_guide_2027"])],
    )
        .prop_map(|(source, medium, name)| Campaign {
            source,
            medium,
            name,
            ..Campaign::default()
        });
    let session = prop::option::of((
        0u32..10,
        prop::collection::vec(
            prop_oneof![
                (0usize..700).prop_map(|n| format!("topic_{n}")),
                prop::sample::select(vec![
                    "savings".to_string(),
                    "first_time_buyer".to_string(),
                    "business".to_string()
                ]),
            ],
            0..4,
        ),
        any::<bool>(),
    ))
    .prop_map(|s| {
        s.map(|(pages_viewed, categories, returning)| SessionSummary {
            pages_viewed,
            categories,
            returning,
        })
    });
    (
        path,
        referrer,
        campaign,
        numbered("category_", ""),
        session,
        prop::option::of((0u8..24, 0u8..7)),
        pick(&["en", "de", "fr", "es"]),
        prop::option::of(prop::sample::select(vec![
            DeviceClass::Desktop,
            DeviceClass::Mobile,
            DeviceClass::Tablet,
        ])),
        pick(&["GB", "US", "DE"]),
    )
        .prop_map(
            |(page_path, referrer_host, campaign, page_category, session, time, lang, device, country)| Signals {
                page_host: Some("shop.example".into()),
                page_path,
                referrer_host,
                campaign,
                page_category,
                session,
                time: time.map(|(hour, weekday)| LocalTime { hour, weekday }),
                lang,
                device,
                country: country.as_deref().and_then(Country::parse),
                ..Signals::default()
            },
        )
}

fn same_answer(rules: &RuleSet, s: &Signals) -> Result<(), TestCaseError> {
    let indexed: Vec<usize> = rules.match_segments(s).iter().collect();
    let exhaustive: Vec<usize> = rules.match_segments_exhaustive(s).iter().collect();
    prop_assert_eq!(indexed, exhaustive, "signals: {:?}", s);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn index_equals_exhaustive_on_a_generated_set(s in signals()) {
        thread_local! {
            static RULES: RuleSet = load_sources(&generate(600, 11)).expect("generated rules load");
        }
        RULES.with(|rules| same_answer(rules, &s))?;
    }

    #[test]
    fn index_equals_exhaustive_on_the_example_rules(s in signals()) {
        thread_local! {
            static RULES: RuleSet = load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("segment_rules"))
                .expect("example rules load");
        }
        RULES.with(|rules| same_answer(rules, &s))?;
    }
}

#[test]
fn generated_page_views_match_only_a_few_of_a_thousand_segments() {
    let rules = load_sources(&generate(1_000, 11)).expect("generated rules load");
    let s = Signals {
        page_path: Some("/c/cat1/item-9".into()),
        device: Some(DeviceClass::Mobile),
        ..Signals::default()
    };
    let m = rules.match_segments(&s);
    assert!(
        m.iter().any(|i| rules.segments[i].id == "seg_1"),
        "the path family matches"
    );
    assert!(m.len() < 20, "{} matches", m.len());
}
