//! Kickstart: applied once to an empty instance, through the real API.

use crate::support::*;
use portcullis_api::kickstart::{apply, KickstartError, Outcome};
use portcullis_api::{ApiConfig, AppState, Background};
use portcullis_domain::Identity;
use portcullis_hash::HashPool;
use portcullis_store::testing::{Backend, TestDb};
use serde_json::json;
use std::sync::Arc;

portcullis_store::on_both_backends!(
    kickstart_creates_keys_and_runs_requests_once,
    kickstart_stops_at_a_failing_request_and_says_which,
);

async fn fresh(b: Backend) -> (TestDb, AppState) {
    let db = TestDb::new(b).await;
    let identity = Identity::new(Arc::new(db.store.clone()), HashPool::new(2, 64));
    identity.ensure_defaults().await.unwrap();
    // Kickstart queues no import job and sends no email: no workers.
    let (resets, _) = portcullis_domain::reset_queue();
    let state = AppState::new(
        identity.clone(),
        portcullis_domain::Sessions::new(identity),
        Default::default(),
        ApiConfig::default(),
        Background {
            import_jobs: Default::default(),
            resets,
        },
    );
    (db, state)
}

async fn kickstart_creates_keys_and_runs_requests_once(b: Backend) {
    let (_db, state) = fresh(b).await;
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var(
        "PORTCULLIS_TEST_KICKSTART_KEY",
        "kickstart-key-0123456789abcdef",
    );
    std::fs::write(
        dir.path().join("admin.json"),
        json!({"user": {"email": "admin@example.com", "password": "password123"},
               "registration": {"applicationId": "#{appId}", "roles": ["admin"]}})
        .to_string(),
    )
    .unwrap();
    let file = dir.path().join("kickstart.json");
    std::fs::write(
        &file,
        json!({
            "variables": {"apiKey": "#{ENV.PORTCULLIS_TEST_KICKSTART_KEY}", "appId": "#{UUID()}", "tenantId": "#{UUID()}"},
            "apiKeys": [{"key": "#{apiKey}", "description": "CI"}],
            "requests": [
                {"method": "POST", "url": "/api/tenant/#{tenantId}", "body": {"tenant": {"name": "Shop tenant"}}},
                {"method": "POST", "url": "/api/application/#{appId}", "tenantId": "#{tenantId}",
                 "body": {"application": {"name": "Shop", "roles": [{"name": "admin"}]}}},
                {"method": "POST", "url": "/api/user/registration", "tenantId": "#{tenantId}", "body": "@{admin.json}"}
            ]
        })
        .to_string(),
    )
    .unwrap();
    assert_eq!(
        apply(&state, &file).await.unwrap(),
        Outcome::Applied {
            api_keys: 1,
            requests: 3
        }
    );
    let key = state
        .identity
        .authenticate("kickstart-key-0123456789abcdef")
        .await
        .unwrap();
    assert!(key.is_some(), "the key from the environment works");
    let tenants = state
        .identity
        .tenants(portcullis_domain::Scope::ALL)
        .await
        .unwrap();
    let shop = tenants.iter().find(|t| t.name == "Shop tenant").unwrap();
    let admin = state
        .identity
        .user_by_email(
            portcullis_domain::Scope::tenant(shop.id.unwrap()),
            "admin@example.com",
        )
        .await
        .unwrap();
    assert_eq!(admin.registrations[0].roles, vec!["admin".to_string()]);
    assert_eq!(
        apply(&state, &file).await.unwrap(),
        Outcome::Skipped,
        "only on an empty instance"
    );
}

async fn kickstart_stops_at_a_failing_request_and_says_which(b: Backend) {
    let (_db, state) = fresh(b).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kickstart.json");
    std::fs::write(
        &file,
        json!({
            "apiKeys": [{"key": "another-kickstart-key-0123456789"}],
            "requests": [
                {"method": "POST", "url": "/api/user", "body": {"user": {"email": "a@example.com"}}},
                {"method": "POST", "url": "/api/user", "body": {"user": {"email": "A@example.com"}}}
            ]
        })
        .to_string(),
    )
    .unwrap();
    match apply(&state, &file).await {
        Err(KickstartError::Request {
            index,
            status,
            body,
            ..
        }) => {
            assert_eq!((index, status.as_u16()), (1, 400));
            assert!(body.contains("[duplicate]user.email"), "{body}");
        }
        other => panic!("expected the second request to fail, got {other:?}"),
    }
    let _unused = BODY_LIMIT;
}
