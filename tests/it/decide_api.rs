//! `POST /v1/decide` end to end: realistic page views of the example bank against the real server.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn mortgage_page_from_search_gets_mortgage_intent_and_the_hero_experiment() {
    let app = spawn_app().await;
    let body = json!({
        "page": { "url": "https://bank.example/mortgages/fixed-rate?utm_source=google&utm_medium=cpc", "referrer": "https://www.google.co.uk/" },
        "visitor_id": "f3b1c9e0-7a4d-4c1e-9a55-1d2e3f4a5b6c",
        "tz_offset_minutes": 60
    });
    let v = app.decide_ok(&body).await;
    assert_eq!(segment_ids(&v), ["mortgage_intent"]);
    let hero = &v["decisions"]["hero"];
    assert_eq!(hero["experiment"]["id"], "mortgage_hero_2026q4");
    let arm = hero["experiment"]["arm"].as_str().unwrap();
    assert!(
        ["mortgage_rates", "mortgage_calculator", "holdout"].contains(&arm),
        "{arm}"
    );
    let expected_variant = if arm == "holdout" { "generic" } else { arm };
    assert_eq!(hero["variant"], expected_variant);
    assert_eq!(variant(&v, "sidebar"), "mortgage_advisor_callback");
    assert_eq!(v["rules_version"], app.rules_version);
    assert!(v["rules_version"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(
        v["consent"],
        json!({"personalize": true, "measure": true, "advertise": true, "basis": "jurisdiction_opt_out"})
    );
    assert_eq!(v["warnings"], json!([]));
    // The same visitor lands in the same arm on every page view.
    for _ in 0..5 {
        let again = app.decide_ok(&body).await;
        assert_eq!(again["decisions"]["hero"], v["decisions"]["hero"]);
    }
}

#[tokio::test]
async fn each_example_segment_is_reached_by_a_realistic_page_view() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"page": {"url": "https://bank.example/mortgages/first-time-buyers/deposit-guide"}}),
            "first_time_buyers",
            "ftb_guide",
            "mortgage_advisor_callback",
        ),
        (
            json!({"page": {"url": "https://bank.example/mortgages/remortgage", "referrer": "https://bank.example/"}, "session": {"pages_viewed": 3, "categories": ["first_time_buyer"], "returning": false}}),
            "first_time_buyers",
            "ftb_guide",
            "mortgage_advisor_callback",
        ),
        (
            json!({"page": {"url": "https://bank.example/savings/easy-access-isa", "referrer": "https://duckduckgo.com/"}}),
            "savers",
            "savings_isa",
            "savings_calculator",
        ),
        (
            json!({"page": {"url": "https://bank.example/students/account"}}),
            "students",
            "student_account",
            "generic_help",
        ),
        (
            json!({"page": {"url": "https://bank.example/business/current-account", "referrer": "https://www.linkedin.com/"}}),
            "small_business",
            "business_account",
            "business_support",
        ),
        (
            json!({"page": {"url": "https://bank.example/", "referrer": "https://www.moneysupermarket.com/savings/"}}),
            "comparison_site_arrivals",
            "comparison_welcome",
            "generic_help",
        ),
        (
            json!({"page": {"url": "https://bank.example/?utm_source=newsletter&utm_medium=email&utm_campaign=ISA_Season_2027"}}),
            "isa_season_campaign",
            "isa_campaign",
            "generic_help",
        ),
        (
            json!({"page": {"url": "https://bank.example/help/opening-hours"}, "session": {"pages_viewed": 5, "categories": ["current_accounts"], "returning": true}}),
            "returning_researchers",
            "generic",
            "researcher_advice",
        ),
        (
            json!({"page": {"url": "https://bank.example/"}, "session": {"pages_viewed": 1, "categories": ["savings"], "returning": false}}),
            "savers",
            "savings_isa",
            "savings_calculator",
        ),
    ];
    for (body, segment, hero, sidebar) in cases {
        let v = app.decide_ok(&body).await;
        assert_eq!(segment_ids(&v)[0], segment, "{body}");
        assert_eq!(variant(&v, "hero"), hero, "{body}");
        assert_eq!(variant(&v, "sidebar"), sidebar, "{body}");
    }
}

#[tokio::test]
async fn bereavement_page_without_explicit_consent_gets_no_personalisation_at_all() {
    let app = spawn_app().await;
    // A returning visitor on the bereavement page would otherwise also match returning_researchers.
    let body = json!({"page": {"url": "https://bank.example/bereavement-support/registering-a-death"}, "session": {"pages_viewed": 4, "returning": true}});
    let v = app.decide_ok(&body).await;
    assert_eq!(segment_ids(&v), Vec::<String>::new());
    assert_eq!(variant(&v, "hero"), "generic");
    assert_eq!(variant(&v, "sidebar"), "generic_help");
}

#[tokio::test]
async fn unknown_country_and_eu_get_the_opt_in_default() {
    let app = spawn_app().await;
    let body = page("https://bank.example/mortgages/fixed-rate");
    for country in [None, Some("XX"), Some("DE"), Some("GB")] {
        let res = app.decide(&body, country).await;
        assert_eq!(res.status(), 200);
        let v: serde_json::Value = res.json().await.unwrap();
        assert_eq!(
            v["consent"],
            json!({"personalize": false, "measure": false, "advertise": false, "basis": "jurisdiction_opt_in"}),
            "{country:?}"
        );
        assert_eq!(segment_ids(&v), Vec::<String>::new());
        assert_eq!(variant(&v, "hero"), "generic");
        assert!(v["decisions"]["hero"].get("experiment").is_none());
        assert_eq!(variant(&v, "sidebar"), "generic_help");
    }
}

#[tokio::test]
async fn gpc_denies_advertise_but_keeps_first_party_content() {
    let app = spawn_app().await;
    let body = page("https://bank.example/savings/fixed-rate-bonds");
    let v: serde_json::Value = app
        .decide_with(&body, Some("US"), &[("Sec-GPC", "1")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["consent"],
        json!({"personalize": true, "measure": true, "advertise": false, "basis": "gpc"})
    );
    assert_eq!(segment_ids(&v), ["savers"]);
    // Only exactly "1" is a GPC signal.
    let v: serde_json::Value = app
        .decide_with(&body, Some("US"), &[("Sec-GPC", "true")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["consent"]["basis"], "jurisdiction_opt_out");
}

#[tokio::test]
async fn slots_limit_the_answer_and_unknown_slots_are_warned_about() {
    let app = spawn_app().await;
    let body = json!({"page": {"url": "https://bank.example/savings"}, "slots": ["sidebar", "footer"]});
    let v = app.decide_ok(&body).await;
    assert_eq!(
        v["decisions"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["sidebar"]
    );
    assert_eq!(v["warnings"][0]["code"], "unknown_slot");
    assert_eq!(v["warnings"][0]["field"], "slots[1]");
}

#[tokio::test]
async fn personal_data_in_signals_is_scrubbed_and_never_echoed() {
    let app = spawn_app().await;
    let body = json!({
        "page": { "url": "https://bank.example/mortgages/jane.doe%40example.com?utm_campaign=4111111111111111", "category": "+44 20 7946 0958" },
        "session": {"pages_viewed": 2, "categories": ["savings", "GB82 WEST 1234 5698 7654 32"], "returning": false}
    });
    let res = app.decide(&body, Some("US")).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    for secret in ["jane.doe", "example.com", "4111", "7946", "WEST"] {
        assert!(!text.contains(secret), "response echoes {secret}: {text}");
    }
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let fields: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["page.url", "page.category", "page.url", "session.categories[1]"],
        "{v}"
    );
    assert!(v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["code"] == "pii_scrubbed"));
    // The path was dropped, so the mortgage segment cannot match on it.
    assert!(!segment_ids(&v).contains(&"mortgage_intent".to_string()));
}

#[tokio::test]
async fn reject_policy_answers_400_naming_the_field() {
    let app = spawn_app_with(|s| s.privacy.pii_policy = personify::domain::signals::pii::PiiPolicy::Reject).await;
    let res = app
        .decide(
            &json!({"page": {"url": "https://bank.example/", "category": "jane@example.com"}}),
            Some("US"),
        )
        .await;
    assert_eq!(res.status(), 400);
    let text = res.text().await.unwrap();
    assert!(!text.contains("jane"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"]["code"], "personal_data");
    assert_eq!(v["error"]["field"], "page.category");
    let res = app
        .decide(
            &json!({"page": {"url": "https://bank.example/"}, "visitor_id": "jane@example.com"}),
            Some("US"),
        )
        .await;
    assert_eq!(res.status(), 400);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["error"]["field"], "visitor_id");
}

#[tokio::test]
async fn devices_languages_and_local_time_become_signals() {
    // One segment per signal, so the segments answered show what the server extracted.
    let rules = tempfile::tempdir().unwrap();
    let seg = |id: &str, signal: &str, op: &str, value: &str| {
        format!(
            "[[segment]]\nid = \"{id}\"\nname = \"{id}\"\ndescription = \"Reads {signal}.\"\n\
             when = {{ signal = \"{signal}\", op = \"{op}\", value = {value} }}\n"
        )
    };
    // UTC-5 (tz_offset_minutes is minutes east of UTC): the local hour and weekday the server
    // should compute, read just before the request (retried once if the hour turns in between).
    let local = || {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            - 300 * 60;
        let weekday = ["thu", "fri", "sat", "sun", "mon", "tue", "wed"][(secs / 86_400).rem_euclid(7) as usize];
        ((secs / 3600).rem_euclid(24), weekday)
    };
    let (hour, weekday) = local();
    let text = [
        seg("on_mobile", "device.class", "eq", "\"mobile\""),
        seg("on_desktop", "device.class", "eq", "\"desktop\""),
        seg("speaks_french", "lang", "eq", "\"fr\""),
        seg("speaks_german", "lang", "eq", "\"de\""),
        seg("this_hour", "time.hour", "eq", &hour.to_string()),
        seg("this_weekday", "time.weekday", "eq", &format!("\"{weekday}\"")),
    ]
    .join("\n");
    write_rules(rules.path(), &[("signals.toml", &text)]);
    let dir = rules.path().to_path_buf();
    let app = spawn_app_with(move |s| s.rules.dir = dir).await;
    let body = json!({"site": "bank.example", "page": {"url": "https://bank.example/students", "referrer": "android-app://com.google.android.gm/"}, "tz_offset_minutes": -300});
    let mut answer = None;
    for _ in 0..2 {
        let res = app
            .decide_with(
                &body,
                Some("US"),
                &[("User-Agent", IPHONE_UA), ("Accept-Language", "fr-CA,fr;q=0.9")],
            )
            .await;
        assert_eq!(res.status(), 200);
        answer = Some(res.json::<serde_json::Value>().await.unwrap());
        if local() == (hour, weekday) {
            break;
        }
    }
    let v = answer.unwrap();
    assert_eq!(
        segment_ids(&v),
        ["on_mobile", "speaks_french", "this_hour", "this_weekday"],
        "an iPhone, French first, at {hour}h on {weekday} in UTC-5: {v}"
    );
    assert_eq!(v["warnings"][0]["code"], "referrer_ignored");
    assert_eq!(v["warnings"][0]["field"], "page.referrer");
}
