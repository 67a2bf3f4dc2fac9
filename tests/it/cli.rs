//! `personify explain`: what a page view would get, and why.

use std::process::Command;

use crate::helpers::*;

fn explain(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_personify"))
        .args([
            "--config",
            manifest_dir().join("config").to_str().unwrap(),
            "explain",
            "--rules",
            example_rules().to_str().unwrap(),
        ])
        .args(args)
        .output()
        .expect("personify runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn explain_shows_signals_segments_and_reasons() {
    let (ok, out, err) = explain(&[
        "--url",
        "https://bank.example/business/loans?utm_source=linkedin",
        "--referrer",
        "https://www.linkedin.com/feed/",
        "--user-agent",
        IPHONE_UA,
        "--accept-language",
        "de-DE,de;q=0.9",
        "--country",
        "de",
    ]);
    assert!(ok, "{err}");
    for want in [
        "page.path = \"/business/loans\"",
        "referrer.kind = \"social\"",
        "device.class = \"mobile\"",
        "lang = \"de\"",
        "geo.country = \"DE\"",
        "campaign.source = \"linkedin\"",
        "small_business \"Small business\" priority 60",
        "hero: business_account because segment small_business (priority 60) maps to it",
        "sidebar: business_support",
        "rules sha256:",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn explain_with_the_jurisdiction_default_shows_why_nothing_is_personalised() {
    let (ok, out, _) = explain(&[
        "--url",
        "https://bank.example/savings",
        "--country",
        "FR",
        "--consent",
        "default",
    ]);
    assert!(ok);
    assert!(out.contains("basis: jurisdiction_opt_in"), "{out}");
    assert!(out.contains("hero: generic because no personalize consent"), "{out}");
}

#[test]
fn explain_json_and_sensitive_segments() {
    let (ok, out, _) = explain(&["--url", "https://bank.example/bereavement-support", "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["segments"][0]["id"], "bereavement_support");
    assert_eq!(v["decisions"]["hero"]["variant"], "bereavement_help");
    assert_eq!(v["decisions"]["sidebar"]["content"]["title"], "Our bereavement team");
}

#[test]
fn explain_rejects_a_bad_url() {
    let (ok, _, err) = explain(&["--url", "mailto:someone@example.com"]);
    assert!(!ok);
    assert!(err.contains("page.url: must use http or https"), "{err}");
}
