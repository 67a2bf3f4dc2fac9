//! `personify check` refuses every configuration `serve` refuses, naming the key, before it opens the
//! store or binds a port: the built binary, run on a temporary `--config` directory. Self-contained
//! (no shared test helpers).

use std::path::Path;
use std::process::{Command, Output};

const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// Runs `personify --config DIR check` from the crate root (the shipped rules and taxonomies), with
/// `local` as `DIR/local.toml`, no `PERSONIFY…` variable inherited, and `env` added.
fn check(dir: &Path, local: &str, env: &[(&str, &str)]) -> Output {
    std::fs::write(dir.join("local.toml"), local).expect("local.toml");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_personify"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--config")
        .arg(dir)
        .arg("check");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PERSONIFY") {
            cmd.env_remove(name);
        }
    }
    cmd.envs(env.iter().copied()).output().expect("run personify check")
}

/// A store and key file inside `dir`, so a run that opened either would leave files behind.
fn base(dir: &Path) -> String {
    format!(
        "[store]\nurl = \"sqlite://{d}/data/personify.db\"\n[consent]\nlog_key_file = \"{d}/keys/log.key\"\ncheckpoint_dir = \"{d}/checkpoints\"\n",
        d = dir.display()
    )
}

/// What is refused: a name, `local.toml` text, environment variables, the key stderr names, and a
/// secret it must not echo.
type Case<'a> = (&'a str, String, &'a [(&'a str, &'a str)], &'a str, Option<&'a str>);

/// `local` (after [`base`]) must make `check` fail naming `key`, without echoing `secret`.
fn refused(what: &str, local: &str, env: &[(&str, &str)], key: &str, secret: Option<&str>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = check(dir.path(), &format!("{}{local}", base(dir.path())), env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{what}: check passed\n{stderr}");
    assert!(stderr.contains(key), "{what}: stderr does not name {key}:\n{stderr}");
    if let Some(secret) = secret {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stderr.contains(secret) && !stdout.contains(secret),
            "{what}: secret echoed:\n{stderr}"
        );
    }
    for left in ["data", "keys", "checkpoints"] {
        assert!(!dir.path().join(left).exists(), "{what}: check created {left}/");
    }
}

#[test]
fn a_good_configuration_passes_without_opening_the_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let local = format!(
        "{}[server]\nclient_ip_header = \"X-Forwarded-For\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\nmetrics_addr = \"127.0.0.1:9464\"\n\
         [geo]\ncountry_header = \"X-Country\"\n[cors]\nallowed_origins = [\"https://www.bank.example\"]\n\
         [auth]\nadmin_token = \"{}\"\n[[auth.tokens]]\nname = \"ops\"\nsha256 = \"{HASH}\"\nscopes = [\"ops\", \"analyst\"]\n",
        base(dir.path()),
        "t".repeat(32)
    );
    let out = check(dir.path(), &local, &[]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok:"));
    for left in ["data", "keys", "checkpoints"] {
        assert!(!dir.path().join(left).exists(), "check created {left}/");
    }
}

#[test]
fn check_refuses_every_value_serve_refuses() {
    let short = "admin123-too-short";
    let cases: &[Case<'_>] = &[
        (
            "cidr",
            "[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n".into(),
            &[],
            "server.trusted_proxies",
            None,
        ),
        (
            "client ip header",
            "[server]\nclient_ip_header = \"X Forwarded\"\n".into(),
            &[],
            "server.client_ip_header",
            None,
        ),
        (
            "country header",
            "[geo]\ncountry_header = \"\"\n".into(),
            &[],
            "geo.country_header",
            None,
        ),
        (
            "token hash",
            "[[auth.tokens]]\nname = \"ops\"\nsha256 = \"deadbeef\"\nscopes = [\"ops\"]\n".into(),
            &[],
            "auth.tokens[0].sha256",
            Some("deadbeef"),
        ),
        (
            "scope",
            format!("[[auth.tokens]]\nname = \"ops\"\nsha256 = \"{HASH}\"\nscopes = [\"root\"]\n"),
            &[],
            "auth.tokens[0].scopes[0]",
            None,
        ),
        (
            "admin token length",
            format!("[auth]\nadmin_token = \"{short}\"\n"),
            &[],
            "auth.admin_token",
            Some(short),
        ),
        (
            "admin token from the environment",
            String::new(),
            &[("PERSONIFY_ADMIN_TOKEN", short)],
            "PERSONIFY_ADMIN_TOKEN",
            Some(short),
        ),
        (
            "origin",
            "[cors]\nallowed_origins = [\"https://bank.example/path\"]\n".into(),
            &[],
            "cors.allowed_origins",
            None,
        ),
        (
            "origin from the environment",
            String::new(),
            &[("PERSONIFY__CORS__ALLOWED_ORIGINS", "https://a.example,*")],
            "cors.allowed_origins",
            None,
        ),
        (
            "rate limit",
            "[limits.events]\nper_minute = 0\n".into(),
            &[],
            "limits.events.per_minute",
            None,
        ),
        (
            "rate limit burst",
            String::new(),
            &[("PERSONIFY__LIMITS__CONSENT__BURST", "0")],
            "limits.consent.burst",
            None,
        ),
        (
            "tracked networks",
            "[limits]\nmax_networks = 0\n".into(),
            &[],
            "limits.max_networks",
            None,
        ),
        (
            "store scheme",
            String::new(),
            &[("PERSONIFY__STORE__URL", "mysql://app:hunter2@db/personify")],
            "store.url",
            Some("hunter2"),
        ),
        (
            "store url syntax",
            String::new(),
            &[("PERSONIFY__STORE__URL", "postgres://app:hunter2@db:port/personify")],
            "store.url",
            Some("hunter2"),
        ),
        (
            "listen host",
            "[server]\nhost = \"not a host\"\n".into(),
            &[],
            "server.host",
            None,
        ),
        (
            "metrics address",
            "[server]\nmetrics_addr = \"9464\"\n".into(),
            &[],
            "server.metrics_addr",
            None,
        ),
        (
            "metrics address clash",
            "[server]\nport = 9000\nmetrics_addr = \"127.0.0.1:9000\"\n".into(),
            &[],
            "server.metrics_addr",
            None,
        ),
        (
            "log key inside the data directory",
            String::new(),
            &[
                ("PERSONIFY__CONSENT__LOG_KEY_FILE", "/nonexistent/data/log.key"),
                ("PERSONIFY__STORE__URL", "sqlite:///nonexistent/data/p.db"),
            ],
            "consent.log_key_file",
            None,
        ),
        (
            "log key from the environment",
            String::new(),
            &[("PERSONIFY_CONSENT_LOG_KEY", "bm90LWEtc2VlZA==")],
            "PERSONIFY_CONSENT_LOG_KEY",
            Some("bm90LWEtc2VlZA"),
        ),
        ("privacy threshold", "[privacy]\nk = 0\n".into(), &[], "privacy.k", None),
    ];
    for (what, local, env, key, secret) in cases {
        refused(what, local, env, key, *secret);
    }
}
