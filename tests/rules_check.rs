//! `personify check` and the rule loader: every mistake is reported as `file:line: message`.

mod common;

use std::process::Command;

use common::*;
use personify::rules::load::load_sources;

fn check(dir: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_personify"))
        .args(["--config", manifest_dir().join("config").to_str().unwrap(), "check"])
        .arg(dir)
        .output()
        .expect("personify runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn shipped_rules_pass_check() {
    let (ok, stdout, stderr) = check(&example_rules());
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("ok: 9 segments (1 sensitive), 2 slots, 1 experiments"),
        "{stdout}"
    );
    assert!(stdout.contains("version sha256:"));
    assert!(
        stdout.contains("1 of 9 segments are evaluated on every page view"),
        "{stdout}"
    );
}

#[test]
fn generated_rule_sets_pass_check_and_are_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let generate = |out: &std::path::Path| {
        let status = Command::new(env!("CARGO_BIN_EXE_personify"))
            .args(["generate-rules", "--segments", "1000", "--seed", "3"])
            .arg(out)
            .output()
            .expect("personify runs");
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    };
    generate(&dir.path().join("a"));
    generate(&dir.path().join("b"));
    let (ok, stdout, stderr) = check(&dir.path().join("a"));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("ok: 1000 segments (0 sensitive), 20 slots, 100 experiments"),
        "{stdout}"
    );
    assert!(
        stdout.contains("10 of 1000 segments are evaluated on every page view"),
        "{stdout}"
    );
    for f in ["segments.toml", "slots.toml", "rules.toml"] {
        assert_eq!(
            std::fs::read(dir.path().join("a").join(f)).unwrap(),
            std::fs::read(dir.path().join("b").join(f)).unwrap(),
            "{f}"
        );
    }
    let refused = Command::new(env!("CARGO_BIN_EXE_personify"))
        .args(["generate-rules", "--segments", "0"])
        .arg(dir.path().join("c"))
        .output()
        .expect("personify runs");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--segments"));
}

const SEGMENTS_WITH_MISTAKES: &str = r#"# line 1
[[segment]]
id = "mortgage"
name = "Mortgage"
when = { signal = "page.pth", op = "starts_with", value = "/mortgages" }

[[segment]]
id = "evening"
name = "Evening"
when = { signal = "time.hour", op = "between", value = [22, 18] }

[[segment]]
id = "regex"
name = "Bad regex"
when = { signal = "page.path", op = "matches", value = "^/(savings" }

[[segment]]
id = "mortgage"
name = "Duplicate"
when = { signal = "device.class", op = "eq", value = "phone" }

[[segment]]
id = "typed"
name = "Wrong type"
priority = "high"
when = { signal = "session.pages_viewed", op = "gte", value = "three" }

[[segment]]
id = "op"
name = "Unknown op"
when = { signal = "page.path", op = "like", value = "/x%" }
"#;

const CONTENT_WITH_MISTAKES: &str = r#"[[slot]]
id = "hero"
default = "generic"

[slot.variants.generic]
content = { headline = "Hello [FIRST_NAME], welcome back" }

[slot.variants.b]
content = { headline = "Hi {{first_name}}" }

[[rule]]
slot = "hero"
segment = "nobody"
variant = "generic"

[[rule]]
slot = "hero"
segment = "evening"
variant = "missing_variant"

[[rule]]
slot = "hero"
segment = "regex"
experiment = { id = "e1", holdout_percent = 10, arms = [{ variant = "generic", weight = 60 }, { variant = "b", weight = 30 }] }
"#;

#[test]
fn a_rules_directory_with_several_mistakes_reports_each_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write_rules(
        dir.path(),
        &[
            ("a_segments.toml", SEGMENTS_WITH_MISTAKES),
            ("b_content.toml", CONTENT_WITH_MISTAKES),
        ],
    );
    let (ok, _, stderr) = check(dir.path());
    assert!(!ok);
    let seg = dir.path().join("a_segments.toml").display().to_string();
    let content = dir.path().join("b_content.toml").display().to_string();
    let expected = [
        format!("{seg}:5: unknown signal \"page.pth\""),
        format!("{seg}:10: `between` bounds are inverted: [22, 18]"),
        format!("{seg}:15: bad regex for page.path"),
        format!("{seg}:20: device.class is one of desktop, mobile, tablet, tv, bot, other; \"phone\" can never match"),
        format!("{seg}:25: `priority` must be an integer, not a string"),
        format!("{seg}:26: op \"gte\" on session.pages_viewed needs an integer, not a string"),
        format!("{seg}:31: unknown op \"like\""),
        format!("{content}:6: content holds the identity placeholder \"[FIRST_NAME]\""),
        format!("{content}:9: content holds the identity placeholder \"{{{{first_name}}}}\""),
        format!("{content}:13: unknown segment `nobody`"),
        format!("{content}:19: unknown variant `missing_variant` in slot `hero`"),
        format!("{content}:24: arm weights of experiment `e1` sum to 90, not 100"),
    ];
    for line in &expected {
        assert!(
            stderr.lines().any(|l| l.starts_with(line.as_str())),
            "missing {line:?} in:\n{stderr}"
        );
    }
    assert!(stderr.contains("error(s)"));
}

#[test]
fn duplicate_ids_and_missing_fields_are_reported() {
    let files = [(
        "r.toml".to_string(),
        r#"
[[segment]]
id = "a"
name = "A"
when = { signal = "page.path", op = "exists" }

[[segment]]
id = "a"
name = "Again"
when = { signal = "page.path", op = "exists" }

[[segment]]
name = "No id"

[[slot]]
id = "s"
default = "nope"
[slot.variants.x]
content = { t = "x" }

[[rule]]
slot = "s"
segment = "a"
variant = "x"
experiment = { id = "e", arms = [{ variant = "x", weight = 100 }] }

[[surprise]]
x = 1
"#
        .to_string(),
    )];
    let errors = load_sources(&files).unwrap_err().to_string();
    for want in [
        "r.toml:7: duplicate segment id `a` (first defined at r.toml:2)",
        "r.toml:12: missing `id`",
        "r.toml:12: missing `when`",
        "r.toml:17: default variant `nope` is not a variant of slot `s`",
        "r.toml:21: a rule needs exactly one of `variant` or `experiment`",
        "r.toml:27: unknown section `surprise`",
    ] {
        assert!(
            errors.lines().any(|l| l.starts_with(want)),
            "missing {want:?} in:\n{errors}"
        );
    }
}

#[test]
fn toml_syntax_errors_have_lines_too() {
    let files = [(
        "bad.toml".to_string(),
        "[[segment]]\nid = \"x\"\nname = \"unterminated\n".to_string(),
    )];
    let errors = load_sources(&files).unwrap_err();
    assert!(errors.0.iter().all(|e| e.line.is_some()), "{errors}");
    assert!(errors.to_string().starts_with("bad.toml:3:"), "{errors}");
}

#[test]
fn the_version_ignores_comments_and_layout_but_not_content() {
    let a = load_sources(&[(
        "x.toml".into(),
        "[[segment]]\nid = \"a\"\nname = \"A\"\nwhen = { signal = \"lang\", op = \"eq\", value = \"en\" }\n".into(),
    )])
    .unwrap();
    let b = load_sources(&[("x.toml".into(), "# comment\n[[segment]]\nname = \"A\"\nid   = \"a\"\nwhen.signal = \"lang\"\nwhen.op = \"eq\"\nwhen.value = \"en\"\n".into())]).unwrap();
    let c = load_sources(&[(
        "x.toml".into(),
        "[[segment]]\nid = \"a\"\nname = \"A\"\nwhen = { signal = \"lang\", op = \"eq\", value = \"de\" }\n".into(),
    )])
    .unwrap();
    assert_eq!(a.version, b.version);
    assert_ne!(a.version, c.version);
}

#[test]
fn a_missing_rules_directory_is_an_error() {
    let (ok, _, stderr) = check(std::path::Path::new("/nonexistent/rules"));
    assert!(!ok);
    assert!(
        stderr.contains("/nonexistent/rules: cannot read rules directory"),
        "{stderr}"
    );
}

#[test]
fn check_verifies_taxonomy_ids_against_the_iab_files_and_names_them() {
    let (ok, stdout, _) = check(&example_rules());
    assert!(ok);
    assert!(stdout.contains("mortgage_intent            audience_taxonomy  1394  Purchase Intent* | Finance and Insurance | Mortgage Lenders and Brokers"), "{stdout}");
    assert!(stdout.contains("content_taxonomy   407  Home Financing"), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    write_rules(
        dir.path(),
        &[(
            "s.toml",
            "[[segment]]\nid = \"x\"\nname = \"X\"\naudience_taxonomy = [\"99999\"]\ncontent_taxonomy = [\"407\", \"ZZZ\"]\nwhen = { signal = \"lang\", op = \"eq\", value = \"en\" }\n",
        )],
    );
    let (ok, _, stderr) = check(dir.path());
    assert!(!ok);
    let file = dir.path().join("s.toml").display().to_string();
    assert!(
        stderr.contains(&format!(
            "{file}:1: audience_taxonomy id \"99999\" of segment `x` is not in the IAB Audience Taxonomy 1.1"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{file}:1: content_taxonomy id \"ZZZ\" of segment `x` is not in the IAB Content Taxonomy 3.1"
        )),
        "{stderr}"
    );
}
