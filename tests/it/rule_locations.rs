//! Diagnostics keep their exact `file:line:col` however the file is written: CRLF line ends,
//! values over several lines, characters of several bytes before the mistake, a mistake deep in a
//! large generated set, and a whole file on one line. Each place is checked against the same text
//! counted from the top, the way a person (or an editor) counts.

use std::process::Command;

use personify::domain::rules::generate::generate;
use personify::domain::rules::load::{load_sources, ErrorKind, LoadErrors};

use crate::helpers::*;

/// Line and column (1-based, in characters) of the `nth` occurrence of `needle`, counted from the
/// top of `text`.
fn place(text: &str, needle: &str, nth: usize) -> (usize, usize) {
    let at = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} occurs fewer than {} times", nth + 1))
        .0;
    let before = &text[..at];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Every diagnostic as `(kind, line, col)`, in the loader's order.
fn placed(errors: &LoadErrors) -> Vec<(ErrorKind, usize, usize)> {
    errors
        .0
        .iter()
        .map(|e| {
            let span = e.span.as_ref().unwrap_or_else(|| panic!("unplaced: {e}"));
            (e.kind, span.line, span.col)
        })
        .collect()
}

/// Written on Windows (every line ends in CRLF), with a multi-line name and description, a
/// condition over several lines and characters of two and three bytes before each mistake.
fn crlf() -> String {
    r#"# Rules written on Windows, with values over several lines.
[[segment]]
id = "multi"
name = """Multi
line name"""
description = '''
Spans
three lines.'''
when = { any = [
  { signal = "page.path", op = "eq", value = "/café" },
  { signal = "page.path", value = "/€uro", op = "starts_wth" },
] }

[[segment]]
id = "Bad Id"
name = "Ünïcode naïve"
when = { signal = "page.pth", op = "eq", value = "/x" }
"#
    .replace('\n', "\r\n")
}

#[test]
fn places_count_lines_after_crlf_and_multi_line_values_and_columns_in_characters() {
    let text = crlf();
    let errors = load_sources(&[("windows.toml".into(), text.clone())]).unwrap_err();
    let op = place(&text, "\"starts_wth\"", 0);
    // Counted by hand once, so the oracle itself is pinned: the 11th line, after `  { signal =
    // "page.path", value = "/€uro", op = ` (48 characters, 50 bytes).
    assert_eq!(op, (11, 49));
    assert_eq!(
        placed(&errors),
        [
            (ErrorKind::UnknownOp, op.0, op.1),
            (ErrorKind::BadId, 15, 6),
            (ErrorKind::UnknownSignal, 17, 19),
        ]
    );
    assert_eq!(place(&text, "\"Bad Id\"", 0), (15, 6));
    assert_eq!(place(&text, "\"page.pth\"", 0), (17, 19));
}

#[test]
fn check_prints_the_same_places_for_a_crlf_file_read_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    write_rules(dir.path(), &[("windows.toml", &crlf())]);
    let out = Command::new(env!("CARGO_BIN_EXE_personify"))
        .args(["--config", manifest_dir().join("config").to_str().unwrap(), "check"])
        .arg(dir.path())
        .output()
        .expect("personify runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = dir.path().join("windows.toml").display().to_string();
    for line in [
        format!("{file}:11:49: unknown op `starts_wth`; did you mean `starts_with`?"),
        format!("{file}:17:19: unknown signal `page.pth`; did you mean `page.path`?"),
    ] {
        assert!(stderr.lines().any(|l| l == line), "missing {line:?} in:\n{stderr}");
    }
}

#[test]
fn mistakes_deep_in_a_large_generated_set_are_placed_exactly() {
    let mut files = generate(5_000, 1);
    files[0].1 = files[0]
        .1
        .replacen("id = \"seg_4321\"\n", "id = \"seg_4321\"\nweight = 1\n", 1);
    files[2].1 = files[2]
        .1
        .replacen("segment = \"seg_4990\"\n", "segment = \"seg_499o\"\n", 1);
    let errors = load_sources(&files).unwrap_err();
    let (key, reference) = (
        place(&files[0].1, "weight = 1", 0),
        place(&files[2].1, "\"seg_499o\"", 0),
    );
    assert!(
        key.0 > 30_000 && reference.0 > 20_000,
        "deep in the files: {key:?} {reference:?}"
    );
    assert_eq!(
        placed(&errors),
        [
            (ErrorKind::UnknownKey, key.0, key.1),
            (ErrorKind::UnknownReference, reference.0, reference.1),
        ]
    );
    assert_eq!(errors.0[0].file, "segments.toml");
    assert_eq!(errors.0[1].file, "rules.toml");
}

#[test]
fn a_whole_file_on_one_line_is_placed_by_column() {
    let items: Vec<String> = (0..3_000)
        .map(|i| {
            let op = if i == 2_718 { "eqq" } else { "eq" };
            format!(
                r#"{{ id = "s{i}", name = "Ségment {i} — €", when = {{ signal = "page.path", op = "{op}", value = "/é{i}" }} }}"#
            )
        })
        .collect();
    let text = format!("segment = [ {} ]\n", items.join(", "));
    let errors = load_sources(&[("one-line.toml".into(), text.clone())]).unwrap_err();
    let op = place(&text, "\"eqq\"", 0);
    assert_eq!(op.0, 1);
    assert!(op.1 > 200_000, "far along the line: {op:?}");
    assert_eq!(placed(&errors), [(ErrorKind::UnknownOp, 1, op.1)]);
}
