//! The documentation runs: every shell block of README.md and of every page under docs/ is executed,
//! page by page, each page against its own fresh server and its blocks in order; every JSON block
//! marked as expected output is compared with what the block before it printed.
//!
//! Markers, each an HTML comment on the line right before a fence (invisible when rendered):
//! - `<!-- readme-test: no-run REASON -->`: the block is not run (it needs PostgreSQL, Docker, another
//!   host, or takes minutes), but it must pass `bash -n`; the reason is required.
//! - `<!-- readme-test: start-server -->`: instead of the block (which starts the server by hand), the
//!   test starts the real binary with the environment exported so far and waits until it answers.
//! - `<!-- readme-test: expect -->` (optionally `expect ignore=a.b,c`): this `json` block is what the
//!   previous shell block printed. `"…"` matches any value, a string ending in `…` matches by prefix, an
//!   object key `"…"` allows extra keys, and listed paths are ignored (random per install).
//! - `<!-- readme-test: may-fail REASON -->`: the block runs; a failure does not fail the test.
//!
//! Shell blocks are fences marked `sh`, `bash` or `shell`. They run with `bash -euo pipefail` in one
//! temporary directory per page; exported variables carry over from block to block. `curl` runs with
//! `--fail-with-body`, so an HTTP error fails the block unless it is marked `may-fail`.
//! `http://127.0.0.1:8080` is rewritten to the page's test server. Every failure names the page and
//! the line of the block, and every page is run before the test fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::process::Server;

/// One fenced block of a page.
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

fn blocks(page: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = page.lines().enumerate();
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

fn is_shell(lang: &str) -> bool {
    matches!(lang, "sh" | "bash" | "shell")
}

/// README.md, then every Markdown file under docs/, as paths relative to the repository.
fn pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("docs directory")
            .map(|e| e.expect("directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let root = crate::helpers::manifest_dir();
    let mut out = vec![root.join("README.md")];
    walk(&root.join("docs"), &mut out);
    out.into_iter()
        .map(|p| p.strip_prefix(&root).expect("inside the repository").to_path_buf())
        .collect()
}

/// Does `actual` match the page's `expected`, under the wildcard rules above?
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
                        why.push(format!("{p}: not in the page's example"));
                    }
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            let open = e.last() == Some(&Value::String("…".into()));
            let shown = if open { &e[..e.len() - 1] } else { &e[..] };
            if a.len() < shown.len() || (!open && a.len() != shown.len()) {
                why.push(format!("{path}: {} items, the page shows {}", a.len(), e.len()));
                return;
            }
            for (i, (ev, av)) in shown.iter().zip(a).enumerate() {
                matches(ev, av, &format!("{path}[{i}]"), ignore, why);
            }
        }
        (e, a) if e == a => {}
        (e, a) => why.push(format!("{path}: {a} where the page shows {e}")),
    }
}

fn wait_ready(base: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let ok = Command::new("curl")
            .args(["-sf", &format!("{base}/healthz")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("the server did not answer /healthz".into())
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

/// What one page did.
#[derive(Debug, Default)]
struct PageRun {
    started_server: bool,
    ran: usize,
    compared: usize,
}

/// Runs one page's shell blocks in order against a server of its own; the error names the page and
/// the line of the block that failed.
fn run_page(page: &str, text: &str) -> Result<PageRun, String> {
    let blocks = blocks(text);
    let mut run = PageRun::default();
    // Markers first: a typo in one would silently run or skip a block.
    for block in &blocks {
        let at = format!("{page}:{}", block.line);
        let Some(marker) = block.marker.as_deref() else {
            continue;
        };
        let kind = marker.split_whitespace().next().unwrap_or("");
        if !["no-run", "start-server", "expect", "may-fail"].contains(&kind) {
            return Err(format!("{at}: unknown marker `{marker}`"));
        }
        if kind == "expect" && block.lang != "json" {
            return Err(format!("{at}: an expected output must be a json block"));
        }
        if kind != "expect" && !is_shell(&block.lang) {
            return Err(format!("{at}: `{kind}` marks a shell block, not {:?}", block.lang));
        }
        if kind == "no-run" {
            if marker["no-run".len()..].trim().is_empty() {
                return Err(format!("{at}: a no-run block needs a reason (`no-run REASON`)"));
            }
            let check = Command::new("bash")
                .args(["-n", "-c", &block.text])
                .output()
                .expect("bash runs");
            if !check.status.success() {
                return Err(format!(
                    "{at}: the no-run block is not valid shell:\n{}",
                    String::from_utf8_lossy(&check.stderr)
                ));
            }
        }
    }
    let runnable = blocks.iter().any(|b| {
        let m = b.marker.as_deref().unwrap_or("");
        is_shell(&b.lang) && !m.starts_with("no-run")
    });
    if !runnable {
        return Ok(run);
    }

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
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_personify"))
        .parent()
        .expect("binary directory")
        .to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());

    let mut server: Option<Server> = None;
    let mut base = String::new();
    let mut last_output: Option<(usize, String)> = None;
    for block in &blocks {
        let at = format!("{page}:{}", block.line);
        let marker = block.marker.as_deref().unwrap_or("");
        if block.lang == "json" && marker.starts_with("expect") {
            let (line, printed) = last_output
                .take()
                .ok_or_else(|| format!("{at}: an expected output follows no shell block"))?;
            let expected: Value =
                serde_json::from_str(&block.text).map_err(|e| format!("{at}: the expected output is not JSON: {e}"))?;
            let actual: Value = serde_json::from_str(printed.trim())
                .map_err(|e| format!("{page}:{line}: the block printed no single JSON value ({e}):\n{printed}"))?;
            let ignore: Vec<String> = marker
                .split_once("ignore=")
                .map(|(_, l)| l.split(',').map(|p| p.trim().to_string()).collect())
                .unwrap_or_default();
            let mut why = Vec::new();
            matches(&expected, &actual, "", &ignore, &mut why);
            if !why.is_empty() {
                return Err(format!(
                    "{at}: the output of the block at line {line} differs:\n{}\nactual: {actual}",
                    why.join("\n")
                ));
            }
            run.compared += 1;
            continue;
        }
        if !is_shell(&block.lang) || marker.starts_with("no-run") {
            continue;
        }
        if marker.starts_with("start-server") {
            let mut envs = exported(dir);
            envs.retain(|(k, _)| k.starts_with("PERSONIFY"));
            let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            // A second start-server on a page replaces the first server (same data directory).
            drop(server.take());
            let s = Server::start(&data, &envs);
            base = s.base();
            wait_ready(&base).map_err(|e| format!("{at}: {e}"))?;
            server = Some(s);
            run.started_server = true;
            continue;
        }
        if server.is_none() && block.text.contains("http://127.0.0.1:8080") {
            return Err(format!(
                "{at}: the block calls the server, but no block before it on the page starts one \
                 (mark one `<!-- readme-test: start-server -->`)"
            ));
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
        if !marker.starts_with("may-fail") && !out.status.success() {
            return Err(format!(
                "{at}: the block failed ({}):\n{}\nstdout:\n{stdout}\nstderr:\n{}",
                out.status,
                block.text,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        last_output = Some((block.line, stdout));
        run.ran += 1;
    }
    Ok(run)
}

#[test]
fn every_shell_block_of_every_page_runs_in_order_against_a_fresh_server() {
    let mut failures = Vec::new();
    let mut docs_ran = 0;
    for page in pages() {
        let name = page.display().to_string();
        let text = std::fs::read_to_string(crate::helpers::manifest_dir().join(&page)).expect("page");
        match run_page(&name, &text) {
            Ok(run) if name == "README.md" => {
                // The README's walk is the front door: it must start the server and show answers.
                if !run.started_server {
                    failures.push("README.md: never starts the server".to_string());
                }
                if run.ran < 5 || run.compared < 3 {
                    failures.push(format!(
                        "README.md: only {} blocks ran and {} outputs were compared",
                        run.ran, run.compared
                    ));
                }
            }
            Ok(run) => docs_ran += run.ran,
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(docs_ran >= 20, "only {docs_ran} blocks ran in docs/");
}

#[test]
fn every_copy_of_the_script_tag_names_the_sri_hash_of_the_served_sdk() {
    use base64::Engine;
    use sha2::Digest;
    let sdk = std::fs::read(crate::helpers::manifest_dir().join("sdk/dist/personify.js")).expect("sdk");
    let sri = format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(&sdk))
    );
    let mut copies = 0;
    for page in pages() {
        let text = std::fs::read_to_string(crate::helpers::manifest_dir().join(&page)).expect("page");
        for (i, line) in text.lines().enumerate() {
            if let Some((_, rest)) = line.split_once("integrity=\"") {
                let value = rest.split('"').next().unwrap_or("");
                assert_eq!(value, sri, "{}:{}: the script tag's integrity", page.display(), i + 1);
                copies += 1;
            }
        }
    }
    assert!(copies >= 1, "no page shows the script tag");
}

#[test]
fn markers_are_checked() {
    let page = "<!-- readme-test: no-run -->\n```sh\necho hi\n```\n";
    assert!(run_page("x.md", page).unwrap_err().contains("needs a reason"));
    let page = "<!-- readme-test: no-run (a reason) -->\n```sh\nif then\n```\n";
    assert!(run_page("x.md", page)
        .unwrap_err()
        .contains("x.md:2: the no-run block is not valid shell"));
    let page = "<!-- readme-test: no-rnu because -->\n```sh\necho hi\n```\n";
    assert!(run_page("x.md", page).unwrap_err().contains("unknown marker"));
    let page = "text\n\n```sh\ncurl -s http://127.0.0.1:8080/healthz\n```\n";
    assert!(run_page("x.md", page)
        .unwrap_err()
        .contains("x.md:3: the block calls the server"));
    let page = "<!-- readme-test: no-run (a reason) -->\n```sh\necho hi\n```\n";
    assert_eq!(run_page("x.md", page).unwrap().ran, 0);
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
