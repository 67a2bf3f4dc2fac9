//! The real `personify` binary as a child process, for tests that kill it or read its log.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{example_rules, manifest_dir};

/// The real binary with stdout and stderr captured line by line.
pub struct Server {
    pub child: Child,
    pub log: Arc<Mutex<Vec<String>>>,
    pub port: u16,
}

impl Server {
    pub fn start(data_dir: &std::path::Path, envs: &[(&str, &str)]) -> Server {
        Server::start_on(&format!("sqlite://{}/personify.db", data_dir.display()), envs)
    }

    /// Starts the binary on any store URL.
    pub fn start_on(store: &str, envs: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_personify"))
            .args(["--config", manifest_dir().join("config").to_str().unwrap(), "serve"])
            .env("PERSONIFY__SERVER__PORT", "0")
            .env("PERSONIFY__SERVER__WORKERS", "1")
            .env("PERSONIFY__RULES__DIR", example_rules())
            .env("RUST_LOG", "debug")
            .env("PERSONIFY__STORE__URL", store)
            .env("PERSONIFY__CONSENT__LOG_KEY_FILE", super::test_log_key())
            .env("PERSONIFY__CONSENT__CHECKPOINT_DIR", "")
            // Every test client is the same loopback network; the limits have their own tests.
            .env("PERSONIFY__LIMITS__ENABLED", "false")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        // A debug build starting beside the rest of the suite (several nodes at once) has taken over 20 s.
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = loop {
            let found = log.lock().unwrap().iter().find_map(|l| {
                l.contains("personify listening")
                    .then(|| l.split("port=").nth(1)?.split_whitespace().next()?.parse().ok())
                    .flatten()
            });
            if let Some(p) = found {
                break p;
            }
            assert!(
                Instant::now() < deadline,
                "server did not start: {:?}",
                log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Server { child, log, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no graceful shutdown, no flush.
    pub fn kill_9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The captured log so far.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}
