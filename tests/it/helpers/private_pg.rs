//! A private PostgreSQL server with TLS on, owned by one test: its own data directory, a random
//! port, certificates from a CA made for the test. The shared server of the other PostgreSQL tests
//! is never reconfigured or restarted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running private server; stopped (immediate mode) and removed on drop.
pub struct PrivatePostgres {
    /// Holds the data directory, the certificates and the log.
    pub dir: tempfile::TempDir,
    /// The port it listens on, on 127.0.0.1 only.
    pub port: u16,
    /// `pg_ctl` of the installation that started it.
    pg_ctl: PathBuf,
    /// Whether the server runs as the `postgres` user (the test runs as root, which PostgreSQL refuses).
    as_postgres: bool,
}

/// The directory of `initdb`, `pg_ctl` and `postgres`: `PERSONIFY_TEST_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian's layout).
fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("PERSONIFY_TEST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?} does not run: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn openssl(dir: &Path, args: &[&str]) {
    run(Command::new("openssl").current_dir(dir).args(args));
}

/// A self-signed CA: `NAME.key` and `NAME.pem` in `dir`.
pub fn make_ca(dir: &Path, name: &str) -> PathBuf {
    let subject = format!("/CN=personify test CA {name}");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &subject,
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    dir.join(format!("{name}.pem"))
}

/// A server certificate for the host name `localhost` only (no IP address), signed by CA `ca`.
fn make_server_cert(dir: &Path, ca: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PrivatePostgres {
    /// Starts a server that accepts TLS connections only (`hostssl` trust, `hostnossl` reject), with a
    /// certificate for `localhost` signed by the CA `DIR/ca.pem`. `None` when no PostgreSQL
    /// installation is found, except under CI (`CI` set), where that fails the test.
    pub fn start_tls() -> Option<PrivatePostgres> {
        let Some(bin) = bin_dir() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "no PostgreSQL binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or PERSONIFY_TEST_PG_BIN; \
                 .ci/run installs them"
            );
            eprintln!("SKIPPED: no PostgreSQL binaries (initdb, pg_ctl) found; set PERSONIFY_TEST_PG_BIN");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        make_ca(dir.path(), "ca");
        make_server_cert(dir.path(), "ca");
        let as_postgres = run(Command::new("id").arg("-u")).stdout.trim_ascii() == b"0";
        if as_postgres {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()));
        }
        let data = dir.path().join("data");
        let home = dir.path().to_path_buf();
        let as_owner = |program: &Path| {
            let mut cmd = if as_postgres {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            } else {
                Command::new(program)
            };
            cmd.current_dir(&home);
            cmd
        };
        run(as_owner(&bin.join("initdb"))
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "-D"])
            .arg(&data));
        let port = free_port();
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nssl = on\n\
             ssl_cert_file = '{}'\nssl_key_file = '{}'\nfsync = off\n",
            dir.path().display(),
            dir.path().join("server.pem").display(),
            dir.path().join("server.key").display(),
        );
        let mut pg_conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        pg_conf.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), pg_conf).unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        let pg_ctl = bin.join("pg_ctl");
        let server = PrivatePostgres {
            pg_ctl: pg_ctl.clone(),
            as_postgres,
            port,
            dir,
        };
        run(as_owner(&pg_ctl)
            .args(["-w", "-t", "30", "-l"])
            .arg(server.dir.path().join("postgres.log"))
            .arg("-D")
            .arg(&data)
            .arg("start"));
        Some(server)
    }

    /// The CA that signed the server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A URL for the `postgres` database on `host` (`localhost` matches the certificate).
    pub fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres{query}", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&self.pg_ctl);
            c
        } else {
            Command::new(&self.pg_ctl)
        };
        let _ = cmd
            .args(["-m", "immediate", "-D"])
            .arg(self.dir.path().join("data"))
            .arg("stop")
            .output();
    }
}
