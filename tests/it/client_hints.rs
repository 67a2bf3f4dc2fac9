//! `/v1/decide` reads the User-Agent Client Hints browsers send by default: an Android tablet behind
//! Chrome's reduced User-Agent is a tablet, a smart TV stays a TV, whatever the hints say.

use serde_json::{json, Value};

use crate::helpers::*;

const REDUCED_ANDROID: &str =
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
const SMART_TV: &str = "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36";

async fn segments(app: &TestApp, ua: &str, hints: &[(&str, &str)]) -> Vec<String> {
    let mut req = app
        .client
        .post(app.url("/v1/decide"))
        .header("User-Agent", ua)
        .header("CF-IPCountry", "US")
        .json(&json!({"page": {"url": "https://bank.example/"}}));
    for (k, v) in hints {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    segment_ids(&v)
}

#[tokio::test]
async fn client_hints_refine_the_device_class_rules_see() {
    let rules = tempfile::tempdir().unwrap();
    let seg = |id: &str, class: &str| {
        format!(
            "[[segment]]\nid = \"{id}\"\nname = \"{id}\"\ndescription = \"Device class {class}.\"\n\
             when = {{ signal = \"device.class\", op = \"eq\", value = \"{class}\" }}\n"
        )
    };
    let text = [
        seg("on_tablet", "tablet"),
        seg("on_mobile", "mobile"),
        seg("on_tv", "tv"),
    ]
    .join("\n");
    write_rules(rules.path(), &[("devices.toml", &text)]);
    let dir = rules.path().to_path_buf();
    let app = spawn_app_with(move |s| s.rules.dir = dir).await;

    assert_eq!(segments(&app, REDUCED_ANDROID, &[]).await, ["on_mobile"]);
    let tablet = [("Sec-CH-UA-Mobile", "?0"), ("Sec-CH-UA-Platform", "\"Android\"")];
    assert_eq!(segments(&app, REDUCED_ANDROID, &tablet).await, ["on_tablet"]);
    let phone = [("Sec-CH-UA-Mobile", "?1"), ("Sec-CH-UA-Platform", "\"Android\"")];
    assert_eq!(segments(&app, REDUCED_ANDROID, &phone).await, ["on_mobile"]);
    assert_eq!(segments(&app, SMART_TV, &phone).await, ["on_tv"]);
}
