//! `portcullis keys` on the database of a running server: a rotation is published at once.

use crate::support::*;
use std::process::Command;
use std::time::Duration;

fn keys(args: &[&str]) -> (bool, String) {
    run_with_timeout(
        Command::new(binary()).arg("keys").args(args),
        Duration::from_secs(60),
    )
}

fn jwks(s: &Server) -> serde_json::Value {
    reqwest::blocking::get(format!("{}/.well-known/jwks.json", s.url))
        .unwrap()
        .json()
        .unwrap()
}

fn rotate_publishes_the_new_key_beside_the_old(backend: Backend) {
    let s = Server::start(backend);
    let client = reqwest::blocking::Client::new();
    let apps: serde_json::Value = client
        .get(format!("{}/api/application", s.url))
        .header("Authorization", &s.api_key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let app = apps["applications"][0]["id"].as_str().unwrap();
    let tenant = apps["applications"][0]["tenantId"].as_str().unwrap();
    // The tenant's first key is made on first need.
    let pk = client
        .get(format!("{}/api/jwt/public-key?applicationId={app}", s.url))
        .send()
        .unwrap();
    assert_eq!(pk.status(), 200);
    assert_eq!(jwks(&s)["keys"].as_array().unwrap().len(), 1);

    let db = s.database_url().to_string();
    let (ok, out) = keys(&[
        "rotate",
        "--database",
        &db,
        "--tenant",
        tenant,
        "--algorithm",
        "EdDSA",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("EdDSA active"), "{out}");
    let published = jwks(&s);
    let kty: Vec<&str> = published["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kty"].as_str().unwrap())
        .collect();
    assert_eq!(kty, ["EC", "OKP"], "{published}");

    let (ok, out) = keys(&["list", "--database", &db]);
    assert!(ok, "{out}");
    assert!(out.contains("ES256 retiring until"), "{out}");
    assert!(out.contains("EdDSA active"), "{out}");

    let (ok, out) = keys(&[
        "rotate",
        "--database",
        &db,
        "--tenant",
        "00000000-0000-0000-0000-000000000000",
    ]);
    assert!(!ok);
    assert!(out.contains("no tenant"), "{out}");
    let (ok, out) = keys(&[
        "rotate",
        "--database",
        &db,
        "--tenant",
        tenant,
        "--algorithm",
        "none",
    ]);
    assert!(!ok);
    assert!(out.contains("use ES256, EdDSA, RS256 or HS256"), "{out}");
}

#[test]
fn keys_rotate_publishes_the_new_key_beside_the_old_sqlite() {
    rotate_publishes_the_new_key_beside_the_old(Backend::Sqlite);
}

#[test]
fn keys_rotate_publishes_the_new_key_beside_the_old_postgres() {
    rotate_publishes_the_new_key_beside_the_old(Backend::Postgres);
}
