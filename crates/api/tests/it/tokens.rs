//! The token service on its own, as OAuth and the gateway use it: what it issues verifies here
//! and in PyJWT, and a token that fails any one check (issuer, audience, tenant, expiry, a key
//! no longer published) is refused.

use crate::login::pyjwt_claims;
use crate::support::*;
use portcullis_domain::sessions::tokens::{AccessTokenFor, Expect, IdTokenFor};
use portcullis_domain::settings::LoginSettings;
use portcullis_domain::{Error, Identity, Scope, Sessions, Tenant, User};
use portcullis_hash::HashPool;
use portcullis_store::testing::Backend;
use std::sync::Arc;
use uuid::Uuid;

portcullis_store::on_both_backends!(
    issued_tokens_verify_only_under_their_own_issuer_audience_and_tenant,
    an_id_token_carries_the_nonce_and_verifies_in_pyjwt,
    a_rotated_key_verifies_until_deleted_and_a_deleted_one_never,
);

struct Fixture {
    s: Server,
    sessions: Sessions,
    tenant: Tenant,
    app: portcullis_domain::Application,
    user: User,
}

async fn fixture(b: Backend) -> Fixture {
    let s = Server::start(b).await;
    let sessions = Sessions::new(Identity::new(
        Arc::new(s.db.store.clone()),
        HashPool::new(1, 4),
    ));
    let identity = sessions.identity();
    let tid = Uuid::parse_str(&s.default_tenant().await).unwrap();
    let tenant = identity.tenant(Scope::ALL, tid).await.unwrap();
    let app = identity
        .applications(Scope::tenant(tid))
        .await
        .unwrap()
        .remove(0);
    let uid = s.new_user(&tid.to_string(), "token@example.com").await;
    let user = identity
        .user(Scope::ALL, Uuid::parse_str(&uid).unwrap())
        .await
        .unwrap();
    Fixture {
        s,
        sessions,
        tenant,
        app,
        user,
    }
}

fn access_for<'a>(f: &'a Fixture, settings: &'a LoginSettings) -> AccessTokenFor<'a> {
    AccessTokenFor {
        tenant: &f.tenant,
        settings,
        user: &f.user,
        application: Some(&f.app),
        registration: None,
        auth_time: portcullis_domain::now_millis(),
        session: Uuid::new_v4(),
        authentication_type: "PASSWORD",
    }
}

async fn issued_tokens_verify_only_under_their_own_issuer_audience_and_tenant(b: Backend) {
    let f = fixture(b).await;
    let tokens = f.sessions.tokens();
    let settings = LoginSettings::of(&f.tenant, Some(&f.app));
    let (token, exp) = tokens
        .access_token(&access_for(&f, &settings))
        .await
        .unwrap();
    assert!(exp > portcullis_domain::now_millis());
    let app_id = f.app.id.unwrap().to_string();
    let right = Expect {
        issuer: Some(&settings.issuer),
        audience: Some(&app_id),
        tenant: f.tenant.id,
    };
    let v = tokens.verify(&token, &right).await.unwrap();
    assert_eq!(v.tenant, f.tenant.id.unwrap());
    assert_eq!(v.claims["sub"], f.user.id.unwrap().to_string());
    assert_eq!(v.claims["aud"], app_id);

    let other_tenant = Uuid::parse_str(&f.s.new_tenant("other").await).unwrap();
    let other_app = Uuid::new_v4().to_string();
    for (what, wrong) in [
        (
            "issuer",
            Expect {
                issuer: Some("https://evil.example"),
                ..right
            },
        ),
        (
            "audience",
            Expect {
                audience: Some(&other_app),
                ..right
            },
        ),
        (
            "tenant",
            Expect {
                tenant: Some(other_tenant),
                ..right
            },
        ),
    ] {
        assert!(
            matches!(
                tokens.verify(&token, &wrong).await,
                Err(Error::Unauthorized)
            ),
            "a token checked against another {what} is refused"
        );
    }
    // One byte of the signature changed, and a token with its claims edited, are refused.
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert!(matches!(
        tokens.verify(&forged, &right).await,
        Err(Error::Unauthorized)
    ));
    let parts: Vec<&str> = token.split('.').collect();
    let swapped = if parts[1].starts_with('e') { 'f' } else { 'e' };
    let edited = format!("{}.{swapped}{}.{}", parts[0], &parts[1][1..], parts[2]);
    assert!(matches!(
        tokens.verify(&edited, &right).await,
        Err(Error::Unauthorized)
    ));

    // An expired token is refused.
    let expired = LoginSettings {
        access_ttl_secs: -10,
        ..settings.clone()
    };
    let (old, _) = tokens
        .access_token(&access_for(&f, &expired))
        .await
        .unwrap();
    assert!(matches!(
        tokens.verify(&old, &right).await,
        Err(Error::Unauthorized)
    ));
}

async fn an_id_token_carries_the_nonce_and_verifies_in_pyjwt(b: Backend) {
    let f = fixture(b).await;
    let tokens = f.sessions.tokens();
    let settings = LoginSettings::of(&f.tenant, Some(&f.app));
    let client = f.app.id.unwrap();
    let (id_token, _) = tokens
        .id_token(&IdTokenFor {
            tenant: &f.tenant,
            settings: &settings,
            user: &f.user,
            client_id: client,
            nonce: Some("n-0S6_WzA2Mj"),
            auth_time: portcullis_domain::now_millis(),
            session: Uuid::new_v4(),
            access_token: None,
            code: None,
            amr: &["pwd"],
        })
        .await
        .unwrap();
    let claims = pyjwt_claims(&f.s, &id_token, Some(&client.to_string())).await;
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["iss"], settings.issuer);
    assert_eq!(claims["sub"], f.user.id.unwrap().to_string());
    assert_eq!(claims["email"], "token@example.com");
    assert!(claims["auth_time"].is_i64());
}

async fn a_rotated_key_verifies_until_deleted_and_a_deleted_one_never(b: Backend) {
    let f = fixture(b).await;
    let tokens = f.sessions.tokens();
    let settings = LoginSettings::of(&f.tenant, Some(&f.app));
    let (before, _) = tokens
        .access_token(&access_for(&f, &settings))
        .await
        .unwrap();
    let old_kid = portcullis_jwt::key_id(&before).unwrap();
    let tid = f.tenant.id.unwrap();
    let new = tokens.rotate_key(tid, None).await.unwrap();
    assert_ne!(new.kid(), old_kid);
    let (after, _) = tokens
        .access_token(&access_for(&f, &settings))
        .await
        .unwrap();
    assert_eq!(portcullis_jwt::key_id(&after).unwrap(), new.kid());
    let any = Expect::default();
    tokens
        .verify(&before, &any)
        .await
        .expect("the retiring key still verifies");
    tokens.verify(&after, &any).await.unwrap();
    let jwks = tokens.jwks(Some(tid)).await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);

    f.sessions.delete_key(Scope::ALL, &old_kid).await.unwrap();
    assert!(matches!(
        tokens.verify(&before, &any).await,
        Err(Error::Unauthorized)
    ));
    tokens.verify(&after, &any).await.unwrap();
}
