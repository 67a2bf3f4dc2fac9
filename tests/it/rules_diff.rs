//! `personify diff OLD NEW`: what changes for visitors, and `--deny breaking` for CI.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::helpers::*;

fn rules_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(example_rules()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "toml") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from} not in {file}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn diff(old: &Path, new: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_personify"))
        .args(["--config", manifest_dir().join("config").to_str().unwrap(), "diff"])
        .arg(old)
        .arg(new)
        .args(extra)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn identical_directories_have_no_changes() {
    let (a, b) = (rules_copy(), rules_copy());
    let out = diff(a.path(), b.path(), &["--deny", "breaking", "--format", "json"]);
    assert!(out.status.success());
    let v = json(&out);
    assert_eq!(v["changes"], serde_json::json!([]));
    assert_eq!(v["breaking"], 0);
}

#[test]
fn changed_experiment_weights_are_breaking_and_denied() {
    let (a, b) = (rules_copy(), rules_copy());
    edit(
        b.path(),
        "content.toml",
        "{ variant = \"mortgage_rates\", weight = 50 }",
        "{ variant = \"mortgage_rates\", weight = 70 }",
    );
    edit(
        b.path(),
        "content.toml",
        "{ variant = \"mortgage_calculator\", weight = 50 }",
        "{ variant = \"mortgage_calculator\", weight = 30 }",
    );
    let out = diff(a.path(), b.path(), &["--deny", "breaking", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["breaking"], 1, "{v}");
    let c = &v["changes"][0];
    assert_eq!(c["kind"], "experiment_rebucketed");
    assert_eq!(c["id"], "mortgage_hero_2026q4");
    assert_eq!(c["breaking"], true);
    assert!(c["detail"].as_str().unwrap().contains("mortgage_rates:50"), "{c}");
    assert!(c["detail"].as_str().unwrap().contains("mortgage_rates:70"), "{c}");
    // Without --deny the same diff passes, and the text form flags it loudly.
    let out = diff(a.path(), b.path(), &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("MOVES VISITORS BETWEEN ARMS") && text.contains("[BREAKING]"),
        "{text}"
    );
}

#[test]
fn a_changed_holdout_is_breaking_too() {
    let (a, b) = (rules_copy(), rules_copy());
    edit(
        b.path(),
        "content.toml",
        "experiment.holdout_percent = 10",
        "experiment.holdout_percent = 20",
    );
    let v = json(&diff(a.path(), b.path(), &["--format", "json"]));
    assert_eq!(v["changes"][0]["kind"], "experiment_rebucketed", "{v}");
}

#[test]
fn content_and_condition_changes_are_listed_but_not_breaking() {
    let (a, b) = (rules_copy(), rules_copy());
    edit(
        b.path(),
        "content.toml",
        "Banking that works around you",
        "Banking, plainly",
    );
    edit(
        b.path(),
        "segments.toml",
        "value = \"/bereavement-support\"",
        "value = \"/bereavement\"",
    );
    let out = diff(a.path(), b.path(), &["--deny", "breaking", "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let v = json(&out);
    let kinds: Vec<(&str, &str)> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["id"].as_str().unwrap()))
        .collect();
    assert!(kinds.contains(&("segment_changed", "bereavement_support")), "{kinds:?}");
    assert!(
        kinds
            .iter()
            .any(|(k, id)| *k == "variant_content_changed" && id.starts_with("hero/")),
        "{kinds:?}"
    );
    assert_eq!(v["breaking"], 0);
}

#[test]
fn a_directory_that_does_not_load_exits_2() {
    let (a, b) = (rules_copy(), rules_copy());
    edit(
        b.path(),
        "content.toml",
        "Banking that works around you",
        "Dear [FIRST_NAME]",
    );
    let out = diff(a.path(), b.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("content.toml"));
}

/// Each slot's `(views, changed)` and its transitions as `from→to`, from the JSON replay.
fn replay_of(v: &Value) -> Vec<(String, u64, u64, Vec<String>)> {
    v["replay"]["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let moves = s["transitions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| format!("{}→{}", t["from"].as_str().unwrap(), t["to"].as_str().unwrap()))
                .collect();
            (
                s["slot"].as_str().unwrap().to_string(),
                s["views"].as_u64().unwrap(),
                s["changed"].as_u64().unwrap(),
                moves,
            )
        })
        .collect()
}

#[test]
fn the_generated_replay_counts_changed_decisions_per_slot_and_is_deterministic() {
    let (a, b) = (rules_copy(), rules_copy());
    let same = json(&diff(a.path(), b.path(), &["--format", "json"]));
    assert_eq!(same["replay"]["sample"], "generated");
    let views = same["replay"]["views"].as_u64().unwrap();
    // Every path the rules name, alone and with each campaign and referrer they name, 8 visitors each.
    assert!(views >= 8 * 10, "{same}");
    for (slot, seen, changed, _) in replay_of(&same) {
        assert_eq!((seen, changed), (views, 0), "{slot}: identical rules change nothing");
    }

    edit(
        b.path(),
        "content.toml",
        "{ variant = \"mortgage_rates\", weight = 50 }",
        "{ variant = \"mortgage_rates\", weight = 80 }",
    );
    edit(
        b.path(),
        "content.toml",
        "{ variant = \"mortgage_calculator\", weight = 50 }",
        "{ variant = \"mortgage_calculator\", weight = 20 }",
    );
    let first = json(&diff(a.path(), b.path(), &["--format", "json"]));
    let slots = replay_of(&first);
    let hero = slots.iter().find(|s| s.0 == "hero").unwrap();
    assert!(hero.2 > 0, "reweighted arms move some mortgage visitors: {first}");
    assert_eq!(
        hero.3,
        ["mortgage_calculator→mortgage_rates"],
        "only calculator → rates at 80/20"
    );
    let sidebar = slots.iter().find(|s| s.0 == "sidebar").unwrap();
    assert_eq!(sidebar.2, 0, "the sidebar has no experiment");
    // The same rules and sample give the same arms: the visitor-key secret is fixed.
    assert_eq!(
        json(&diff(a.path(), b.path(), &["--format", "json"]))["replay"],
        first["replay"]
    );

    let text = String::from_utf8_lossy(&diff(a.path(), b.path(), &[]).stdout).to_string();
    assert!(
        text.contains(&format!("  hero: {} of {views} decision(s) change", hero.2))
            && text.contains("mortgage_calculator → mortgage_rates"),
        "{text}"
    );
}

#[test]
fn a_sample_file_is_replayed_view_by_view() {
    let (a, b) = (rules_copy(), rules_copy());
    edit(
        b.path(),
        "segments.toml",
        "value = \"/bereavement-support\"",
        "value = \"/bereavement\"",
    );
    let sample = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        sample.path(),
        concat!(
            r#"{"page": {"url": "https://bank.example/bereavement/help"}, "country": "GB"}"#,
            "\n\n",
            r#"{"page": {"url": "https://bank.example/savings/easy-access"}, "consent": {"gpc": true}}"#,
            "\n",
            r#"{"page": {"url": "not a page address"}}"#,
            "\n",
        ),
    )
    .unwrap();
    let out = diff(
        a.path(),
        b.path(),
        &["--format", "json", "--sample", sample.path().to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_eq!(v["replay"]["sample"], "file");
    assert_eq!(
        (v["replay"]["views"].as_u64(), v["replay"]["skipped"].as_u64()),
        (Some(2), Some(1))
    );
    let slots = replay_of(&v);
    assert_eq!(
        slots,
        [
            ("hero".to_string(), 2, 1, vec!["generic→bereavement_help".to_string()]),
            (
                "sidebar".to_string(),
                2,
                1,
                vec!["generic_help→bereavement_contacts".to_string()]
            ),
        ]
    );

    // A line that is no page view stops the diff, naming the line and field, never the value.
    std::fs::write(
        sample.path(),
        "{\"page\": {\"url\": \"https://bank.example/\"}}\n{\"page\": {\"url\": [\"secret-value\"]}}\n",
    )
    .unwrap();
    let out = diff(a.path(), b.path(), &["--sample", sample.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("page.url"), "{err}");
    assert!(!err.contains("secret-value"), "{err}");
}
