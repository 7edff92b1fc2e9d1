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
    a_fusionauth_client_library_kickstart_runs_unchanged,
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

/// A Kickstart file in the shape FusionAuth's client libraries test against: a licence id, the
/// default tenant given a fixed id through `defaultTenantId`, users registered to the admin
/// application with its `admin` role through `#{FUSIONAUTH_APPLICATION_ID}`, and an application
/// of the file's own.
async fn a_fusionauth_client_library_kickstart_runs_unchanged(b: Backend) {
    let (_db, state) = fresh(b).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kickstart.json");
    let tenant_id = "7a3c1d52-9b0e-4f61-8d27-3e5f4a6b7c80";
    let app_id = "c61f0e2a-4d8b-4b3e-9f5a-1e2d3c4b5a69";
    std::fs::write(
        &file,
        json!({
            "licenseId": "not-a-real-licence",
            "variables": {
                "adminEmail": "admin@piper.example",
                "password": "password-of-the-admin",
                "defaultTenantId": tenant_id,
                "teamApplicationId": app_id
            },
            "apiKeys": [{"key": "client-library-test-key-0123456789", "description": "Development key"}],
            "requests": [
                {"method": "POST", "url": "/api/application/#{teamApplicationId}",
                 "body": {"application": {"name": "Team", "roles": [{"name": "dev"}, {"name": "lead"}],
                          "loginConfiguration": {"generateRefreshTokens": true}}}},
                {"method": "POST", "url": "/api/user/registration/00000000-0000-0000-0000-000000000001",
                 "body": {"user": {"email": "#{adminEmail}", "password": "#{password}", "firstName": "Ada",
                                   "birthDate": "1981-06-04", "data": {"Company": "Piper"}},
                          "registration": {"applicationId": "#{FUSIONAUTH_APPLICATION_ID}", "roles": ["admin"]}}},
                {"method": "POST", "url": "/api/user/registration/00000000-0000-0000-0000-000000000001",
                 "body": {"registration": {"applicationId": "#{teamApplicationId}", "roles": ["lead"]}}},
                {"method": "POST", "url": "/api/user/registration/00000000-0000-0000-0000-000000000002",
                 "body": {"user": {"email": "second@piper.example", "password": "#{password}",
                                   "imageUrl": "https://piper.example/second.png"},
                          "registration": {"applicationId": "#{FUSIONAUTH_APPLICATION_ID}", "roles": ["admin"]}}},
                {"method": "PATCH", "url": "/api/tenant/#{FUSIONAUTH_TENANT_ID}",
                 "body": {"tenant": {"data": {"kickstarted": true}}}}
            ]
        })
        .to_string(),
    )
    .unwrap();
    assert_eq!(
        apply(&state, &file).await.unwrap(),
        Outcome::Applied {
            api_keys: 1,
            requests: 5
        }
    );
    let all = portcullis_domain::Scope::ALL;
    let tenants = state.identity.tenants(all).await.unwrap();
    assert_eq!(
        tenants.len(),
        1,
        "the default tenant is re-keyed, not doubled"
    );
    assert_eq!(tenants[0].id.unwrap().to_string(), tenant_id);
    assert_eq!(tenants[0].name, "Default");
    assert_eq!(tenants[0].data["kickstarted"], true);
    let ids = state.identity.default_ids().await.unwrap().unwrap();
    assert_eq!(ids.tenant.to_string(), tenant_id);
    let admin_app = state
        .identity
        .application(all, ids.application)
        .await
        .unwrap();
    assert_eq!(admin_app.tenant_id, Some(ids.tenant));
    assert_eq!(admin_app.roles[0].name, "admin");

    let scope = portcullis_domain::Scope::tenant(ids.tenant);
    let admin = state
        .identity
        .user_by_email(scope, "admin@piper.example")
        .await
        .unwrap();
    assert_eq!(
        admin.id.unwrap().to_string(),
        "00000000-0000-0000-0000-000000000001"
    );
    let mut regs: Vec<_> = admin
        .registrations
        .iter()
        .map(|r| (r.application_id.unwrap(), r.roles.clone()))
        .collect();
    regs.sort();
    let mut want = vec![
        (ids.application, vec!["admin".to_string()]),
        (app_id.parse().unwrap(), vec!["lead".to_string()]),
    ];
    want.sort();
    assert_eq!(regs, want);
    let second = state
        .identity
        .user_by_email(scope, "second@piper.example")
        .await
        .unwrap();
    assert_eq!(
        second.registrations[0].application_id,
        Some(ids.application)
    );
    assert!(state
        .identity
        .authenticate("client-library-test-key-0123456789")
        .await
        .unwrap()
        .is_some());
}
