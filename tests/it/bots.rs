//! Bots are not visitors: crawler page views and conversions get answers (the defaults) but never
//! reach a sketch, a report, an experiment exposure or a k threshold.

use serde_json::{json, Value};

use crate::helpers::closed_day::{day_cell, ClosedDay};
use crate::helpers::machine::wait_for_flush;
use crate::helpers::*;

/// Crawlers as they present themselves, including the kinds that look like browsers.
const CRAWLERS: &[&str] = &[
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Scrapy/2.11.0 (+https://scrapy.org)",
    "Mozilla/5.0 (X11; Datanyze; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/65.0.3325.181 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 PTST/231120.151244",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
    "python-requests/2.31.0",
    "curl/8.5.0",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.216 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
];

const EXPERIMENT: &str = "mortgage_hero_2026q4";

/// The experiment's released arms and periods (what moves when exposures are counted; the days
/// left move with the clock).
async fn experiment_cells(app: &TestApp) -> Value {
    let report: Value = app
        .admin_get(&format!("/v1/admin/reports/experiments/{EXPERIMENT}"))
        .await
        .json()
        .await
        .unwrap();
    json!({"arms": report["analysis"]["arms"], "periods": report["periods"], "srm": report["analysis"]["srm"]})
}

async fn view(app: &TestApp, ua: &str, visitor: &str, url: &str, addr: &str) -> Value {
    let res = app
        .client
        .post(app.url("/v1/decide"))
        .header("User-Agent", ua)
        .header("CF-IPCountry", "US")
        .header("X-Forwarded-For", addr)
        .json(&json!({"page": {"url": url}, "visitor_id": visitor}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_thousand_crawler_page_views_leave_every_report_unchanged() {
    // The shipped rules plus a segment written for crawlers: bots matching it get it, uncounted.
    let rules = tempfile::tempdir().unwrap();
    for f in ["segments.toml", "content.toml"] {
        std::fs::copy(example_rules().join(f), rules.path().join(f)).unwrap();
    }
    write_rules(
        rules.path(),
        &[(
            "crawlers.toml",
            "[[segment]]\nid = \"crawlers\"\nname = \"Crawlers\"\ndescription = \"Automated clients.\"\n\
             when = { signal = \"device.class\", op = \"eq\", value = \"bot\" }\n",
        )],
    );
    let dir = rules.path().display().to_string();
    // Every client on a network of its own: counted crawlers would cross k and be released.
    let Some(mut day) = ClosedDay::start(&[
        ("PERSONIFY__PRIVACY__K", "1"),
        ("PERSONIFY__COUNTS__FLUSH_SECONDS", "1"),
        ("PERSONIFY__RULES__DIR", &dir),
        ("PERSONIFY__SERVER__CLIENT_IP_HEADER", "X-Forwarded-For"),
    ]) else {
        return;
    };
    let app = &day.app;
    // A few real visitors, so the reports have rows a bot could move.
    for i in 0..3 {
        let v = view(
            app,
            DESKTOP_UA,
            &format!("human-visitor-{i:02}-0123456789abcdef"),
            "https://bank.example/mortgages/fixed-rate",
            &format!("10.0.{i}.1"),
        )
        .await;
        assert_eq!(segment_ids(&v), ["mortgage_intent"]);
    }
    wait_for_flush().await;
    let before = experiment_cells(app).await;
    assert!(before["arms"].as_array().is_some_and(|a| !a.is_empty()), "{before}");
    assert_eq!(stored_units(app.data_dir.path(), EXPERIMENT, None).await, 3);

    let pages = [
        "https://bank.example/mortgages/fixed-rate",
        "https://bank.example/students/account",
        "https://bank.example/savings/isa",
        "https://bank.example/business/loans",
    ];
    for i in 0..1_000 {
        let ua = CRAWLERS[i % CRAWLERS.len()];
        let visitor = format!("crawler-visitor-{i:04}-0123456789abcdef");
        let addr = format!("10.{}.{}.7", 1 + i / 250, i % 250);
        let v = view(app, ua, &visitor, pages[i % pages.len()], &addr).await;
        // Decided (a segment is written for crawlers, so they get the full decision) but not counted.
        assert!(segment_ids(&v).contains(&"crawlers".to_string()), "{ua}: {v}");
        if i % 10 == 0 {
            let res = app
                .client
                .post(app.url("/v1/events"))
                .header("User-Agent", ua)
                .header("CF-IPCountry", "US")
                .header("X-Forwarded-For", &addr)
                .json(
                    &json!({"type": "conversion", "goal": "mortgage_application", "experiment": EXPERIMENT,
                              "page": {"url": pages[0]}, "visitor_id": visitor}),
                )
                .send()
                .await
                .unwrap();
            // A goal the rules do not declare is refused outright; a declared one is answered, uncounted.
            assert!(res.status().is_success() || res.status() == 400, "{}", res.status());
            if res.status().is_success() {
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["counted"], false, "{ua}: {body}");
            }
        }
    }
    wait_for_flush().await;
    assert_eq!(experiment_cells(app).await, before, "experiment report moved");
    assert_eq!(stored_units(app.data_dir.path(), EXPERIMENT, None).await, 3);
    assert_eq!(
        stored_units(app.data_dir.path(), EXPERIMENT, Some("mortgage_application")).await,
        0
    );

    day.next_morning();
    let report = day.day_report().await;
    // The humans are the positive control: counted and released beside the crawlers' nothing.
    assert_eq!(day_cell(&report, "mortgage_intent")["views"], 3, "{report}");
    assert_eq!(day_cell(&report, "mortgage_intent")["uniques"], 3, "{report}");
    for id in ["crawlers", "students", "savers", "small_business"] {
        assert_eq!(day_cell(&report, id)["views"], Value::Null, "{id}: {report}");
    }
}

#[tokio::test]
async fn crawlers_get_the_defaults_when_no_rule_is_written_for_them() {
    let app = spawn_app_with(|s| s.privacy.k = 1).await;
    let human = view(
        &app,
        DESKTOP_UA,
        "human-visitor-00-0123456789abcdef",
        "https://bank.example/mortgages/fixed-rate",
        "10.0.0.1",
    )
    .await;
    assert_eq!(segment_ids(&human), ["mortgage_intent"]);
    for ua in CRAWLERS {
        let v = view(
            &app,
            ua,
            "crawler-visitor-0000-0123456789abcdef",
            "https://bank.example/mortgages/fixed-rate",
            "10.0.0.2",
        )
        .await;
        assert!(segment_ids(&v).is_empty(), "{ua}: {v}");
        assert_eq!(variant(&v, "hero"), "generic", "{ua}: {v}");
        assert!(v["decisions"]["hero"].get("experiment").is_none(), "{ua}: {v}");
    }
}
