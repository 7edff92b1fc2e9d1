//! The cleanup worker deletes expired refresh tokens, change-password ids, two-factor rows and
//! ended login attempts and locks when it starts and again at each interval, and keeps the live ones.

use portcullis_domain::*;
use portcullis_store::testing::{Backend, TestDb};
use portcullis_workers::{Cleanup, Workers};
use std::time::Duration;
use uuid::Uuid;

portcullis_store::on_both_backends!(
    expired_rows_go_at_start_and_at_each_interval_and_live_ones_stay
);

/// Writes, all in the default tenant, a refresh token, a change-password id, an attempt count,
/// a lock and a two-factor trust id under `name`, expiring at `at`.
async fn rows(identity: &Identity, user: Uuid, app: Uuid, name: &str, at: Millis) {
    let store = identity.store();
    let tenant = identity.resolve_tenant(Scope::ALL, None).await.unwrap();
    store
        .insert_refresh_token(&StoredRefreshToken {
            id: Uuid::new_v4(),
            token_hash: format!("token-{name}"),
            family_id: Uuid::new_v4(),
            tenant_id: tenant,
            user_id: user,
            application_id: app,
            start_instant: 1,
            insert_instant: 1,
            expires_instant: at,
            used_instant: None,
        })
        .await
        .unwrap();
    store
        .insert_change_password_id(&format!("id-{name}"), tenant, user, at)
        .await
        .unwrap();
    store
        .count_login_attempt(tenant, &[format!("login:{name}")], at - 1, at)
        .await
        .unwrap();
    store
        .lock_login(tenant, &format!("lock:{name}"), at)
        .await
        .unwrap();
    store
        .insert_two_factor_row(&TwoFactorRow {
            key: format!("tf-{name}"),
            kind: "trust".into(),
            tenant_id: tenant,
            user_id: user,
            expires_instant: at,
            data: "{}".into(),
        })
        .await
        .unwrap();
}

/// Which of `name`'s rows are still stored: (token, id, attempt count, lock, two-factor row).
async fn kept(db: &TestDb, identity: &Identity, name: &str) -> (bool, bool, bool, bool, bool) {
    let store = identity.store();
    let count = |table: &str, column: &str, subject: String| {
        format!("UPDATE {table} SET {column} = {column} WHERE subject = '{subject}'")
    };
    (
        store
            .refresh_token(&format!("token-{name}"))
            .await
            .unwrap()
            .is_some(),
        store
            .change_password_id(&format!("id-{name}"))
            .await
            .unwrap()
            .is_some(),
        db.execute(&count("login_attempts", "n", format!("login:{name}")))
            .await
            .unwrap()
            == 1,
        db.execute(&count(
            "login_locks",
            "until_instant",
            format!("lock:{name}"),
        ))
        .await
        .unwrap()
            == 1,
        db.execute(&format!(
            "UPDATE two_factor_rows SET kind = kind WHERE token_key = 'tf-{name}'"
        ))
        .await
        .unwrap()
            == 1,
    )
}

async fn expired_rows_go_at_start_and_at_each_interval_and_live_ones_stay(b: Backend) {
    let db = TestDb::new(b).await;
    let identity = crate::node(db.store.clone()).await;
    let user = identity
        .create_user(
            Scope::ALL,
            None,
            User {
                email: Some("kept@example.com".into()),
                ..User::default()
            },
        )
        .await
        .unwrap()
        .id
        .unwrap();
    let app = identity.store().applications(Scope::ALL).await.unwrap()[0]
        .id
        .unwrap();
    let now = now_millis();
    // The live rows first: counting an attempt now and then also drops the tenant's counts
    // ended by the instant it is given, which for these is an hour ahead.
    rows(&identity, user, app, "live", now + 3_600_000).await;
    rows(&identity, user, app, "before", now - 1_000).await;
    assert_eq!(
        kept(&db, &identity, "before").await,
        (true, true, true, true, true)
    );

    let mut workers = Workers::new(Duration::from_secs(5));
    workers.spawn(Cleanup::new(&identity, Duration::from_millis(300)));
    crate::eventually(Duration::from_secs(10), "the first sweep", || async {
        kept(&db, &identity, "before").await == (false, false, false, false, false)
    })
    .await;
    // Expiring in a moment: gone at a later sweep.
    rows(&identity, user, app, "soon", now_millis() + 200).await;
    crate::eventually(Duration::from_secs(10), "a later sweep", || async {
        kept(&db, &identity, "soon").await == (false, false, false, false, false)
    })
    .await;
    workers.stop().await;
    assert_eq!(
        kept(&db, &identity, "live").await,
        (true, true, true, true, true)
    );
}
