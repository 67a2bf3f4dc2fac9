//! `personify check` and the rule loader: every mistake is a typed diagnostic reported as
//! `file:line:col: message`, with a suggestion where a known name is close.

use std::process::Command;

use personify::domain::rules::load::{load_sources, load_sources_with, ErrorKind, LoadErrors, LoadOptions, Severity};

use crate::helpers::*;

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
        format!("{seg}:5:19: unknown signal `page.pth`; did you mean `page.path`?"),
        format!("{seg}:10:56: `between` bounds are inverted: [22, 18]"),
        format!("{seg}:15:56: bad regex for page.path"),
        format!(
            "{seg}:20:54: device.class is one of desktop, mobile, tablet, tv, bot, other; \"phone\" can never match"
        ),
        format!("{seg}:25:12: `priority` must be an integer, not a string"),
        format!("{seg}:26:63: op `gte` on session.pages_viewed needs an integer, not a string"),
        format!("{seg}:31:37: unknown op `like`"),
        format!("{content}:6:24: content holds the identity placeholder \"[FIRST_NAME]\""),
        format!("{content}:9:24: content holds the identity placeholder \"{{{{first_name}}}}\""),
        format!("{content}:13:11: unknown segment `nobody`"),
        format!("{content}:19:11: unknown variant `missing_variant` in slot `hero`"),
        format!("{content}:24:56: arm weights of experiment `e1` sum to 90, not 100"),
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
    let errors = load_sources(&files).unwrap_err();
    for (kind, line, message) in [
        (
            ErrorKind::Duplicate,
            7,
            "duplicate segment id `a` (first defined at r.toml:2:1)",
        ),
        (ErrorKind::MissingKey, 12, "missing `id`"),
        (ErrorKind::MissingKey, 12, "missing `when`"),
        (
            ErrorKind::UnknownReference,
            17,
            "default variant `nope` is not a variant of slot `s`",
        ),
        (
            ErrorKind::MissingKey,
            21,
            "a rule needs exactly one of `variant` or `experiment`",
        ),
        (ErrorKind::UnknownSection, 27, "unknown section `surprise`"),
    ] {
        assert!(
            errors.0.iter().any(|e| e.kind == kind
                && e.span.as_ref().map(|s| s.line) == Some(line)
                && e.message.starts_with(message)),
            "missing {kind:?} at line {line} {message:?} in:\n{errors}"
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
    assert!(
        errors.0.iter().all(|e| e.kind == ErrorKind::Syntax && e.span.is_some()),
        "{errors}"
    );
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
            "{file}:4:22: audience_taxonomy id \"99999\" of segment `x` is not in the IAB Audience Taxonomy 1.1"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{file}:5:28: content_taxonomy id \"ZZZ\" of segment `x` is not in the IAB Content Taxonomy 3.1"
        )),
        "{stderr}"
    );
}

const TYPOS: &str = r#"[[segment]]
id = "mortgage_intent"
name = "Mortgage intent"
when = { signal = "page.path", op = "starts_wth", value = "/mortgages" }

[[segment]]
id = "savers"
name = "Savers"
when = { signal = "page.pth", op = "starts_with", value = "/savings" }

[[slot]]
id = "hero"
default = "generic"
[slot.variants.generic]
content = { headline = "Hello" }

[[rule]]
slot = "hero"
segment = "mortage_intent"
variant = "generic"
"#;

fn check_with(dir: &std::path::Path, extra: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_personify"))
        .args(["--config", manifest_dir().join("config").to_str().unwrap(), "check"])
        .arg(dir)
        .args(extra)
        .output()
        .expect("personify runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn typos_of_an_op_a_signal_and_a_segment_id_are_each_placed_and_get_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    write_rules(dir.path(), &[("typos.toml", TYPOS)]);
    let (ok, _, stderr) = check(dir.path());
    assert!(!ok);
    let file = dir.path().join("typos.toml").display().to_string();
    for line in [
        format!("{file}:4:37: unknown op `starts_wth`; did you mean `starts_with`?"),
        format!("{file}:9:19: unknown signal `page.pth`; did you mean `page.path`?"),
        format!("{file}:19:11: unknown segment `mortage_intent`; did you mean `mortgage_intent`?"),
    ] {
        assert!(stderr.lines().any(|l| l == line), "missing {line:?} in:\n{stderr}");
    }
    assert!(stderr.contains("3 error(s)"), "{stderr}");
}

#[test]
fn the_same_typos_come_back_as_typed_values_and_as_json() {
    let errors = load_sources(&[("typos.toml".into(), TYPOS.into())]).unwrap_err();
    let found: Vec<(ErrorKind, usize, usize, Option<&str>)> = errors
        .0
        .iter()
        .map(|e| {
            let span = e.span.as_ref().expect("placed");
            (e.kind, span.line, span.col, e.suggestion.as_deref())
        })
        .collect();
    assert_eq!(
        found,
        [
            (ErrorKind::UnknownOp, 4, 37, Some("starts_with")),
            (ErrorKind::UnknownSignal, 9, 19, Some("page.path")),
            (ErrorKind::UnknownReference, 19, 11, Some("mortgage_intent")),
        ]
    );

    let dir = tempfile::tempdir().unwrap();
    write_rules(dir.path(), &[("typos.toml", TYPOS)]);
    let (ok, stdout, _) = check_with(dir.path(), &["--format", "json"]);
    assert!(!ok);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("check --format json prints JSON");
    let items = json.as_array().expect("an array");
    assert_eq!(items.len(), 3, "{json}");
    let file = dir.path().join("typos.toml").display().to_string();
    assert_eq!(
        items[0],
        serde_json::json!({"file": file, "line": 4, "col": 37, "severity": "error", "kind": "unknown_op",
                           "message": "unknown op `starts_wth`", "suggestion": "starts_with"})
    );
    assert_eq!(items[2]["kind"], "unknown_reference");
    assert_eq!(items[2]["suggestion"], "mortgage_intent");
}

#[test]
fn a_code_frame_puts_a_caret_under_the_mistake() {
    let errors = load_sources(&[("typos.toml".into(), TYPOS.into())]).unwrap_err();
    let op = &errors.0[0];
    let frame = op.render_frame(TYPOS, false);
    let lines: Vec<&str> = frame.lines().collect();
    let source = lines
        .iter()
        .position(|l| l.contains("op = \"starts_wth\""))
        .unwrap_or_else(|| panic!("no source line in:\n{frame}"));
    let caret = lines[source + 1];
    let code_at = lines[source].find("when =").unwrap();
    let caret_at = caret.find('^').unwrap_or_else(|| panic!("no caret in:\n{frame}"));
    // The caret sits under column 37 of the source line: the quoted op.
    assert_eq!(caret_at - code_at + 1, 37, "\n{frame}");
    assert!(frame.contains("typos.toml:4:37"), "{frame}");
    assert!(frame.contains("did you mean `starts_with`?"), "{frame}");
}

#[test]
fn a_path_without_a_leading_slash_is_a_warning_that_does_not_fail_check() {
    let dir = tempfile::tempdir().unwrap();
    write_rules(
        dir.path(),
        &[(
            "s.toml",
            "[[segment]]\nid = \"savers\"\nname = \"Savers\"\nwhen = { signal = \"page.path\", op = \"starts_with\", value = \"savings\" }\n\n[[segment]]\nid = \"home\"\nname = \"Home\"\nwhen = { signal = \"page.path\", op = \"eq\", value = \"index.html\" }\n",
        )],
    );
    let (ok, stdout, stderr) = check(dir.path());
    assert!(ok, "{stderr}");
    assert!(stdout.contains("ok: 2 segments"), "{stdout}");
    let file = dir.path().join("s.toml").display().to_string();
    assert!(
        stderr.contains(&format!("{file}:4:60: warning: page.path always starts with `/`, so \"savings\" can never match; did you mean `/savings`?")),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{file}:9:51: warning:")), "{stderr}");

    let loaded = personify::domain::rules::load::load_sources_with(
        &[(
            "s.toml".into(),
            std::fs::read_to_string(dir.path().join("s.toml")).unwrap(),
        )],
        &LoadOptions::default(),
    )
    .unwrap();
    let kinds: Vec<(ErrorKind, Severity)> = loaded.warnings.iter().map(|w| (w.kind, w.severity)).collect();
    assert_eq!(kinds, [(ErrorKind::NeverMatches, Severity::Warning); 2]);
}

const BASE_SLOT: &str = r#"[[segment]]
id = "savers"
name = "Savers"
when = { signal = "page.path", op = "starts_with", value = "/savings" }

[[slot]]
id = "hero"
default = "generic"
[slot.variants.generic]
content = { headline = "Hello" }
"#;

#[test]
fn a_campaign_file_adds_variants_to_a_slot_defined_elsewhere() {
    let campaign = "[[slot]]\nid = \"hero\"\n[slot.variants.isa_week]\ncontent = { headline = \"ISA week\" }\n\n[[rule]]\nslot = \"hero\"\nsegment = \"savers\"\nvariant = \"isa_week\"\n";
    let rules = load_sources(&[
        ("base.toml".into(), BASE_SLOT.into()),
        ("campaign.toml".into(), campaign.into()),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let hero = rules.slot("hero").unwrap();
    let ids: Vec<&str> = hero.variants.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["generic", "isa_week"]);
    assert_eq!(hero.variants[hero.default].id, "generic");

    let clash = "[[slot]]\nid = \"hero\"\n[slot.variants.generic]\ncontent = { headline = \"Again\" }\n";
    let errors = load_sources(&[
        ("base.toml".into(), BASE_SLOT.into()),
        ("campaign.toml".into(), clash.into()),
    ])
    .unwrap_err();
    let dup = errors
        .0
        .iter()
        .find(|e| e.kind == ErrorKind::Duplicate)
        .expect("a duplicate");
    assert_eq!(
        (dup.file.as_str(), dup.span.as_ref().unwrap().line),
        ("campaign.toml", 3)
    );
    assert!(
        dup.message
            .starts_with("duplicate variant id `generic` in slot `hero` (first defined at base.toml:9:"),
        "{errors}"
    );
}

const GOALS: &str = r#"[[goal]]
id = "signup"

[[segment]]
id = "savers"
name = "Savers"
when = { signal = "page.path", op = "starts_with", value = "/savings" }

[[slot]]
id = "hero"
default = "a"
[slot.variants.a]
content = { t = "a" }
[slot.variants.b]
content = { t = "b" }

[[rule]]
slot = "hero"
segment = "savers"
experiment = { id = "exp1", goals = ["isa_opened"], arms = [{ variant = "a", weight = 50 }, { variant = "b", weight = 50 }] }
"#;

#[test]
fn goals_are_declared_globally_or_per_experiment_and_nothing_else_is_known() {
    let rules = load_sources(&[("g.toml".into(), GOALS.into())]).unwrap_or_else(|e| panic!("{e}"));
    assert!(rules.goal_known(None, "signup"));
    assert!(rules.goal_known(Some("exp1"), "signup"));
    assert!(rules.goal_known(Some("exp1"), "isa_opened"));
    assert!(rules.goal_known(None, "isa_opened"));
    assert!(!rules.goal_known(Some("exp1"), "sign_up"));
    assert!(!rules.goal_known(None, "203.0.113.77"));
    assert!(!rules.goal_known(Some("other"), "isa_opened"));

    let bad = format!("{GOALS}\n[[goal]]\nid = \"signup\"\n\n[[goal]]\nid = \"Sign Up\"\n");
    let errors = load_sources(&[("g.toml".into(), bad)]).unwrap_err();
    let kinds: Vec<(ErrorKind, usize)> = errors
        .0
        .iter()
        .map(|e| (e.kind, e.span.as_ref().unwrap().line))
        .collect();
    assert_eq!(kinds, [(ErrorKind::Duplicate, 23), (ErrorKind::BadId, 26)], "{errors}");
}

const BEREAVEMENT: &str = r#"[[segment]]
id = "bereavement_support"
name = "Bereavement support"
sensitive = "life_event"
when = { signal = "page.path", op = "starts_with", value = "/bereavement-support" }

[[slot]]
id = "hero"
default = "generic"
[slot.variants.generic]
content = { headline = "Banking that works around you" }
[slot.variants.bereavement_help]
content = { headline = "HEADLINE", body = "What to do with accounts after a death, and dealing with the paperwork." }

[[rule]]
slot = "hero"
segment = "bereavement_support"
variant = "bereavement_help"
"#;

fn tone_errors(headline: &str, options: &LoadOptions) -> Result<(), LoadErrors> {
    let text = BEREAVEMENT.replace("HEADLINE", headline);
    load_sources_with(&[("b.toml".into(), text)], options).map(|_| ())
}

#[test]
fn content_a_sensitive_segment_receives_must_not_celebrate_or_sell() {
    let defaults = LoadOptions::default();
    tone_errors("We're here to help", &defaults).expect("a calm headline passes ('dealing' is not 'deal')");

    let errors = tone_errors("Congratulations on your recent loss", &defaults).unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    let e = &errors.0[0];
    assert_eq!(e.kind, ErrorKind::Tone);
    let span = e.span.as_ref().unwrap();
    assert_eq!((span.line, span.col), (13, 24), "{errors}");
    assert!(
        e.message
            .contains("sensitive segment `bereavement_support` (life_event)"),
        "{errors}"
    );
    assert!(e.message.ends_with("celebrates: \"congratulations\""), "{errors}");

    let errors = tone_errors("A limited time offer: 20% off", &defaults).unwrap_err();
    assert!(errors.0[0].message.ends_with("sells: \"offer\""), "{errors}");

    // The lists are configuration: an empty list lets anything through, a new phrase is caught.
    let custom = LoadOptions {
        tone: personify::domain::rules::ToneLists {
            celebration: vec![],
            selling: vec!["apply today".into()],
        },
        ..LoadOptions::default()
    };
    tone_errors("Congratulations", &custom).expect("celebration list emptied");
    assert_eq!(
        tone_errors("Apply today", &custom).unwrap_err().0[0].kind,
        ErrorKind::Tone
    );
}

#[test]
fn check_refuses_a_celebrating_bereavement_variant_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    write_rules(
        dir.path(),
        &[(
            "b.toml",
            &BEREAVEMENT.replace("HEADLINE", "Congratulations on your recent loss"),
        )],
    );
    let (ok, _, stderr) = check(dir.path());
    assert!(!ok);
    let file = dir.path().join("b.toml").display().to_string();
    assert!(
        stderr.contains(&format!("{file}:13:24: variant `bereavement_help`")),
        "{stderr}"
    );
}

#[test]
fn serve_refuses_an_unknown_taxonomy_id_with_the_same_message_as_check() {
    let dir = tempfile::tempdir().unwrap();
    write_rules(
        dir.path(),
        &[(
            "s.toml",
            "[[segment]]\nid = \"x\"\nname = \"X\"\naudience_taxonomy = [\"99999\"]\nwhen = { signal = \"lang\", op = \"eq\", value = \"en\" }\n",
        )],
    );
    let (ok, _, check_err) = check(dir.path());
    assert!(!ok);
    let message = check_err.lines().next().unwrap().to_string();
    assert!(
        message.ends_with("audience_taxonomy id \"99999\" of segment `x` is not in the IAB Audience Taxonomy 1.1"),
        "{message}"
    );

    let data = tempfile::tempdir().unwrap();
    let serve = Command::new(env!("CARGO_BIN_EXE_personify"))
        .args(["--config", manifest_dir().join("config").to_str().unwrap(), "serve"])
        .env("PERSONIFY__SERVER__PORT", "0")
        .env("PERSONIFY__RULES__DIR", dir.path())
        .env(
            "PERSONIFY__STORE__URL",
            format!("sqlite://{}/p.db", data.path().display()),
        )
        .output()
        .expect("personify runs");
    assert!(!serve.status.success());
    let stderr = String::from_utf8_lossy(&serve.stderr);
    assert!(
        stderr.lines().any(|l| l == message),
        "serve said:\n{stderr}\ncheck said: {message}"
    );
}

#[tokio::test]
async fn an_undeclared_goal_is_a_400_naming_the_field_and_stores_nothing() {
    let app = spawn_app_with(|s| s.privacy.k = 1).await;
    let event = |goal: &str| {
        serde_json::json!({"type": "conversion", "goal": goal, "experiment": "mortgage_hero_2026q4",
                           "page": {"url": "https://bank.example/mortgages/apply/done"},
                           "visitor_id": "4f9c2a1e-8b7d-4e3f-a2c1-9d8e7f6a5b4c"})
    };
    let send = |body: serde_json::Value| {
        app.client
            .post(app.url("/v1/events"))
            .header("CF-IPCountry", "US")
            .json(&body)
            .send()
    };
    // A declared goal is counted: the store query below can see a goal when there is one.
    let declared = send(event("mortgage_application")).await.unwrap();
    assert_eq!(declared.status(), 202);

    let undeclared = send(event("ip-203-0-113-77")).await.unwrap();
    assert_eq!(undeclared.status(), 400);
    let body = undeclared.text().await.unwrap();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"]["field"], "goal");
    assert!(!body.contains("203-0-113-77"), "the value is echoed: {body}");

    // Reports flush the in-memory sketches to the store first.
    assert_eq!(app.admin_get("/v1/admin/reports/segments").await.status(), 200);
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}/personify.db", app.data_dir.path().display()))
        .await
        .unwrap();
    let count = |pattern: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sketches WHERE key LIKE ?")
                .bind(pattern)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert!(count("%mortgage_application%").await > 0);
    assert_eq!(count("%203-0-113-77%").await, 0);
}

#[test]
fn the_default_a_sensitive_segments_holdout_sees_is_checked_too() {
    let text = BEREAVEMENT
        .replace("Banking that works around you", "Our best deals this week")
        .replace("HEADLINE", "We're here to help")
        .replace(
            "variant = \"bereavement_help\"",
            "experiment = { id = \"e\", holdout_percent = 10, arms = [{ variant = \"bereavement_help\", weight = 100 }] }",
        );
    let errors = load_sources(&[("b.toml".into(), text)]).unwrap_err();
    let tone: Vec<(ErrorKind, usize)> = errors
        .0
        .iter()
        .map(|e| (e.kind, e.span.as_ref().unwrap().line))
        .collect();
    assert_eq!(tone, [(ErrorKind::Tone, 11)], "{errors}");
    assert!(errors.0[0].message.contains("variant `generic`"), "{errors}");
}

#[test]
fn json_output_of_a_valid_set_lists_only_its_warnings_and_passes() {
    let dir = tempfile::tempdir().unwrap();
    write_rules(
        dir.path(),
        &[(
            "s.toml",
            "[[segment]]\nid = \"savers\"\nname = \"Savers\"\nwhen = { signal = \"page.path\", op = \"starts_with\", value = \"savings\" }\n",
        )],
    );
    let (ok, stdout, _) = check_with(dir.path(), &["--format", "json"]);
    assert!(ok);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("only JSON on stdout");
    assert_eq!(json.as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json[0]["severity"], "warning");
    assert_eq!(json[0]["kind"], "never_matches");
    assert_eq!(json[0]["suggestion"], "/savings");
}

#[test]
fn a_misspelt_key_gets_the_key_it_was_meant_to_be() {
    let text = "[[segment]]\nid = \"a\"\nname = \"A\"\ndescripton = \"typo\"\nwhen = { signal = \"lang\", op = \"eq\", value = \"en\" }\n";
    let errors = load_sources(&[("k.toml".into(), text.into())]).unwrap_err();
    let e = &errors.0[0];
    assert_eq!(e.kind, ErrorKind::UnknownKey);
    assert_eq!(e.suggestion.as_deref(), Some("description"));
    assert_eq!(e.span.as_ref().map(|s| (s.line, s.col)), Some((4, 1)));
}

/// The shipped rules with `plan` (lines of `experiment.*` keys) added to the mortgage experiment;
/// returns the directory, the content file's path and the first added line's number.
fn rules_with_plan(plan: &str) -> (tempfile::TempDir, String, usize) {
    let dir = tempfile::tempdir().unwrap();
    for f in ["segments.toml", "goals.toml"] {
        std::fs::copy(example_rules().join(f), dir.path().join(f)).unwrap();
    }
    let content = std::fs::read_to_string(example_rules().join("content.toml")).unwrap();
    let anchor = "experiment.goals = [\"mortgage_application\"]\n";
    let at = content.find(anchor).expect("the shipped experiment") + anchor.len();
    let line = content[..at].lines().count() + 1;
    let text = format!("{}{plan}{}", &content[..at], &content[at..]);
    let path = dir.path().join("content.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path.display().to_string(), line)
}

#[test]
fn check_refuses_a_bad_experiment_plan_naming_file_line_and_column() {
    let cases = [
        // (plan, offset of the reported line from the first added one, column, message)
        (
            "experiment.primary_goal = \"no_such_goal\"\n",
            Some((0, 27)),
            "`primary_goal` `no_such_goal` is not a goal of experiment `mortgage_hero_2026q4`",
        ),
        (
            "experiment.baseline_rate = 1.5\nexperiment.minimum_detectable_effect = 0.1\n",
            Some((0, 28)),
            "`baseline_rate` must be a conversion rate such as 0.05, strictly between 0 and 1",
        ),
        (
            "experiment.baseline_rate = 0.05\nexperiment.minimum_detectable_effect = -0.2\n",
            Some((1, 40)),
            "`minimum_detectable_effect` must be a relative lift",
        ),
        (
            "experiment.baseline_rate = 0.05\n",
            None,
            "`baseline_rate` and `minimum_detectable_effect` go together",
        ),
    ];
    for (plan, at, message) in cases {
        let (dir, path, line) = rules_with_plan(plan);
        let (ok, _, stderr) = check(dir.path());
        assert!(!ok, "{plan}: accepted");
        let reported = stderr
            .lines()
            .find(|l| l.contains(message))
            .unwrap_or_else(|| panic!("{plan}: no `{message}` in {stderr}"));
        match at {
            Some((offset, col)) => {
                let want = format!("{path}:{}:{col}: ", line + offset);
                assert!(reported.starts_with(&want), "{plan}: {reported}, want {want}");
            }
            None => {
                // Reported at the experiment: the file, then a line and a column.
                let rest = reported
                    .strip_prefix(&format!("{path}:"))
                    .unwrap_or_else(|| panic!("{reported}"));
                let mut parts = rest.splitn(3, ':');
                assert!(parts.next().is_some_and(|l| l.parse::<usize>().is_ok()), "{reported}");
                assert!(parts.next().is_some_and(|c| c.parse::<usize>().is_ok()), "{reported}");
            }
        }
    }
    // The same plan, well formed, passes: the test can tell a good plan from a bad one.
    let (dir, _, _) = rules_with_plan(
        "experiment.primary_goal = \"mortgage_application\"\nexperiment.baseline_rate = 0.05\nexperiment.minimum_detectable_effect = 0.1\n",
    );
    let (ok, _, stderr) = check(dir.path());
    assert!(ok, "{stderr}");
}
