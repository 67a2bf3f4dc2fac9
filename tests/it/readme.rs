//! The README runs: every `sh` block is executed in order against a fresh server, and every JSON
//! block marked as expected output is compared with what the block before it printed.
//!
//! Markers, each an HTML comment on the line right before a fence (invisible on GitHub):
//! - `<!-- readme-test: no-run REASON -->`: the block is not run (e.g. `cargo test` itself).
//! - `<!-- readme-test: start-server -->`: instead of the block (which starts the server by hand), the
//!   test starts the real binary with the environment exported so far and waits until it answers.
//! - `<!-- readme-test: expect -->` (optionally `expect ignore=a.b,c`): this `json` block is what the
//!   previous `sh` block printed. `"…"` matches any value, a string ending in `…` matches by prefix, an
//!   object key `"…"` allows extra keys, and listed paths are ignored (random per install).
//!
//! Blocks run with `bash -euo pipefail` in one temporary directory; exported variables carry over
//! from block to block. `curl` runs with `--fail-with-body`, so an HTTP error fails the block unless it
//! is marked `<!-- readme-test: may-fail -->`. `http://127.0.0.1:8080` is rewritten to the test
//! server's address.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::process::Server;

/// One fenced block of the README.
#[derive(Debug)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    /// The fence's language.
    lang: String,
    /// The marker comment right before the fence, without `readme-test:`.
    marker: Option<String>,
    /// The block's text.
    text: String,
}

fn blocks(readme: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = readme.lines().enumerate();
    let mut previous: Option<&str> = None;
    while let Some((i, line)) = lines.next() {
        if let Some(lang) = line.strip_prefix("```") {
            let marker = previous
                .and_then(|p| p.trim().strip_prefix("<!-- readme-test:"))
                .and_then(|p| p.strip_suffix("-->"))
                .map(|m| m.trim().to_string());
            let mut text = String::new();
            for (_, l) in lines.by_ref() {
                if l.starts_with("```") {
                    break;
                }
                text.push_str(l);
                text.push('\n');
            }
            out.push(Block {
                line: i + 1,
                lang: lang.trim().to_string(),
                marker,
                text,
            });
            previous = None;
        } else if !line.trim().is_empty() {
            previous = Some(line);
        }
    }
    out
}

/// Does `actual` match the README's `expected`, under the wildcard rules above?
fn matches(expected: &Value, actual: &Value, path: &str, ignore: &[String], why: &mut Vec<String>) {
    if ignore.iter().any(|p| p == path) {
        return;
    }
    match (expected, actual) {
        (Value::String(e), _) if e == "…" => {}
        (Value::String(e), Value::String(a)) if e.ends_with('…') => {
            if !a.starts_with(e.trim_end_matches('…')) {
                why.push(format!("{path}: {a:?} does not start with {e:?}"));
            }
        }
        (Value::Object(e), Value::Object(a)) => {
            let open = e.contains_key("…");
            for (k, v) in e.iter().filter(|(k, _)| k.as_str() != "…") {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match a.get(k) {
                    Some(av) => matches(v, av, &p, ignore, why),
                    None => why.push(format!("{p}: missing")),
                }
            }
            if !open {
                for k in a.keys().filter(|k| !e.contains_key(*k)) {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    if !ignore.contains(&p) {
                        why.push(format!("{p}: not in the README's example"));
                    }
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            let open = e.last() == Some(&Value::String("…".into()));
            let shown = if open { &e[..e.len() - 1] } else { &e[..] };
            if a.len() < shown.len() || (!open && a.len() != shown.len()) {
                why.push(format!("{path}: {} items, the README shows {}", a.len(), e.len()));
                return;
            }
            for (i, (ev, av)) in shown.iter().zip(a).enumerate() {
                matches(ev, av, &format!("{path}[{i}]"), ignore, why);
            }
        }
        (e, a) if e == a => {}
        (e, a) => why.push(format!("{path}: {a} where the README shows {e}")),
    }
}

fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let ok = Command::new("curl")
            .args(["-sf", &format!("{base}/healthz")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the server did not answer /healthz");
}

/// Environment variables `declare -px` wrote, as (name, value) pairs, read back by bash itself.
fn exported(dir: &Path) -> Vec<(String, String)> {
    let out = Command::new("bash")
        .current_dir(dir)
        .args(["-c", "source ./env.sh; env -0"])
        .output()
        .expect("bash runs");
    String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_readme_shell_block_runs_in_order_against_a_fresh_server() {
    let readme = std::fs::read_to_string(crate::helpers::manifest_dir().join("README.md")).expect("README.md");
    let work = tempfile::tempdir().expect("temp dir");
    let dir = work.path();
    std::fs::write(dir.join(".curlrc"), "--fail-with-body\n--show-error\n").expect("curlrc");
    std::fs::write(dir.join("env.sh"), "").expect("env.sh");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    // As in a checkout: the rules, taxonomies and configuration beside the working directory, and
    // the `personify` binary on PATH.
    for name in ["segment_rules", "taxonomies", "config"] {
        std::os::unix::fs::symlink(crate::helpers::manifest_dir().join(name), dir.join(name)).expect("symlink");
    }
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_personify"))
        .parent()
        .expect("binary directory")
        .to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());

    let mut server: Option<Server> = None;
    let mut base = String::new();
    let mut last_output: Option<(usize, String)> = None;
    let (mut ran, mut compared) = (0, 0);
    for block in blocks(&readme) {
        let marker = block.marker.as_deref().unwrap_or("");
        if block.lang == "json" && marker.starts_with("expect") {
            let (line, printed) = last_output
                .take()
                .unwrap_or_else(|| panic!("README.md:{}: an expected output follows no shell block", block.line));
            let expected: Value = serde_json::from_str(&block.text)
                .unwrap_or_else(|e| panic!("README.md:{}: the expected output is not JSON: {e}", block.line));
            let actual: Value = serde_json::from_str(printed.trim()).unwrap_or_else(|e| {
                panic!("README.md:{line}: the block printed no single JSON value ({e}):\n{printed}")
            });
            let ignore: Vec<String> = marker
                .split_once("ignore=")
                .map(|(_, l)| l.split(',').map(|p| p.trim().to_string()).collect())
                .unwrap_or_default();
            let mut why = Vec::new();
            matches(&expected, &actual, "", &ignore, &mut why);
            assert!(
                why.is_empty(),
                "README.md:{}: the output of the block at line {line} differs:\n{}\nactual: {actual}",
                block.line,
                why.join("\n")
            );
            compared += 1;
            continue;
        }
        if block.lang != "sh" || marker.starts_with("no-run") {
            continue;
        }
        if marker.starts_with("start-server") {
            let mut envs = exported(dir);
            envs.retain(|(k, _)| k.starts_with("PERSONIFY"));
            let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let s = Server::start(&data, &envs);
            base = s.base();
            wait_ready(&base);
            server = Some(s);
            continue;
        }
        let script = format!(
            "source ./env.sh\n{}\ndeclare -px > ./env.sh\n",
            block.text.replace("http://127.0.0.1:8080", &base)
        );
        // A block that hangs fails the test in a minute instead of holding the suite.
        let out = Command::new("timeout")
            .arg("60")
            .arg("bash")
            .current_dir(dir)
            .env("HOME", dir)
            .env("PATH", &path)
            .args(["-euo", "pipefail", "-c", &script])
            .output()
            .expect("bash runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !marker.starts_with("may-fail") {
            assert!(
                out.status.success(),
                "README.md:{}: the block failed ({}):\n{}\nstdout:\n{stdout}\nstderr:\n{}",
                block.line,
                out.status,
                block.text,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        last_output = Some((block.line, stdout));
        ran += 1;
    }
    assert!(server.is_some(), "the README never starts the server");
    assert!(ran >= 5, "only {ran} README blocks ran");
    assert!(compared >= 3, "only {compared} README outputs were compared");
}

#[test]
fn the_output_matcher_reports_differences() {
    let expected = serde_json::json!({"a": "x…", "b": [1, "…"], "c": "…", "d": {"e": 1}});
    let mut why = Vec::new();
    matches(
        &expected,
        &serde_json::json!({"a": "xyz", "b": [1, 2, 3], "c": null, "d": {"e": 1}}),
        "",
        &[],
        &mut why,
    );
    assert!(why.is_empty(), "{why:?}");
    matches(
        &expected,
        &serde_json::json!({"a": "yz", "b": [2], "c": 1, "d": {"e": 2, "f": 3}}),
        "",
        &[],
        &mut why,
    );
    assert_eq!(why.len(), 4, "{why:?}");
    let mut why = Vec::new();
    matches(
        &expected,
        &serde_json::json!({"a": "yz", "b": [1], "c": 1, "d": {"e": 2}}),
        "",
        &["a".to_string(), "d.e".to_string()],
        &mut why,
    );
    assert!(why.is_empty(), "{why:?}");
}
