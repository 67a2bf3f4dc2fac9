//! A fresh PostgreSQL database per test, from `PERSONIFY_TEST_POSTGRES_URL`.

use rand::RngCore;

/// The variable `.ci/run` sets, e.g. `postgres://postgres@127.0.0.1:5432/test`.
pub const VAR: &str = "PERSONIFY_TEST_POSTGRES_URL";

/// Creates an empty database and returns its URL; `None` (and a line saying the test skipped) when
/// the variable is not set.
pub async fn fresh_database(test: &str) -> Option<String> {
    let Ok(admin) = std::env::var(VAR) else {
        // Straight to file descriptor 2: libtest captures the output of passing tests, and a skip
        // must be seen.
        use std::io::Write;
        let line = format!(
            "SKIPPED {test}: set {VAR} (e.g. postgres://postgres@127.0.0.1:5432/test) to run the PostgreSQL tests\n"
        );
        match std::fs::OpenOptions::new().write(true).open("/proc/self/fd/2") {
            Ok(mut fd2) => {
                let _ = fd2.write_all(line.as_bytes());
            }
            Err(_) => eprint!("{line}"),
        }
        return None;
    };
    let mut b = [0u8; 6];
    rand::rng().fill_bytes(&mut b);
    let name = format!("personify_test_{}", hex::encode(b));
    let pool = sqlx::PgPool::connect(&admin).await.expect("the admin database answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create database");
    pool.close().await;
    let mut url = url::Url::parse(&admin).expect("a postgres:// URL");
    url.set_path(&format!("/{name}"));
    Some(url.to_string())
}

/// Refuses new connections to a database and terminates the open ones (a database "going away").
pub async fn cut_off(db_url: &str, allow: bool) {
    let admin = std::env::var(VAR).expect("set");
    let name = url::Url::parse(db_url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_string();
    let pool = sqlx::PgPool::connect(&admin).await.unwrap();
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}"))
        .execute(&pool)
        .await
        .unwrap();
    if !allow {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&name)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
}
