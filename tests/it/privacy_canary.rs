//! The canary sweep: distinctive personal-looking values (email, phone, IPv4/IPv6, card, IBAN, JWT, a
//! User-Agent, a visitor id, a TC string) are sent in every field, header and query string of every
//! route in the route table; then every response, the log at `RUST_LOG=trace` and the raw bytes of
//! the SQLite store are scanned. Zero hits: keyed hashes are fine, the values themselves never are.
//!
//! A route added to the table without a template here fails the test, so new routes are swept too.

use personify::http::edge::gate::Access;
use personify::http::routes::{Method, RouteInfo, ROUTES};
use serde_json::{json, Value};

use crate::helpers::machine::wait_for_flush;
use crate::helpers::process::Server;
use crate::helpers::ADMIN_TOKEN;

/// A canary: the value sent, and the fragments that must never come back or be kept.
struct Canary {
    /// What it imitates.
    name: &'static str,
    /// The value placed in requests.
    value: &'static str,
    /// Distinctive fragments searched for, case-insensitively.
    needles: &'static [&'static str],
}

const CANARIES: &[Canary] = &[
    Canary {
        name: "email",
        value: "canary.q9zx@example.com",
        needles: &["canary.q9zx", "canary.q9zx%40"],
    },
    Canary {
        name: "phone",
        value: "+44 7700 900123",
        needles: &["7700 900123", "7700900123", "7700%20900123"],
    },
    Canary {
        name: "ipv4",
        value: "203.0.113.77",
        needles: &["203.0.113."],
    },
    Canary {
        name: "ipv6",
        value: "2001:db8:7a7a::1",
        needles: &["2001:db8:7a7a", "2001%3Adb8%3A7a7a"],
    },
    Canary {
        name: "card",
        value: "4111111111111111",
        needles: &["4111111111111111"],
    },
    Canary {
        name: "iban",
        value: "GB82WEST12345698765432",
        needles: &["WEST12345698765432"],
    },
    Canary {
        name: "jwt",
        value: "eyJhbGciOiJIUzI1NiJ9.eyJjYW5hcnkiOjF9.c2lnbmF0dXJlcw",
        needles: &["eyJjYW5hcnkiOjF9"],
    },
    Canary {
        name: "user-agent",
        value: "CanaryBrowser/7.7 (X11; Linux x86_64)",
        needles: &["CanaryBrowser"],
    },
    Canary {
        name: "visitor id",
        value: "c0ffee00-7a7a-4abc-8def-0123456789ab",
        needles: &["c0ffee00-7a7a", "c0ffee007a7a"],
    },
    Canary {
        name: "tc string",
        value: "CQuAQVAQuDWFQAfAECENCWEoAP_gAAAAAAwIJYwBIAAgBQAGEBeYEsQAAAAA",
        needles: &["CQuAQVAQuDWFQAfAECENCWEo"],
    },
];

/// A valid body for a route, and where canaries go in it (`{C}` is replaced by the canary).
struct Template {
    body: Value,
    injections: Vec<(&'static str, &'static str)>,
    query: &'static [&'static str],
}

/// A visitor no request of the sweep names, counted after it.
const COUNTED: &str = "0d15ea5e-7a7a-4abc-8def-0123456789ab";
const VISITOR: &str = "5f0c7d1e-2b3a-4c5d-8e9f-0a1b2c3d4e5f";

fn template(route: &RouteInfo) -> Template {
    let page = json!({"url": "https://bank.example/mortgages/fixed-rate?utm_source=google", "referrer": "https://www.google.co.uk/"});
    match (route.method, route.path) {
        (Method::Post, "/v1/decide") => Template {
            body: json!({"page": page, "visitor_id": VISITOR, "site": "bank.example",
                "session": {"pages_viewed": 2, "categories": ["mortgages"], "returning": true},
                "slots": ["hero"], "consent": {"us_privacy": "1YNN"}, "tz_offset_minutes": 60}),
            injections: vec![
                (
                    "page.url",
                    "https://bank.example/mortgages/{C}?utm_source={C}&utm_campaign={C}&q={C}",
                ),
                ("page.referrer", "https://www.google.co.uk/search?q={C}"),
                ("page.category", "{C}"),
                ("site", "{C}"),
                ("visitor_id", "{C}"),
                ("slots.0", "{C}"),
                ("session.categories.0", "{C}"),
                ("consent.tcf", "{C}"),
                ("consent.gpp", "{C}"),
                ("consent.us_privacy", "{C}"),
                ("preview", "{C}"),
            ],
            query: &["q"],
        },
        (Method::Post, "/v1/events") => Template {
            body: json!({"type": "conversion", "goal": "mortgage_application", "experiment": "mortgage_hero_2026q4",
                "variant": "mortgage_rates", "page": page, "visitor_id": VISITOR}),
            injections: vec![
                ("goal", "{C}"),
                ("experiment", "{C}"),
                ("variant", "{C}"),
                ("visitor_id", "{C}"),
                ("page.url", "https://bank.example/{C}?utm_source={C}"),
                ("type", "{C}"),
            ],
            query: &["goal"],
        },
        (Method::Post, "/v1/consent") => Template {
            body: json!({"visitor_id": VISITOR, "purposes": {"personalize": true, "measure": true, "advertise": false},
                "source": "cmp", "policy_version": "2026-11"}),
            injections: vec![
                ("visitor_id", "{C}"),
                ("source", "{C}"),
                ("policy_version", "{C}"),
                ("purposes.*", "true"),
            ],
            query: &["source"],
        },
        (Method::Post, "/v1/consent/status") | (Method::Post, "/v1/opt-out") | (Method::Post, "/v1/consent/erase") => {
            Template {
                body: json!({"visitor_id": VISITOR}),
                injections: vec![("visitor_id", "{C}")],
                query: &["visitor_id"],
            }
        }
        (Method::Post, "/ofrep/v1/evaluate/flags") | (Method::Post, "/ofrep/v1/evaluate/flags/{key}") => Template {
            body: json!({"context": {"targetingKey": VISITOR, "url": "https://bank.example/mortgages/fixed-rate?utm_source=google",
                "referrer": "https://www.google.co.uk/", "site": "bank.example", "category": "mortgages",
                "session": {"pages_viewed": 2, "categories": ["mortgages"], "returning": true},
                "consent": {"us_privacy": "1YNN", "google_consent_mode": {"ad_storage": "granted"}}, "tz_offset_minutes": 60}}),
            injections: vec![
                ("context.targetingKey", "{C}"),
                (
                    "context.url",
                    "https://bank.example/mortgages/{C}?utm_source={C}&utm_campaign={C}&q={C}",
                ),
                ("context.referrer", "https://www.google.co.uk/search?q={C}"),
                ("context.category", "{C}"),
                ("context.site", "{C}"),
                ("context.session.categories.0", "{C}"),
                ("context.consent.tcf", "{C}"),
                ("context.consent.gpp", "{C}"),
                ("context.consent.us_privacy", "{C}"),
                ("context.consent.google_consent_mode.ad_storage", "{C}"),
                ("context.preview", "{C}"),
                ("context.*", "\"{C}\""),
            ],
            query: &["flagConfigEtag"],
        },
        (Method::Post, "/v1/rtb/segments") => Template {
            body: rtb_body(),
            injections: rtb_injections(),
            query: &["id"],
        },
        (Method::Post, "/v1/rtb/segments:batch") => Template {
            body: json!({"requests": [rtb_body()]}),
            injections: rtb_injections()
                .into_iter()
                .map(|(p, v)| (&*Box::leak(format!("requests.0.{p}").into_boxed_str()), v))
                .collect(),
            query: &["id"],
        },
        // Explain answers with the signals it read, by design: canaries go where a value is reduced
        // (User-Agent, Accept-Language, country), parsed (visitor id, consent strings) or dropped
        // (a query key that is not utm_*, the referrer's path).
        (Method::Post, "/v1/admin/explain") => Template {
            body: json!({"url": "https://bank.example/mortgages/fixed-rate?utm_source=google",
                "referrer": "https://www.google.co.uk/", "visitor_id": VISITOR, "consent": "default",
                "country": "US", "user_agent": crate::helpers::DESKTOP_UA, "accept_language": "en-GB"}),
            injections: vec![
                ("url", "https://bank.example/mortgages?q={C}"),
                ("referrer", "https://www.google.co.uk/search?q={C}"),
                ("user_agent", "{C}"),
                ("accept_language", "{C}"),
                ("country", "{C}"),
                ("visitor_id", "{C}"),
                ("tcf", "{C}"),
                ("us_privacy", "{C}"),
            ],
            query: &["q"],
        },
        (Method::Post, "/v1/admin/preview") => Template {
            body: json!({"segments": ["savers"], "variants": {"hero": "savings_isa"}, "expires_in_seconds": 60}),
            injections: vec![
                ("segments.0", "{C}"),
                ("variants.*", "\"generic\""),
                ("variants.hero", "{C}"),
                ("expires_in_seconds", "{C}"),
            ],
            query: &["token"],
        },
        (Method::Get, "/v1/admin/audit") => Template {
            body: Value::Null,
            injections: vec![],
            query: &["after", "limit"],
        },
        (Method::Get, "/v1/admin/consent/log") => Template {
            body: Value::Null,
            injections: vec![],
            query: &["format", "from", "limit"],
        },
        (Method::Get, "/v1/consent/log/consistency") | (Method::Get, "/v1/consent/receipts/{id}/proof") => Template {
            body: Value::Null,
            injections: vec![],
            query: &["first", "second", "tree_size"],
        },
        (Method::Get, "/v1/admin/reports/segments") | (Method::Get, "/v1/admin/reports/experiments/{id}") => Template {
            body: Value::Null,
            injections: vec![],
            query: &["from", "to", "goal"],
        },
        // No body and no parameters: the canaries go in the query string and headers only.
        (Method::Post, "/v1/admin/rules/reload") => Template {
            body: Value::Null,
            injections: vec![],
            query: &["q"],
        },
        (Method::Get, _) => Template {
            body: Value::Null,
            injections: vec![],
            query: &["q"],
        },
        (m, p) => panic!("no canary template for {} {p}: add one here", m.as_str()),
    }
}

fn rtb_body() -> Value {
    json!({"id": "req-1", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
        "site": {"domain": "bank.example", "page": "https://bank.example/mortgages/first-time-buyers",
                 "ref": "https://www.google.co.uk/", "publisher": {"id": "pub-42"}, "content": {"keywords": "mortgage"}},
        "device": {"ua": crate::helpers::DESKTOP_UA, "ip": "198.51.100.1", "ifa": "x", "geo": {"country": "USA"}},
        "user": {"id": "u1", "buyeruid": "b1", "consent": ""}, "regs": {"gdpr": 0, "us_privacy": "1YNN"}})
}

fn rtb_injections() -> Vec<(&'static str, &'static str)> {
    vec![
        ("id", "{C}"),
        ("imp.0.id", "{C}"),
        ("site.page", "https://bank.example/{C}?q={C}"),
        ("site.domain", "{C}"),
        ("site.ref", "https://{C}/"),
        ("site.publisher.id", "{C}"),
        ("site.content.keywords", "{C}"),
        ("device.ua", "{C}"),
        ("device.ip", "{C}"),
        ("device.ifa", "{C}"),
        ("device.geo.country", "{C}"),
        ("user.id", "{C}"),
        ("user.buyeruid", "{C}"),
        ("user.consent", "{C}"),
        ("regs.us_privacy", "{C}"),
        ("regs.gpp", "{C}"),
        ("regs.ext.google_consent_mode.ad_user_data", "{C}"),
    ]
}

/// Sets `path` (dot-separated, numeric segments index arrays) in `body`; a last segment `*` adds the
/// key `key` instead.
fn set(body: &mut Value, path: &str, key: &str, value: Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().expect("a path");
    let mut at = body;
    for p in parts {
        at = match p.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => &mut at[p],
        };
    }
    if last == "*" {
        if let Some(obj) = at.as_object_mut() {
            obj.insert(key.to_string(), value);
        }
        return;
    }
    match last.parse::<usize>() {
        Ok(i) => at[i] = value,
        Err(_) => at[last] = value,
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every request of the sweep for one route and canary: one per injection (the rest of the body
/// valid), plus the canary as an unknown key, in the query string and in the headers.
fn requests(route: &RouteInfo, canary: &Canary) -> Vec<(Option<Value>, String)> {
    let t = template(route);
    let path = route
        .path
        .replace("{id}", "mortgage_hero_2026q4")
        .replace("{asset}", "app.js")
        .replace("{key}", "hero");
    let query = t
        .query
        .iter()
        .map(|k| format!("{k}={}", url_encode(canary.value)))
        .collect::<Vec<_>>()
        .join("&");
    let url = format!(
        "{path}?{query}&{}={}",
        url_encode(canary.value),
        url_encode(canary.value)
    );
    if route.method == Method::Get {
        return vec![(None, url)];
    }
    let mut out = Vec::new();
    for (p, v) in &t.injections {
        let mut body = t.body.clone();
        let value = v.replace("{C}", canary.value);
        let value = serde_json::from_str(&value).unwrap_or(json!(value));
        set(&mut body, p, canary.value, value);
        out.push((Some(body), url.clone()));
    }
    let mut unknown = t.body.clone();
    if let Some(obj) = unknown.as_object_mut() {
        obj.insert(canary.value.to_string(), json!(canary.value));
    }
    out.push((Some(unknown), url));
    out
}

fn hits(text: &str, what: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    CANARIES
        .iter()
        .flat_map(|c| c.needles.iter().map(move |n| (c, n)))
        .filter(|(_, n)| lower.contains(&n.to_ascii_lowercase()))
        .map(|(c, n)| format!("{what}: the {} canary ({n})", c.name))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canaries_in_every_field_header_and_query_are_never_echoed_logged_or_stored() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(
        data.path(),
        &[
            ("RUST_LOG", "trace"),
            ("PERSONIFY_ADMIN_TOKEN", ADMIN_TOKEN),
            ("PERSONIFY__COUNTS__FLUSH_SECONDS", "1"),
            ("PERSONIFY__LIMITS__ENABLED", "false"),
            // Experiment cells are released at k = 1, so `releases` holds rows to scan.
            ("PERSONIFY__PRIVACY__K", "1"),
            ("PERSONIFY__SERVER__CLIENT_IP_HEADER", "X-Forwarded-For"),
        ],
    );
    let base = server.base();
    let client = reqwest::Client::new();
    let mut found = Vec::new();
    let mut sent = 0;
    for route in ROUTES {
        for canary in CANARIES {
            for (body, url) in requests(route, canary) {
                let mut req = match route.method {
                    Method::Get => client.get(format!("{base}{url}")),
                    Method::Post => client.post(format!("{base}{url}")),
                };
                req = req
                    .header("User-Agent", canary.value)
                    .header("X-Forwarded-For", canary.value)
                    .header("CF-IPCountry", canary.value)
                    .header("Accept-Language", canary.value)
                    .header("Referer", format!("https://bank.example/{}", url_encode(canary.value)))
                    .header("X-Canary", canary.value)
                    .header("Sec-GPC", canary.value);
                if let Access::Token(_) | Access::AnyToken = route.access {
                    req = req.bearer_auth(ADMIN_TOKEN);
                }
                if let Some(b) = &body {
                    req = req.header("Content-Type", "application/json").body(b.to_string());
                }
                let res = req.send().await.expect("request sent");
                let status = res.status();
                let headers = format!("{:?}", res.headers());
                let text = res.text().await.expect("body");
                assert!(
                    status.as_u16() < 500,
                    "{} {} answered {status}",
                    route.method.as_str(),
                    route.path
                );
                let what = format!("{} {} ({}) response", route.method.as_str(), route.path, canary.name);
                found.extend(hits(&headers, &what));
                found.extend(hits(&text, &what));
                sent += 1;
            }
        }
        // A token that is itself a canary must not be echoed either.
        if let Access::Token(_) | Access::AnyToken = route.access {
            let req = match route.method {
                Method::Get => client.get(format!("{base}{}", route.path)),
                Method::Post => client.post(format!("{base}{}", route.path)).body("{}"),
            };
            let res = req.bearer_auth(CANARIES[6].value).send().await.expect("request sent");
            found.extend(hits(&res.text().await.expect("body"), "a token's 401"));
        }
    }
    assert!(sent > 300, "only {sent} requests were sent");
    // Counted traffic from the canary addresses and User-Agent (the sweep's own requests carry a
    // canary country, so nothing of theirs is counted; the canary visitor has opted out and been
    // erased by now, so a fresh one): its experiment units, the period and the released cells are
    // then in the store the scan below reads.
    for addr in [CANARIES[2].value, CANARIES[3].value] {
        for (path, body) in [
            (
                "/v1/decide",
                json!({"page": {"url": "https://bank.example/mortgages/fixed-rate"}, "visitor_id": COUNTED}),
            ),
            (
                "/v1/events",
                json!({"type": "conversion", "goal": "mortgage_application", "experiment": "mortgage_hero_2026q4",
                                  "page": {"url": "https://bank.example/mortgages/apply/done"}, "visitor_id": COUNTED}),
            ),
        ] {
            let res = client
                .post(format!("{base}{path}"))
                .header("User-Agent", CANARIES[7].value)
                .header("X-Forwarded-For", addr)
                .header("CF-IPCountry", "US")
                .json(&body)
                .send()
                .await
                .expect("request sent");
            assert!(res.status().is_success(), "{path}: {}", res.status());
        }
    }
    let res = client
        .get(format!("{base}/v1/admin/reports/experiments/mortgage_hero_2026q4"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("request sent");
    assert_eq!(res.status(), 200);
    found.extend(hits(&res.text().await.expect("body"), "the experiment report"));
    // Let the sketch flush run so counted keys reach the store, then read every file it wrote.
    wait_for_flush().await;
    for entry in std::fs::read_dir(data.path()).expect("data dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("store file");
        found.extend(hits(
            &String::from_utf8_lossy(&bytes),
            &format!("store file {}", path.display()),
        ));
    }
    // The experiment tables had rows when the file was read: the scan covered them.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}/personify.db?mode=ro", data.path().display()))
        .await
        .expect("the store opens");
    for table in ["experiment_units", "experiment_periods", "releases"] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .expect("rows counted");
        assert!(n > 0, "{table} was empty when the store was scanned");
    }
    pool.close().await;
    let log = server.log_text();
    assert!(log.lines().count() > sent, "the trace log is suspiciously short");
    found.extend(hits(&log, "the trace log"));
    found.sort();
    found.dedup();
    assert!(found.is_empty(), "{} leaks:\n{}", found.len(), found.join("\n"));
}

/// Addresses the test database places in a country, so they are really looked up: each must never
/// come back, be logged (at trace), counted in a metric or stored.
const LOOKED_UP: &[(&str, &[&str])] = &[
    ("8.8.8.77", &["8.8.8.77"]),
    ("85.214.77.77", &["85.214.77.77"]),
    ("2001:4860:7a7a::77", &["2001:4860:7a7a", "2001%3A4860%3A7a7a"]),
    ("2a01:238:7a7a::77", &["2a01:238:7a7a", "2a01%3A238%3A7a7a"]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looked_up_address_is_never_echoed_logged_counted_or_stored() {
    let data = tempfile::tempdir().expect("temp dir");
    let mmdb = crate::helpers::manifest_dir().join("tests/fixtures/geo/country-v1.mmdb");
    let server = Server::start(
        data.path(),
        &[
            ("RUST_LOG", "trace"),
            ("PERSONIFY_ADMIN_TOKEN", ADMIN_TOKEN),
            ("PERSONIFY__COUNTS__FLUSH_SECONDS", "1"),
            ("PERSONIFY__SERVER__CLIENT_IP_HEADER", "X-Forwarded-For"),
            ("PERSONIFY__CORS__ALLOWED_ORIGINS", "https://www.bank.example"),
            ("PERSONIFY__GEO__MMDB_PATH", mmdb.to_str().expect("utf-8")),
            ("PERSONIFY__GEO__BUILTIN", "true"),
        ],
    );
    let base = server.base();
    let client = reqwest::Client::new();
    let page = json!({"url": "https://bank.example/mortgages/fixed-rate", "referrer": "https://www.google.co.uk/"});
    let mut answers = String::new();
    let mut bases = Vec::new();
    for (address, _) in LOOKED_UP {
        let calls = [
            ("/v1/decide", json!({"page": page, "visitor_id": VISITOR})),
            (
                "/v1/events",
                json!({"type": "conversion", "goal": "mortgage_application",
                "experiment": "mortgage_hero_2026q4", "page": page, "visitor_id": VISITOR}),
            ),
            ("/v1/rtb/segments", rtb_body()),
        ];
        for (path, body) in calls {
            let res = client
                .post(format!("{base}{path}"))
                .header("Origin", "https://www.bank.example")
                .header("X-Forwarded-For", *address)
                .header("User-Agent", crate::helpers::DESKTOP_UA)
                .json(&body)
                .send()
                .await
                .expect("request sent");
            assert!(res.status().is_success(), "{path}: {}", res.status());
            answers.push_str(&format!("{:?}", res.headers()));
            let text = res.text().await.expect("body");
            if path == "/v1/decide" {
                let v: Value = serde_json::from_str(&text).expect("json");
                bases.push(v["consent"]["basis"].clone());
            }
            answers.push_str(&text);
        }
        let res = client
            .post(format!("{base}/v1/admin/explain"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"url": "https://bank.example/savings", "address": address}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(res.status(), 200);
        answers.push_str(&res.text().await.expect("body"));
    }
    // The lookups happened: the US addresses got the opt-out default, the German ones opt-in.
    assert_eq!(
        bases,
        [
            "jurisdiction_opt_out",
            "jurisdiction_opt_in",
            "jurisdiction_opt_out",
            "jurisdiction_opt_in"
        ]
    );
    wait_for_flush().await;
    let metrics = client
        .get(format!("{base}/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    let mut places = vec![("responses".to_string(), answers), ("metrics".to_string(), metrics)];
    for entry in std::fs::read_dir(data.path()).expect("data dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("store file");
        places.push((
            format!("store file {}", path.display()),
            String::from_utf8_lossy(&bytes).into(),
        ));
    }
    places.push(("the trace log".to_string(), server.log_text()));
    let mut found = Vec::new();
    for (what, text) in &places {
        let lower = text.to_ascii_lowercase();
        for (address, needles) in LOOKED_UP {
            if needles.iter().any(|n| lower.contains(&n.to_ascii_lowercase())) {
                found.push(format!("{what}: {address}"));
            }
        }
    }
    assert!(found.is_empty(), "leaks:\n{}", found.join("\n"));
}
