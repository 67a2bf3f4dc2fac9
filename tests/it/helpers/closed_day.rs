//! A closed UTC day, for the tests that read segment reports: reports show only closed days, so a
//! test runs the real binary under libfaketime at noon of day [`DAY`], sends its traffic, stops it
//! gracefully (the final flush), and restarts it on the same SQLite file at 03:00 the next day,
//! when [`DAY`] has closed (`2 × counts.flush_seconds + 60` s after midnight UTC).
//!
//! libfaketime is Debian's `faketime` package (`.ci/run` installs it). Where it is missing these
//! tests fail in CI (`CI=true`) and are skipped, saying so, elsewhere.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::process::Server;
use super::{TestApp, ADMIN_TOKEN};

/// The day the traffic is sent on.
pub const DAY: &str = "2026-01-10";
/// When the traffic is sent: noon of [`DAY`].
pub const NOON: &str = "2026-01-10 12:00:00";
/// When [`DAY`] is read back: closed, even with hourly flushes (`2 × 3600 + 60` s after midnight).
pub const NEXT_MORNING: &str = "2026-01-11 03:00:00";

/// Where Debian installs libfaketime.
const CANDIDATES: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
];

/// The libfaketime library, or `None` (the test is skipped, saying why) where it is not installed.
/// In CI its absence is a failure: a skipped test there would pass without testing anything.
pub fn libfaketime() -> Option<PathBuf> {
    if let Some(found) = CANDIDATES.iter().map(Path::new).find(|p| p.exists()) {
        return Some(found.to_path_buf());
    }
    let why = "libfaketime is not installed (Debian: apt-get install faketime), so this test cannot close a UTC day";
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    eprintln!("SKIPPED: {why}");
    None
}

/// The environment that makes the binary believe it is `at` (UTC) when it starts; its clock then
/// runs at the normal rate. The monotonic clock is left alone: tokio's timers read it.
pub fn faketime_env(lib: &Path, at: &str) -> Vec<(String, String)> {
    vec![
        ("LD_PRELOAD".into(), lib.display().to_string()),
        ("FAKETIME".into(), format!("@{at}")),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
        ("TZ".into(), "UTC".into()),
    ]
}

impl Server {
    /// Starts the binary on `store` believing it is `at` (UTC).
    pub fn start_on_at(lib: &Path, store: &str, at: &str, envs: &[(&str, &str)]) -> Server {
        let fake = faketime_env(lib, at);
        let mut all: Vec<(&str, &str)> = fake.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        all.extend_from_slice(envs);
        Server::start_on(store, &all)
    }

    /// SIGINT (no drain), then waits for the process to exit after its final flush.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "server did not stop: {}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(self.log_text().contains("final flush done"), "{}", self.log_text());
    }
}

/// The binary on its own SQLite file, at noon of [`DAY`] until [`ClosedDay::next_morning`].
pub struct ClosedDay {
    /// A client for the running server (its data directory is the SQLite file's).
    pub app: TestApp,
    server: Option<Server>,
    lib: PathBuf,
    env: Vec<(String, String)>,
}

impl ClosedDay {
    /// Starts the binary at [`NOON`] with `env` (and the test admin token); `None` when
    /// libfaketime is missing outside CI.
    pub fn start(env: &[(&str, &str)]) -> Option<ClosedDay> {
        let lib = libfaketime()?;
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.push(("PERSONIFY_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()));
        let mut day = ClosedDay {
            app: TestApp {
                address: String::new(),
                client: reqwest::Client::builder()
                    .pool_idle_timeout(Duration::from_secs(1))
                    .build()
                    .expect("client builds"),
                rules_version: String::new(),
                data_dir,
            },
            server: None,
            lib,
            env,
        };
        day.run_at(NOON);
        Some(day)
    }

    /// The SQLite store URL.
    pub fn store_url(&self) -> String {
        format!("sqlite://{}/personify.db", self.app.data_dir.path().display())
    }

    fn run_at(&mut self, at: &str) {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let server = Server::start_on_at(&self.lib, &self.store_url(), at, &env);
        self.app.address = server.base();
        self.server = Some(server);
    }

    /// Stops the server gracefully and restarts it on the same file at [`NEXT_MORNING`].
    pub fn next_morning(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
        self.run_at(NEXT_MORNING);
    }

    /// The segment report of [`DAY`] alone.
    pub async fn day_report(&self) -> Value {
        let res = self
            .app
            .admin_get(&format!("/v1/admin/reports/segments?from={DAY}&to={DAY}"))
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.expect("a report")
    }
}

/// The segment `id` of a segments report.
pub fn segment<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no segment {id}: {report}"))
}

/// The one day cell of segment `id` in a one-day report.
pub fn day_cell<'a>(report: &'a Value, id: &str) -> &'a Value {
    let days = segment(report, id)["days"].as_array().expect("days");
    assert_eq!(days.len(), 1, "{report}");
    &days[0]
}
