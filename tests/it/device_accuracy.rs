//! Device classes measured on labels from an independent source: woothee's test sets
//! (tests/fixtures/ua/SOURCES.md says where they come from and how labels map to classes).

use std::path::PathBuf;

use personify::domain::signals::DeviceClass;

/// One labelled User-Agent.
#[derive(Debug, Default, Clone)]
struct Labelled {
    file: String,
    target: String,
    category: String,
    os: String,
}

/// woothee's test sets use a small YAML subset: `- target: '…'` starts an entry, `  key: value`
/// lines follow, single-quoted strings double their quotes.
fn unquote(v: &str) -> String {
    let v = v.trim();
    if let Some(inner) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        inner.replace("''", "'")
    } else if let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        inner.replace("\\\"", "\"")
    } else {
        v.to_string()
    }
}

fn corpus() -> Vec<Labelled> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ua/woothee");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let mut cur: Option<Labelled> = None;
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            if line.trim_start().starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix("- target:") {
                out.extend(cur.take());
                cur = Some(Labelled {
                    file: name.clone(),
                    target: unquote(rest),
                    ..Labelled::default()
                });
            } else if let (Some(c), Some((k, v))) = (cur.as_mut(), line.trim().split_once(':')) {
                match k {
                    "category" => c.category = unquote(v),
                    "os" => c.os = unquote(v),
                    _ => {}
                }
            }
        }
        out.extend(cur);
    }
    out
}

/// The personify classes a woothee label agrees with (see SOURCES.md).
fn accepted(l: &Labelled) -> Vec<Option<DeviceClass>> {
    use DeviceClass::*;
    match (l.category.as_str(), l.os.as_str()) {
        ("pc", _) => vec![Some(Desktop)],
        ("smartphone", "iPad") => vec![Some(Tablet)],
        ("smartphone", "iPhone" | "iPod") => vec![Some(Mobile)],
        ("smartphone", _) => vec![Some(Mobile), Some(Tablet)],
        ("mobilephone", _) => vec![Some(Mobile)],
        ("appliance", "Nintendo 3DS" | "Nintendo DSi" | "PlayStation Portable" | "PlayStation Vita") => {
            vec![Some(Tv), Some(Mobile)]
        }
        ("appliance", _) => vec![Some(Tv)],
        ("crawler", _) => vec![Some(Bot)],
        ("misc", _) => vec![Some(Bot), Some(Other)],
        _ => vec![None, Some(Other)],
    }
}

#[test]
fn device_classes_agree_with_woothee_labels_at_least_95_percent() {
    let corpus = corpus();
    assert!(corpus.len() >= 250, "{} labelled User-Agents", corpus.len());
    let mut misses = Vec::new();
    for l in &corpus {
        let got = DeviceClass::parse_user_agent(&l.target);
        if !accepted(l).contains(&got) {
            misses.push(format!("{} {}/{} -> {got:?}: {}", l.file, l.category, l.os, l.target));
        }
    }
    let agreement = 1.0 - misses.len() as f64 / corpus.len() as f64;
    println!(
        "device class agreement with woothee labels: {:.1}% of {} ({} disagreements)",
        agreement * 100.0,
        corpus.len(),
        misses.len()
    );
    for m in &misses {
        println!("  {m}");
    }
    assert!(agreement >= 0.95, "{:.3}: {misses:#?}", agreement);
}

#[test]
fn every_crawler_label_is_a_bot_or_close_to_it() {
    // Bots are never counted, so the crawler labels matter most: at most 3 of 81 may slip through.
    let corpus = corpus();
    let crawlers: Vec<_> = corpus.iter().filter(|l| l.category == "crawler").collect();
    let missed: Vec<_> = crawlers
        .iter()
        .filter(|l| DeviceClass::parse_user_agent(&l.target) != Some(DeviceClass::Bot))
        .map(|l| l.target.as_str())
        .collect();
    assert!(crawlers.len() >= 80 && missed.len() <= 3, "{missed:#?}");
}
