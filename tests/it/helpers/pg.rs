//! A fresh PostgreSQL database per test, from `PERSONIFY_TEST_POSTGRES_URL`.

use rand::RngCore;

/// The variable `.ci/run` sets, e.g. `postgres://postgres@127.0.0.1:5432/test`.
pub const VAR: &str = "PERSONIFY_TEST_POSTGRES_URL";

/// Creates an empty database and returns its URL.
///
/// The PostgreSQL tests are `#[ignore]`d, so `cargo test` reports them as ignored; one that is run
/// anyway (`--ignored`, `--include-ignored`) without the variable fails here rather than passing
/// without having tested anything.
pub async fn fresh_database() -> String {
    let admin = std::env::var(VAR).unwrap_or_else(|_| {
        panic!(
            "{VAR} is not set, so this PostgreSQL test cannot run: set it (e.g. \
             postgres://postgres@127.0.0.1:5432/test) or leave out --ignored/--include-ignored"
        )
    });
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
    url.to_string()
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
