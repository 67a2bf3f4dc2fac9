//! PostgreSQL over TLS (`store.ca_file`), against a private server with `ssl = on` that refuses
//! plain connections, its certificate signed by a CA made in the test.

use personify::app::startup::Application;

use crate::helpers::private_pg::{make_ca, PrivatePostgres};
use crate::helpers::{spawn_app_with, test_settings, vid};

/// The in-process server's start-up error on this store, or `None` when it starts.
async fn start_error(url: &str, ca: Option<std::path::PathBuf>) -> Option<String> {
    let mut settings = test_settings();
    settings.store.url = url.parse().expect("store url");
    settings.store.ca_file = ca;
    match Application::build(&settings).await {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

#[tokio::test]
async fn the_server_reaches_postgres_over_tls_with_the_configured_ca() {
    let Some(pg) = PrivatePostgres::start_tls() else { return };
    let url = pg.url("localhost", "");
    let ca = pg.ca();
    let app = spawn_app_with(|s| {
        s.store.url = url.parse().expect("store url");
        s.store.ca_file = Some(ca);
    })
    .await;

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
    let receipt = app
        .client
        .post(app.url("/v1/consent"))
        .json(
            &serde_json::json!({"visitor_id": vid("tls"), "source": "cmp", "policy_version": "2026-11",
            "purposes": {"personalize": true, "measure": true, "advertise": false}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(receipt.status(), 201, "a consent write over TLS");
}

#[tokio::test]
async fn without_tls_the_private_server_refuses_the_connection() {
    // The server under test really requires TLS: the same URL in plain text is refused, so the test
    // above cannot pass over an unencrypted connection.
    let Some(pg) = PrivatePostgres::start_tls() else { return };
    let err = start_error(&pg.url("localhost", "?sslmode=disable"), None)
        .await
        .expect("a plain connection is refused");
    assert!(err.contains("no encryption") || err.contains("pg_hba.conf"), "{err}");
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let Some(pg) = PrivatePostgres::start_tls() else { return };
    let other = make_ca(pg.dir.path(), "other");
    let err = start_error(&pg.url("localhost", ""), Some(other))
        .await
        .expect("an unknown issuer is refused");
    assert!(err.contains("certificate") || err.contains("UnknownIssuer"), "{err}");
}

#[tokio::test]
async fn the_certificate_must_name_the_host_of_the_url() {
    // verify-full, not verify-ca: the certificate names `localhost`, so 127.0.0.1 does not match.
    let Some(pg) = PrivatePostgres::start_tls() else { return };
    let err = start_error(&pg.url("127.0.0.1", ""), Some(pg.ca()))
        .await
        .expect("a certificate for another name is refused");
    assert!(err.contains("certificate") || err.contains("NotValidForName"), "{err}");
}

#[tokio::test]
async fn a_ca_file_without_a_certificate_is_named() {
    // Checked before any connection is tried, so no server is needed.
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let err = start_error("postgres://postgres@localhost:1/postgres", Some(empty))
        .await
        .expect("refused");
    assert!(err.contains("store.ca_file") && err.contains("PEM"), "{err}");
}
