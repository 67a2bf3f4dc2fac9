//! `POST /v1/rtb/segments` with realistic bid requests: released with consent above k; withheld for
//! GPC, TCF refusal, GDPR without a string, 1YYN, GPP opt-out, a sensitive page, a segment below k;
//! bid requests as exchanges really send them (no scheme, no page, no device, app ids, DOOH) get 200.

use serde_json::{json, Value};

use crate::helpers::machine::wait_for_flush;
use crate::helpers::*;

const CHROME: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const RTB_TOKEN: &str = "rtb-partner-token-9c2";

fn fixture(kind: &str, name: &str) -> String {
    let text = std::fs::read_to_string(manifest_dir().join("tests/fixtures/consent_strings.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    all[kind]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()["string"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A server with k = 3 whose release set holds mortgage_intent (5 visitors) but not students.
async fn rtb_app() -> TestApp {
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(RTB_TOKEN.as_bytes()));
    let app = spawn_app_with(|s| {
        s.privacy.k = 3;
        // Seed visitors come from distinct networks (release needs k networks as well as k visitors).
        s.server.client_ip_header = Some(personify::config::HeaderName::from_static("x-forwarded-for"));
        s.counts.flush_seconds = 1;
        s.counts.release_refresh_seconds = 1;
        s.auth.tokens = vec![personify::config::TokenSettings {
            name: "ssp".into(),
            sha256: sha.parse().expect("token hash"),
            scopes: vec!["rtb".parse().expect("scope")],
        }];
    })
    .await;
    for i in 0..5 {
        let body = json!({"page": {"url": "https://bank.example/mortgages/fixed-rate"}, "visitor_id": vid(&format!("seed-{i}"))});
        let addr = format!("198.51.{i}.7");
        let res = app.decide_with(&body, Some("US"), &[("X-Forwarded-For", &addr)]).await;
        assert_eq!(res.status(), 200);
    }
    wait_for_flush().await;
    app
}

/// A web bid request on a bank.example page (OpenRTB 2.6 shape).
fn web(path: &str, regs: Value, user: Value) -> Value {
    json!({
        "id": "bid-7f3a",
        "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
        "site": {"id": "s1", "domain": "bank.example", "page": format!("https://bank.example{path}"), "ref": "https://www.google.com/",
                 "publisher": {"id": "pub-1"}},
        "device": {"ua": CHROME, "ip": "203.0.113.9", "geo": {"country": "USA", "lat": 40.7, "lon": -74.0}, "devicetype": 2},
        "user": user,
        "regs": regs,
        "tmax": 120
    })
}

async fn rtb(app: &TestApp, body: &Value) -> Value {
    let res = app
        .client
        .post(app.url("/v1/rtb/segments"))
        .bearer_auth(RTB_TOKEN)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// `(segment or "*" for a reason about the whole request, reason)`.
fn reasons(v: &Value) -> Vec<(String, String)> {
    v["personify"]["withheld"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["segment"].as_str().unwrap_or("*").to_string(),
                w["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn all(reason: &str) -> Vec<(String, String)> {
    vec![("*".to_string(), reason.to_string())]
}

#[tokio::test]
async fn released_with_consent_above_k_in_both_consent_locations() {
    let app = rtb_app().await;
    let v = rtb(
        &app,
        &web(
            "/mortgages/fixed-rate",
            json!({"gdpr": 0}),
            json!({"id": "buyer-uid-1"}),
        ),
    )
    .await;
    assert!(v.get("id").is_none(), "the request id is not echoed");
    assert_eq!(
        v["user"],
        json!({"data": [{"name": "personify.bank.example", "ext": {"segtax": 4}, "segment": [{"id": "1394"}]}]})
    );
    assert_eq!(
        v["site"],
        json!({"content": {"data": [{"name": "personify.bank.example", "ext": {"segtax": 7}, "segment": [{"id": "407"}]}]}})
    );
    assert_eq!(v["personify"]["released"], json!(["mortgage_intent"]));
    assert_eq!(v["personify"]["consent"]["basis"], "jurisdiction_opt_out");

    // EU with a full-consent TC string, in the 2.6 (user.consent) and 2.5 (user.ext.consent, regs.ext.gdpr) places.
    let tc = fixture("tcf", "full_consent_v2_2");
    let mut eu = web("/mortgages/fixed-rate", json!({"gdpr": 1}), json!({"consent": tc}));
    eu["device"]["geo"]["country"] = json!("DEU");
    assert_eq!(
        rtb(&app, &eu).await["personify"]["released"],
        json!(["mortgage_intent"])
    );
    let mut eu25 = web(
        "/mortgages/fixed-rate",
        json!({"ext": {"gdpr": 1}}),
        json!({"ext": {"consent": tc}}),
    );
    eu25["device"]["geo"]["country"] = json!("FRA");
    let v = rtb(&app, &eu25).await;
    assert_eq!(v["personify"]["released"], json!(["mortgage_intent"]));
    assert_eq!(v["personify"]["consent"]["basis"], "tcf");
}

#[tokio::test]
async fn withheld_for_every_kind_of_refusal() {
    let app = rtb_app().await;
    let page = "/mortgages/fixed-rate";
    let cases = [
        (
            web(page, json!({"ext": {"gpc": "1"}}), json!({})),
            "no_advertise_consent",
            "gpc",
        ),
        (
            web(
                page,
                json!({"gdpr": 1}),
                json!({"consent": fixture("tcf", "refuse_all_v2_3")}),
            ),
            "no_advertise_consent",
            "tcf",
        ),
        (
            web(page, json!({"gdpr": 1}), json!({})),
            "gdpr_without_consent_string",
            "jurisdiction_opt_in",
        ),
        (
            web(page, json!({"us_privacy": "1YYN"}), json!({})),
            "no_advertise_consent",
            "us_privacy",
        ),
        (
            web(page, json!({"ext": {"us_privacy": "1YYN"}}), json!({})),
            "no_advertise_consent",
            "us_privacy",
        ),
        (
            web(
                page,
                json!({"gpp": fixture("gpp", "usnat_sale_opt_out"), "gpp_sid": [7]}),
                json!({}),
            ),
            "no_advertise_consent",
            "gpp",
        ),
    ];
    for (body, reason, basis) in cases {
        let v = rtb(&app, &body).await;
        assert!(v.get("user").is_none() && v.get("site").is_none(), "{v}");
        // Without advertise: one reason, and which segments the page matched is not said.
        assert_eq!(reasons(&v), all(reason), "{body}");
        assert!(!v.to_string().contains("mortgage_intent"), "{v}");
        assert_eq!(v["personify"]["consent"]["basis"], basis, "{body}");
    }
    // Contextual consent (purpose 2) is enough for this contextual segment.
    let ctx = web(
        page,
        json!({"gdpr": 1}),
        json!({"consent": fixture("tcf", "contextual_only_v2_3")}),
    );
    assert_eq!(
        rtb(&app, &ctx).await["personify"]["released"],
        json!(["mortgage_intent"])
    );
}

#[tokio::test]
async fn sensitive_pages_and_small_segments_release_nothing() {
    let app = rtb_app().await;
    let v = rtb(
        &app,
        &web("/bereavement-support/registering-a-death", json!({}), json!({})),
    )
    .await;
    assert!(v.get("user").is_none());
    // A sensitive page is indistinguishable from a page no segment matches.
    assert_eq!(reasons(&v), all("no_segment"));
    assert!(
        !v.to_string().contains("bereavement") && !v.to_string().contains("sensitive"),
        "a sensitive page must never be named: {v}"
    );
    let plain = rtb(&app, &web("/contact-us", json!({}), json!({}))).await;
    assert_eq!(plain["personify"], v["personify"]);
    let v = rtb(&app, &web("/students/account", json!({}), json!({}))).await;
    assert!(v.get("user").is_none());
    assert_eq!(reasons(&v), [("students".to_string(), "below_k".to_string())]);
}

#[tokio::test]
async fn app_inventory_and_batches() {
    let app = rtb_app().await;
    let app_req = json!({"id": "app-1", "app": {"bundle": "com.bank.example", "storeurl": "https://play.google.com/store/apps/details?id=com.bank.example"},
                         "device": {"devicetype": 4, "geo": {"country": "USA"}, "ifa": "ab12cd34-0000-4000-8000-000000000000"}});
    let v = rtb(&app, &app_req).await;
    assert!(v.get("id").is_none());
    assert_eq!(v["personify"]["released"], json!([]));
    assert!(!v.to_string().contains("ab12cd34"));

    let batch =
        json!({"requests": [web("/mortgages/fixed-rate", json!({}), json!({})), {"site": {"page": 42}}, app_req]});
    let res = app
        .client
        .post(app.url("/v1/rtb/segments:batch"))
        .bearer_auth(RTB_TOKEN)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    let r = v["responses"].as_array().unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(r[0]["personify"]["released"], json!(["mortgage_intent"]));
    assert_eq!(r[1]["status"], 400);
    assert_eq!(r[1]["error"]["field"], "requests[1].site.page");
    // A batch item's error is the one the single route gives for the same bid request.
    let single: Value = app
        .client
        .post(app.url("/v1/rtb/segments"))
        .bearer_auth(RTB_TOKEN)
        .json(&json!({"site": {"page": 42}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r[1]["error"]["code"], single["error"]["code"]);
    assert_eq!(r[1]["error"]["message"], single["error"]["message"]);
    assert_eq!(
        r[2]["personify"]["released"],
        json!([]),
        "answers come in request order"
    );
    let too_many = json!({"requests": vec![json!({}); 101]});
    let res = app
        .client
        .post(app.url("/v1/rtb/segments:batch"))
        .bearer_auth(RTB_TOKEN)
        .json(&too_many)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn tokens_and_bad_input() {
    let app = rtb_app().await;
    let body = web("/mortgages", json!({}), json!({}));
    let res = app
        .client
        .post(app.url("/v1/rtb/segments"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .client
        .post(app.url("/v1/rtb/segments"))
        .bearer_auth("nope")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let post = |b: reqwest::Body| {
        app.client
            .post(app.url("/v1/rtb/segments"))
            .bearer_auth(RTB_TOKEN)
            .header("Content-Type", "application/json")
            .body(b)
            .send()
    };
    let res = post("{\"site\": ".into()).await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "malformed_json");
    for (b, field) in [
        (json!({"site": {"page": 5}}), "site.page"),
        (
            json!({"site": {"page": "https://bank.example/"}, "device": {"devicetype": "phone"}}),
            "device.devicetype",
        ),
        (
            json!({"site": {"page": "https://bank.example/"}, "regs": {"gpp_sid": "7"}}),
            "regs.gpp_sid",
        ),
        (json!({"id": 918273645}), "id"),
        (json!({"app": {"cat": "IAB3"}}), "app.cat"),
        (json!({"device": {"geo": {"country": 276}}}), "device.geo.country"),
        (json!({"device": {"sua": {"mobile": "yes-3141"}}}), "device.sua.mobile"),
        (json!({"user": {"ext": {"consent": 31415926}}}), "user.ext.consent"),
        // serde would read an array as a struct's fields in order: an object path refuses it.
        (json!({"site": ["https://bank.example/", "3141"]}), "site"),
        (json!({"device": {"geo": ["276"]}}), "device.geo"),
        (json!({"regs": {"ext": "3141"}}), "regs.ext"),
    ] {
        let res = post(b.to_string().into()).await.unwrap();
        assert_eq!(res.status(), 400, "{b}");
        let text = res.text().await.unwrap();
        let err: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(err["error"]["field"], field, "{b}");
        // The path is named, the value never echoed.
        for echo in ["918273645", "IAB3", "276", "3141", "31415926", "phone"] {
            assert!(!text.contains(echo), "{text}");
        }
    }
    for (b, field) in [("[1, 2]", "body"), ("\"bid\"", "body"), ("17", "body")] {
        let res = post(b.into()).await.unwrap();
        assert_eq!(res.status(), 400, "{b}");
        assert_eq!(res.json::<Value>().await.unwrap()["error"]["field"], field, "{b}");
    }
}

/// The answer to one bid request, asserting 200.
async fn ok(app: &TestApp, body: Value) -> Value {
    rtb(app, &body).await
}

#[tokio::test]
async fn bid_requests_as_exchanges_send_them_get_200_and_say_why_nothing_was_released() {
    let app = rtb_app().await;
    let us = json!({"geo": {"country": "USA"}});
    // site.page without a scheme is read as https.
    let v = ok(
        &app,
        json!({"id": "a", "site": {"page": "bank.example/mortgages/fixed-rate"}, "device": us}),
    )
    .await;
    assert_eq!(v["personify"]["released"], json!(["mortgage_intent"]), "{v}");
    let v = ok(
        &app,
        json!({"id": "b", "site": {"page": "//bank.example/mortgages/fixed-rate"}, "device": us}),
    )
    .await;
    assert_eq!(v["personify"]["released"], json!(["mortgage_intent"]), "{v}");
    // A site with only an id, and a request with nothing to read: no inventory.
    for body in [
        json!({"site": {"id": "s-102"}, "device": us}),
        json!({"site": {"id": "s-102", "content": {"id": "c1", "title": "News"}}, "device": us}),
        json!({"app": {"id": "app-77"}, "device": us}),
        json!({"imp": [{"id": "1"}], "device": us}),
    ] {
        let v = ok(&app, body.clone()).await;
        assert_eq!(reasons(&v), all("no_inventory"), "{body}");
        assert!(v["personify"]["warnings"].as_array().unwrap().is_empty(), "{v}");
    }
    // site.domain alone: host-level signals (the host is known, no path is guessed).
    let v = ok(&app, json!({"site": {"domain": "bank.example"}, "device": us})).await;
    assert_eq!(reasons(&v), all("no_segment"), "{v}");
    // An unusable page falls back to the domain, with a warning that names the field, not the value.
    let v = ok(
        &app,
        json!({"site": {"page": "ftp://bank.example/", "domain": "bank.example"}, "device": us}),
    )
    .await;
    assert_eq!(reasons(&v), all("no_segment"));
    let warnings = v["personify"]["warnings"].to_string();
    assert!(
        warnings.contains("site.page") && !warnings.contains("ftp"),
        "{warnings}"
    );
    // App inventory by bundle, domain or numeric store id; DOOH venues; no device at all.
    for body in [
        json!({"app": {"bundle": "com.bank.example", "cat": ["IAB13"]}}),
        json!({"app": {"bundle": "1234567890", "domain": "bank.example"}}),
        json!({"dooh": {"id": "d1", "venuetype": ["transit_airports"], "domain": "screens.example"}}),
    ] {
        let v = ok(&app, body.clone()).await;
        // No device: the device class is unknown, and the request still gets an answer.
        assert_eq!(reasons(&v), all("no_advertise_consent"), "{body}");
        assert_eq!(v["personify"]["consent"]["basis"], "jurisdiction_opt_in", "{body}");
    }
    let v = ok(
        &app,
        json!({"dooh": {"id": "d1", "domain": "screens.example"}, "device": us}),
    )
    .await;
    assert_eq!(reasons(&v), all("no_segment"), "{v}");
}

#[tokio::test]
async fn country_codes_are_read_in_alpha_2_and_alpha_3_in_any_case() {
    let app = rtb_app().await;
    let page = "https://bank.example/mortgages/fixed-rate";
    for (country, released) in [
        ("USA", true),
        ("usa", true),
        ("US", true),
        ("us", true),
        ("DEU", false),
        ("de", false),
        ("Gb", false),
        ("TST", false),
        ("", false),
    ] {
        let v = ok(
            &app,
            json!({"site": {"page": page}, "device": {"geo": {"country": country}}}),
        )
        .await;
        let got = v["personify"]["released"] == json!(["mortgage_intent"]);
        assert_eq!(got, released, "{country}: {v}");
    }
}

#[tokio::test]
async fn a_server_caller_is_believed_on_the_body_country_not_on_a_country_header() {
    let app = rtb_app().await;
    // The rtb token makes this a server-to-server call: device.geo.country is the visitor's country,
    // and a country header the caller happens to send changes nothing.
    let body = web("/mortgages/fixed-rate", json!({"gdpr": 0}), json!({}));
    let res = app
        .client
        .post(app.url("/v1/rtb/segments"))
        .bearer_auth(RTB_TOKEN)
        .header("CF-IPCountry", "DE")
        .json(&body)
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["personify"]["released"], json!(["mortgage_intent"]), "{v}");
    let mut de = body.clone();
    de["device"]["geo"]["country"] = json!("DEU");
    let v = ok(&app, de).await;
    assert_eq!(reasons(&v), all("no_advertise_consent"), "{v}");
}

#[tokio::test]
async fn google_consent_mode_in_regs_ext_withholds_advertise_and_never_grants_it() {
    let app = rtb_app().await;
    let mode = |m: Value| {
        web(
            "/mortgages/fixed-rate",
            json!({"ext": {"google_consent_mode": m}}),
            json!({}),
        )
    };
    for denied in [
        json!({"ad_user_data": "denied"}),
        json!({"ad_personalization": "denied"}),
    ] {
        let v = rtb(&app, &mode(denied.clone())).await;
        assert_eq!(v["personify"]["released"], json!([]), "{denied}");
        assert_eq!(v["personify"]["consent"]["advertise"], false, "{denied}");
        assert_eq!(v["personify"]["consent"]["basis"], "google_consent_mode", "{denied}");
    }
    // ad_storage is about the page's ad cookies: personify stores none, so it withholds nothing.
    let v = rtb(&app, &mode(json!({"ad_storage": "denied", "wait_for_update": 500}))).await;
    assert_eq!(v["personify"]["released"], json!(["mortgage_intent"]));
    // Granted everything where GDPR applies, without a TC string: still nothing.
    let mut eu = web(
        "/mortgages/fixed-rate",
        json!({"gdpr": 1, "ext": {"google_consent_mode": {"ad_user_data": "granted", "ad_personalization": "granted"}}}),
        json!({}),
    );
    eu["device"]["geo"]["country"] = json!("DEU");
    let v = rtb(&app, &eu).await;
    assert_eq!(v["personify"]["released"], json!([]));
    assert_eq!(v["personify"]["consent"]["basis"], "jurisdiction_opt_in");
    // A state gtag never holds is the wrong value, refused naming its path.
    let res = app
        .client
        .post(app.url("/v1/rtb/segments"))
        .bearer_auth(RTB_TOKEN)
        .json(&mode(json!({"ad_user_data": "no"})))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["field"], "regs.ext.google_consent_mode.ad_user_data");
}
