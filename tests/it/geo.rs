//! The visitor's country from their address: a browser request (with `Origin`, without a token) that
//! carries no country header gets the default of the country its address is in, once a source is
//! configured. The databases are `tests/fixtures/geo/` (made by `make.py` there): 8.8.8.0/24 and
//! 2001:4860::/32 in the US (opt-out), 85.214.0.0/16 and 2a01:238::/32 in Germany (opt-in), and
//! private, loopback, CGNAT and documentation ranges mapped to the US as traps.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{manifest_dir, page, spawn_app_with, TestApp, ADMIN_TOKEN, DESKTOP_UA};

const ORIGIN: &str = "https://www.bank.example";
const US_V4: &str = "8.8.8.8";
const US_V6: &str = "2001:4860:4860::8888";
const DE_V4: &str = "85.214.132.117";
const DE_V6: &str = "2a01:238:20a:202::1";

fn fixture(name: &str) -> PathBuf {
    manifest_dir().join("tests/fixtures/geo").join(name)
}

/// A server whose client address comes from `X-Forwarded-For` (the test client is 127.0.0.1, a
/// trusted proxy) and whose pages are on [`ORIGIN`], with `adjust` on top.
async fn app(adjust: impl FnOnce(&mut personify::config::Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.server.client_ip_header = Some(personify::config::HeaderName::from_static("x-forwarded-for"));
        s.cors.allowed_origins = vec![ORIGIN.parse().expect("origin")];
        adjust(s);
    })
    .await
}

async fn with_database(name: &str) -> TestApp {
    let path = fixture(name);
    app(|s| s.geo.mmdb_path = Some(path)).await
}

/// The `consent` of a decide answer for a request from `address` with `headers`.
async fn consent(app: &TestApp, address: &str, headers: &[(&str, &str)]) -> Value {
    let mut req = app
        .client
        .post(app.url("/v1/decide"))
        .header("User-Agent", DESKTOP_UA)
        .header("X-Forwarded-For", address)
        .json(&page("https://bank.example/savings"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("request sent");
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.expect("json")["consent"].clone()
}

async fn basis(app: &TestApp, address: &str, headers: &[(&str, &str)]) -> String {
    consent(app, address, headers).await["basis"]
        .as_str()
        .expect("basis")
        .to_string()
}

const BROWSER: &[(&str, &str)] = &[("Origin", ORIGIN)];

#[tokio::test]
async fn a_browser_without_a_country_header_gets_its_address_countrys_default() {
    let app = with_database("country-v1.mmdb").await;
    for us in [US_V4, US_V6] {
        let c = consent(&app, us, BROWSER).await;
        assert_eq!(c["basis"], "jurisdiction_opt_out", "{us}: {c}");
        assert_eq!(c["personalize"], true, "{us}: {c}");
    }
    for de in [DE_V4, DE_V6] {
        let c = consent(&app, de, BROWSER).await;
        assert_eq!(c["basis"], "jurisdiction_opt_in", "{de}: {c}");
        assert_eq!(c["personalize"], false, "{de}: {c}");
    }
}

#[tokio::test]
async fn without_a_client_address_header_the_loopback_peer_is_not_looked_up() {
    // 127.0.0.1 is loopback: never looked up, even though the database maps it to the US.
    let app = app(|s| {
        s.server.client_ip_header = None;
        s.geo.mmdb_path = Some(fixture("country-v1.mmdb"));
    })
    .await;
    assert_eq!(basis(&app, US_V4, BROWSER).await, "jurisdiction_opt_in");
}

#[tokio::test]
async fn server_callers_are_never_looked_up() {
    let app = with_database("country-v1.mmdb").await;
    // Without Origin: a frontend server in a US data centre, calling for visitors from anywhere.
    assert_eq!(basis(&app, US_V4, &[]).await, "jurisdiction_opt_in");
    assert_eq!(basis(&app, US_V6, &[]).await, "jurisdiction_opt_in");
    // With a token, even with Origin (an OFREP server provider, a proxy forwarding both).
    let token = format!("Bearer {ADMIN_TOKEN}");
    let with_token = [("Origin", ORIGIN), ("Authorization", token.as_str())];
    assert_eq!(basis(&app, US_V4, &with_token).await, "jurisdiction_opt_in");
}

#[tokio::test]
async fn private_loopback_cgnat_and_reserved_addresses_are_unknown() {
    // The database maps each of these to the US: a lookup would show as the opt-out default.
    let app = with_database("country-v1.mmdb").await;
    for address in [
        "10.1.2.3",
        "100.64.7.8",
        "127.0.0.2",
        "169.254.1.1",
        "172.16.5.5",
        "192.168.1.1",
        "198.51.100.7",
        "fd00::1",
        "fe80::1",
        "2001:db8::1",
    ] {
        assert_eq!(basis(&app, address, BROWSER).await, "jurisdiction_opt_in", "{address}");
    }
}

#[tokio::test]
async fn a_trusted_country_header_wins_even_when_it_says_unknown() {
    let app = with_database("country-v1.mmdb").await;
    let us_header = [("Origin", ORIGIN), ("CF-IPCountry", "US")];
    assert_eq!(basis(&app, DE_V4, &us_header).await, "jurisdiction_opt_out");
    for unknown in ["XX", "T1"] {
        let headers = [("Origin", ORIGIN), ("CF-IPCountry", unknown)];
        assert_eq!(basis(&app, US_V4, &headers).await, "jurisdiction_opt_in", "{unknown}");
    }
}

#[tokio::test]
async fn with_the_defaults_nothing_is_looked_up() {
    let app = app(|_| {}).await;
    for address in [US_V4, US_V6] {
        assert_eq!(basis(&app, address, BROWSER).await, "jurisdiction_opt_in", "{address}");
    }
}

#[tokio::test]
async fn the_builtin_table_is_used_only_when_turned_on_and_after_the_database() {
    // 1.0.16.1 is not in the test database; the registries give it to Japan (opt-out).
    let off = with_database("country-v1.mmdb").await;
    assert_eq!(basis(&off, "1.0.16.1", BROWSER).await, "jurisdiction_opt_in");
    let on = app(|s| {
        s.geo.mmdb_path = Some(fixture("country-v1.mmdb"));
        s.geo.builtin = true;
    })
    .await;
    assert_eq!(basis(&on, "1.0.16.1", BROWSER).await, "jurisdiction_opt_out");
    // The database comes first: 85.214.0.0/16 is German in it, whatever the registries say.
    assert_eq!(basis(&on, DE_V4, BROWSER).await, "jurisdiction_opt_in");
}

#[tokio::test]
async fn a_page_calling_rtb_is_looked_up_and_a_server_with_the_token_is_believed_on_its_body() {
    let app = with_database("country-v1.mmdb").await;
    let bid = json!({"id": "r1", "imp": [{"id": "1"}],
        "site": {"page": "https://bank.example/mortgages/first-time-buyers"}, "device": {"ua": DESKTOP_UA}});
    let call = |headers: Vec<(&'static str, String)>| {
        let mut req = app
            .client
            .post(app.url("/v1/rtb/segments"))
            .header("X-Forwarded-For", US_V4)
            .json(&bid);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move {
            let res = req.send().await.expect("request sent");
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.expect("json")["personify"]["consent"]["basis"].clone()
        }
    };
    assert_eq!(call(vec![("Origin", ORIGIN.into())]).await, "jurisdiction_opt_out");
    let token = vec![("Authorization", format!("Bearer {ADMIN_TOKEN}"))];
    assert_eq!(call(token).await, "jurisdiction_opt_in", "no geo in the body: unknown");
}

#[tokio::test]
async fn the_database_is_reloaded_when_its_file_changes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("country.mmdb");
    std::fs::copy(fixture("country-v1.mmdb"), &path).expect("copy");
    let app = app(|s| s.geo.mmdb_path = Some(path.clone())).await;
    assert_eq!(basis(&app, US_V4, BROWSER).await, "jurisdiction_opt_out");

    // A bad file first: the previous database keeps serving.
    let next = dir.path().join("next.mmdb");
    std::fs::write(&next, b"not a database").expect("write");
    std::fs::rename(&next, &path).expect("rename");
    wait_for_metric(&app, "personify_geo_database_reloads_total{result=\"failed\"} 1").await;
    assert_eq!(basis(&app, US_V4, BROWSER).await, "jurisdiction_opt_out");

    // Then the new version, renamed over the old as operators do: 8.8.8.0/24 is now German.
    std::fs::copy(fixture("country-v2.mmdb"), &next).expect("copy");
    std::fs::rename(&next, &path).expect("rename");
    wait_for_metric(&app, "personify_geo_database_reloads_total{result=\"ok\"} 1").await;
    assert_eq!(basis(&app, US_V4, BROWSER).await, "jurisdiction_opt_in");
    assert_eq!(basis(&app, US_V6, BROWSER).await, "jurisdiction_opt_in");
}

async fn wait_for_metric(app: &TestApp, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = app.admin_get("/metrics").await.text().await.expect("metrics");
        if text.lines().any(|l| l == line) {
            return;
        }
        assert!(Instant::now() < deadline, "no `{line}` in:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_database_that_does_not_load_stops_the_node_naming_the_setting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("broken.mmdb");
    std::fs::write(&path, b"not a database").expect("write");
    let mut settings = crate::helpers::test_settings();
    settings.store.url = format!("sqlite://{}/p.db", dir.path().display())
        .parse()
        .expect("store url");
    settings.geo.mmdb_path = Some(path);
    let err = match personify::app::startup::Application::build(&settings).await {
        Ok(_) => panic!("a broken database was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("geo.mmdb_path"), "{err}");
}

#[tokio::test]
async fn explain_shows_where_the_country_came_from() {
    let app = with_database("country-v1.mmdb").await;
    let explain = |body: Value| {
        let req = app
            .client
            .post(app.url("/v1/admin/explain"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body);
        async move {
            let res = req.send().await.expect("request sent");
            let status = res.status();
            (status.as_u16(), res.json::<Value>().await.expect("json"))
        }
    };
    let url = "https://bank.example/savings";
    let (_, looked_up) = explain(json!({"url": url, "address": DE_V6, "consent": "default"})).await;
    assert_eq!(looked_up["signals"]["geo.country"], "DE", "{looked_up}");
    assert_eq!(looked_up["country_source"], "database");
    assert_eq!(looked_up["consent"]["basis"], "jurisdiction_opt_in");
    let (_, header) = explain(json!({"url": url, "address": DE_V4, "country": "US"})).await;
    assert_eq!(header["country_source"], "header", "a country given wins: {header}");
    assert_eq!(header["signals"]["geo.country"], "US");
    let (_, private) = explain(json!({"url": url, "address": "10.0.0.1"})).await;
    assert_eq!(private["country_source"], Value::Null, "{private}");
    assert!(private["signals"].get("geo.country").is_none());
    let (status, bad) = explain(json!({"url": url, "address": "not-an-address-7q"})).await;
    assert_eq!(status, 400, "{bad}");
    assert!(
        bad.to_string().contains("address") && !bad.to_string().contains("7q"),
        "{bad}"
    );
}

#[test]
fn the_cli_explains_the_source_of_a_looked_up_country() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_personify"))
        .args(["--config", manifest_dir().join("config").to_str().expect("utf-8")])
        .args(["explain", "--url", "https://bank.example/savings", "--address", US_V4])
        .env("PERSONIFY__GEO__MMDB_PATH", fixture("country-v1.mmdb"))
        .env("PERSONIFY__RULES__DIR", crate::helpers::example_rules())
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("geo.country = \"US\" (from the geo.mmdb_path database)"),
        "{text}"
    );
    assert!(!text.contains(US_V4), "the address is never printed: {text}");
}
