//! Rule loading stays linear in the size of the rules, and a reload compiles beside the request
//! path, not on it. Neither test asserts a duration: one compares two loads in the same process,
//! the other the order in which answers arrive.

use std::time::{Duration, Instant};

use personify::domain::rules::generate::{generate, page_url};
use personify::domain::rules::load::load_sources;
use serde_json::json;

use crate::helpers::machine::timing_test;
use crate::helpers::*;

/// The shortest of `runs` loads of `files`.
fn fastest_load(files: &[(String, String)], runs: usize) -> Duration {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            let rules = load_sources(files).expect("a generated set loads");
            let took = started.elapsed();
            drop(rules);
            took
        })
        .min()
        .unwrap_or_default()
}

/// Ten times the segments may cost up to 2.5 times ten times the time: room for a busy machine
/// and for hash tables outgrowing a cache, none for the quadratic loader this replaced, which
/// took about 90 times as long for 10,000 segments as for 1,000.
#[tokio::test]
async fn loading_ten_times_the_segments_costs_about_ten_times_as_much() {
    let _timing = timing_test().await;
    let (small, large) = (generate(1_000, 1), generate(10_000, 1));
    // Warm the allocator and the lazily built regexes first; the shortest run of each is the one
    // the machine disturbed least.
    fastest_load(&small, 1);
    let small_took = fastest_load(&small, 5);
    let large_took = fastest_load(&large, 2);
    let ratio = large_took.as_secs_f64() / small_took.as_secs_f64();
    assert!(
        ratio < 25.0,
        "1,000 segments load in {small_took:?}, 10,000 in {large_took:?}: {ratio:.1} times as long"
    );
}

/// With one worker, a decision that had to wait for the compile would arrive after the reload's
/// answer; decisions keep arriving while a large set compiles, and the new set is served after it.
#[tokio::test]
async fn decisions_are_answered_while_a_large_set_compiles() {
    let _timing = timing_test().await;
    let rules = tempfile::tempdir().unwrap();
    write_files(rules.path(), generate(10_000, 1));
    let dir = rules.path().to_path_buf();
    let app = spawn_app_with(move |s| s.rules.dir = dir).await;
    write_files(rules.path(), generate(10_000, 2));

    let reload = {
        let (client, url) = (app.client.clone(), app.url("/v1/admin/rules/reload"));
        tokio::spawn(async move { client.post(url).bearer_auth(ADMIN_TOKEN).send().await })
    };
    let mut answered_during = 0;
    let mut i = 0;
    while !reload.is_finished() {
        let res = app.decide(&json!({"page": {"url": page_url(i)}}), Some("US")).await;
        assert_eq!(res.status(), 200);
        if !reload.is_finished() {
            answered_during += 1;
        }
        i += 1;
    }
    let res = reload.await.expect("the reload task ends").expect("the reload answers");
    assert_eq!(res.status(), 200);
    let reloaded: serde_json::Value = res.json().await.unwrap();
    assert_eq!(reloaded["changed"], true, "{reloaded}");
    assert!(
        answered_during >= 5,
        "only {answered_during} decision(s) answered while the set compiled"
    );
    let after = app.decide_ok(&json!({"page": {"url": page_url(0)}})).await;
    assert_eq!(after["rules_version"], reloaded["version"]);
}

fn write_files(dir: &std::path::Path, files: Vec<(String, String)>) {
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write rule file");
    }
}
