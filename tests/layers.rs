//! The layer rules of `docs/architecture.md`, checked on the source: every `crate::` and `super::`
//! path anywhere in a file under `src/` (imports, inline paths, doc links) is resolved to the layer
//! it names, and an import the rules do not allow fails the test. The same checker runs on a fixture
//! tree with planted violations and must find each of them, so the test itself is tested.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// Each layer and the layers it may import (itself always).
const RULES: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("metrics", &[]),
    ("config", &["domain"]),
    ("store", &["domain"]),
    ("engine", &["domain", "store", "config", "metrics"]),
    ("http", &["engine", "domain", "config", "metrics"]),
    ("cli", &["domain", "config", "store", "engine"]),
    (
        "app",
        &["domain", "config", "store", "engine", "http", "cli", "metrics"],
    ),
];

/// The one file of `http` that may name the store: the error mapping.
const HTTP_STORE_EXCEPTION: &str = "http/error.rs";

/// Crates the pure domain may not use, and its other bans.
const DOMAIN_BANNED: &[&str] = &[
    "tokio::",
    "actix_web",
    "actix_http",
    "actix_cors",
    "sqlx::",
    "prometheus_client",
    "cfg(feature",
];

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    file: String,
    line: usize,
    message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "src/{}:{}: {}", self.file, self.line, self.message)
    }
}

/// The module path of a file under `src/` (`http/edge/gate.rs` → `["http", "edge", "gate"]`).
fn module_of(rel: &str) -> Vec<String> {
    let stem = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: Vec<String> = stem.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.clear();
    }
    parts
}

/// The text with string literals blanked (a path inside a string is not an import); comments stay,
/// because doc links name modules too.
fn without_strings(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    let mut in_str = false;
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        if in_str {
            if c == '\\' {
                chars.next();
                out.push(' ');
                continue;
            }
            if c == '"' {
                in_str = false;
                out.push('"');
            } else {
                out.push(' ');
            }
        } else {
            // `'"'` is a char literal, not a string.
            if c == '"' && prev != '\'' {
                in_str = true;
            }
            out.push(c);
        }
        prev = c;
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The first segments a path names: `crate::a::b` gives `a`; `crate::{a::x, b}` gives `a` and `b`.
fn first_segments(rest: &str) -> Vec<String> {
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 0usize;
        let mut out = Vec::new();
        let mut item = String::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(std::mem::take(&mut item));
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
        out.push(item);
        return out
            .iter()
            .map(|i| i.trim().chars().take_while(|c| is_ident(*c)).collect::<String>())
            .filter(|s| !s.is_empty() && s != "self")
            .collect();
    }
    let seg: String = rest.chars().take_while(|c| is_ident(*c)).collect();
    if seg.is_empty() {
        Vec::new()
    } else {
        vec![seg]
    }
}

/// Every layer a file names, with its line: `crate::X`, and `super::` chains resolved against the
/// file's module (inside an inline `mod … {`, one `super` first leaves that module).
fn named_layers(rel: &str, text: &str) -> Vec<(usize, String)> {
    let module = module_of(rel);
    let mut out = Vec::new();
    let mut depth = 0i64;
    let mut inline: Vec<i64> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = without_strings(raw);
        let trimmed = line.trim_start();
        let opens_mod =
            (trimmed.starts_with("mod ") || trimmed.starts_with("pub mod ") || trimmed.starts_with("pub(crate) mod "))
                && trimmed.trim_end().ends_with('{');
        for (at, _) in line.match_indices("crate::") {
            if at > 0 && line[..at].chars().last().is_some_and(is_ident) {
                continue;
            }
            for seg in first_segments(&line[at + "crate::".len()..]) {
                out.push((i + 1, seg));
            }
        }
        let mut search = 0;
        while let Some(found) = line[search..].find("super::") {
            let at = search + found;
            search = at + 1;
            if at > 0 && (line[..at].chars().last().is_some_and(is_ident) || line[..at].ends_with("::")) {
                continue;
            }
            let mut rest = &line[at..];
            let mut ups = 0usize;
            while let Some(r) = rest.strip_prefix("super::") {
                ups += 1;
                rest = r;
            }
            search = at + ups * "super::".len();
            // Inline modules are levels of their own; a file's own level is `module`.
            let inline_levels = inline.len();
            if ups <= inline_levels {
                // Stays inside this file: same layer.
                continue;
            }
            let ups = ups - inline_levels;
            if ups > module.len() {
                out.push((i + 1, "<above the crate>".to_string()));
                continue;
            }
            let base = &module[..module.len() - ups];
            match base.first() {
                Some(layer) => out.push((i + 1, layer.clone())),
                None => {
                    for seg in first_segments(rest) {
                        out.push((i + 1, seg));
                    }
                }
            }
        }
        let opens = line.matches('{').count() as i64;
        let closes = line.matches('}').count() as i64;
        if opens_mod {
            inline.push(depth);
        }
        depth += opens - closes;
        while inline.last().is_some_and(|d| depth <= *d) {
            inline.pop();
        }
    }
    out
}

/// Checks every `.rs` file under `src` against the rules.
fn check(src: &Path) -> Vec<Violation> {
    let allowed: BTreeMap<&str, BTreeSet<&str>> = RULES
        .iter()
        .map(|(layer, may)| (*layer, may.iter().copied().chain([*layer]).collect()))
        .collect();
    let mut files = Vec::new();
    collect(src, &mut files);
    let mut out = Vec::new();
    for path in files {
        let rel = path
            .strip_prefix(src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&path).expect("readable source");
        let module = module_of(&rel);
        let v = |line: usize, message: String| Violation {
            file: rel.clone(),
            line,
            message,
        };
        let Some(layer) = module.first() else {
            if rel == "lib.rs" {
                for (i, l) in text.lines().enumerate() {
                    let t = l.trim_start();
                    if t.starts_with("use ") || t.starts_with("pub use ") || t.starts_with("pub(crate) use ") {
                        out.push(v(i + 1, "lib.rs declares modules only: no re-export shims".into()));
                    }
                }
            } else if rel != "main.rs" {
                out.push(v(1, "src/ holds folders plus lib.rs and main.rs only".into()));
            }
            continue;
        };
        if module.len() == 1 && !rel.ends_with("/mod.rs") {
            out.push(v(1, "src/ holds folders plus lib.rs and main.rs only".into()));
            continue;
        }
        let Some(may) = allowed.get(layer.as_str()) else {
            out.push(v(1, format!("{layer} is not a layer of docs/architecture.md")));
            continue;
        };
        for (line, named) in named_layers(&rel, &text) {
            if may.contains(named.as_str()) {
                continue;
            }
            if layer == "http" && named == "store" && rel == HTTP_STORE_EXCEPTION {
                continue;
            }
            out.push(v(line, format!("{layer} may not import {named}")));
        }
        if layer == "domain" {
            for (i, l) in text.lines().enumerate() {
                let l = without_strings(l);
                for banned in DOMAIN_BANNED {
                    if l.contains(banned) {
                        out.push(v(
                            i + 1,
                            format!("domain is pure: no {}", banned.trim_end_matches("::")),
                        ));
                    }
                }
            }
        }
    }
    out.sort();
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("readable directory")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The layer graph as observed (which layer names which), for the cycle check.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    collect(src, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in files {
        let rel = path
            .strip_prefix(src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        let module = module_of(&rel);
        let Some(from) = module.first() else { continue };
        let text = std::fs::read_to_string(&path).expect("readable source");
        for (_, to) in named_layers(&rel, &text) {
            if &to != from {
                g.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    g
}

/// A cycle in the graph, if any, as the folders along it.
fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut c = stack[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for n in g.keys() {
        if let Some(c) = visit(n, g, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn src_follows_the_layer_rules() {
    let violations = check(&root().join("src"));
    assert!(
        violations.is_empty(),
        "{} import(s) break the layer rules of docs/architecture.md:\n{}",
        violations.len(),
        violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn no_import_cycle_between_the_folders_of_src() {
    let g = graph(&root().join("src"));
    assert_eq!(cycle(&g), None, "folders of src/ import each other in a cycle");
}

#[test]
fn the_checker_finds_every_planted_violation() {
    let src = root().join("tests/fixtures/layers/src");
    let found: Vec<String> = check(&src).iter().map(ToString::to_string).collect();
    let expected = [
        "src/domain/consent.rs:3: domain may not import store",
        "src/domain/consent.rs:8: domain may not import engine",
        "src/domain/consent.rs:11: domain is pure: no tokio",
        "src/http/admin/audit.rs:2: http may not import store",
        "src/http/admin/audit.rs:3: http may not import app",
        "src/lib.rs:10: lib.rs declares modules only: no re-export shims",
        "src/loose.rs:1: src/ holds folders plus lib.rs and main.rs only",
        "src/store/mod.rs:5: store may not import engine",
    ];
    assert_eq!(found, expected, "the checker must find exactly the planted violations");
    let g = graph(&src);
    assert!(cycle(&g).is_some(), "the fixture's store ↔ engine imports are a cycle");
}

#[test]
fn paths_in_strings_and_inline_modules_resolve_as_rust_does() {
    // `super::` inside an inline module stays in the file; at file level it climbs folders.
    let text = "mod tests {\n    use super::*;\n}\nuse super::super::store::X;\nconst S: &str = \"crate::app\";\n";
    let named = named_layers("engine/ledger/node.rs", text);
    assert_eq!(named, vec![(4, "engine".to_string())]);
    let named = named_layers("engine/node.rs", "use super::super::store::X;\n");
    assert_eq!(named, vec![(1, "store".to_string())]);
    let named = named_layers("http/mod.rs", "use crate::{engine::a, domain::{b, c}, self};\n");
    assert_eq!(named, vec![(1, "engine".to_string()), (1, "domain".to_string())]);
}
