//! Bots are not visitors: crawler page views and conversions get answers (the defaults) but never
//! reach a sketch, a report, an experiment exposure or a k threshold.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

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

async fn reports(app: &TestApp) -> (Value, Value) {
    let range = "from=2000-01-01&to=2100-01-01";
    let segments: Value = app
        .admin_get(&format!("/v1/admin/reports/segments?{range}"))
        .await
        .json()
        .await
        .unwrap();
    let experiment: Value = app
        .admin_get(&format!("/v1/admin/reports/experiments/{EXPERIMENT}?{range}"))
        .await
        .json()
        .await
        .unwrap();
    (segments, experiment)
}

async fn view(app: &TestApp, ua: &str, visitor: &str, url: &str) -> Value {
    let res = app
        .client
        .post(app.url("/v1/decide"))
        .header("User-Agent", ua)
        .header("CF-IPCountry", "US")
        .json(&json!({"page": {"url": url}, "visitor_id": visitor}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_thousand_crawler_page_views_leave_every_report_unchanged() {
    let app = spawn_app_with(|s| {
        s.privacy.k = 1;
        s.counts.flush_seconds = 1;
    })
    .await;
    // A few real visitors, so the reports have rows a bot could move.
    for i in 0..3 {
        let v = view(
            &app,
            DESKTOP_UA,
            &format!("human-visitor-{i:02}-0123456789abcdef"),
            "https://bank.example/mortgages/fixed-rate",
        )
        .await;
        assert_eq!(segment_ids(&v), ["mortgage_intent"]);
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let before = reports(&app).await;
    assert!(before.0.to_string().contains("mortgage_intent"), "{}", before.0);

    let pages = [
        "https://bank.example/mortgages/fixed-rate",
        "https://bank.example/students/account",
        "https://bank.example/savings/isa",
        "https://bank.example/business/loans",
    ];
    for i in 0..1_000 {
        let ua = CRAWLERS[i % CRAWLERS.len()];
        let visitor = format!("crawler-visitor-{i:04}-0123456789abcdef");
        let v = view(&app, ua, &visitor, pages[i % pages.len()]).await;
        // Decided (the defaults, no segments) but not counted.
        assert!(segment_ids(&v).is_empty(), "{ua}: {v}");
        let hero = &v["decisions"]["hero"];
        assert!(hero.get("experiment").is_none(), "{ua}: {v}");
        if i % 10 == 0 {
            let res = app
                .client
                .post(app.url("/v1/events"))
                .header("User-Agent", ua)
                .header("CF-IPCountry", "US")
                .json(&json!({"type": "conversion", "goal": "mortgage_application", "experiment": EXPERIMENT,
                              "page": {"url": pages[0]}, "visitor_id": visitor}))
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
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = reports(&app).await;
    assert_eq!(after.0, before.0, "segment report moved");
    assert_eq!(after.1, before.1, "experiment report moved");
}
