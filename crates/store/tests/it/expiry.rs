//! The deletes of expired rows (the cleanup worker's): expired refresh tokens, change-password
//! ids, ended login-attempt counts and locks go, slice after slice; live rows stay.

use crate::{app_in, tenant, user};
use portcullis_domain::*;
use portcullis_store::testing::{Backend, TestDb};
use uuid::Uuid;

fn token(t: Uuid, u: Uuid, app: Uuid, hash: &str, expires: Millis) -> StoredRefreshToken {
    StoredRefreshToken {
        id: Uuid::new_v4(),
        token_hash: hash.into(),
        family_id: Uuid::new_v4(),
        tenant_id: t,
        user_id: u,
        application_id: app,
        start_instant: 1,
        insert_instant: 1,
        expires_instant: expires,
        used_instant: None,
    }
}

/// Rows of `table` (an UPDATE that changes nothing answers how many rows it matched).
async fn rows(db: &TestDb, table: &str, column: &str) -> u64 {
    db.execute(&format!("UPDATE {table} SET {column} = {column}"))
        .await
        .unwrap()
}

pub async fn expired_rows_are_deleted_in_slices_and_live_ones_kept(backend: Backend) {
    let db = TestDb::new(backend).await;
    // Three rows per statement, so seven expired rows take three statements.
    let store = db.store.clone().with_cleanup_slice(3);
    let t = tenant(&db, "t").await;
    let app = app_in(&db, t).await.id.unwrap();
    let u = user(t, "a@example.com");
    store.insert_user(&u).await.unwrap();
    let u = u.user.id.unwrap();
    let now = now_millis();

    for i in 0..7 {
        store
            .insert_refresh_token(&token(t, u, app, &format!("old{i}"), now - 1000))
            .await
            .unwrap();
    }
    // Expiring this very millisecond: the refresh grant refuses it already.
    store
        .insert_refresh_token(&token(t, u, app, "edge", now))
        .await
        .unwrap();
    for i in 0..2 {
        store
            .insert_refresh_token(&token(t, u, app, &format!("live{i}"), now + 60_000))
            .await
            .unwrap();
    }
    for i in 0..4 {
        store
            .insert_change_password_id(&format!("oldid{i}"), t, u, now - 1)
            .await
            .unwrap();
    }
    store
        .insert_change_password_id("liveid", t, u, now + 60_000)
        .await
        .unwrap();
    // Live counts first: a count now and then also drops the tenant's ended ones itself.
    let live = vec!["login:live".to_string(), "login:locked".to_string()];
    store
        .count_login_attempt(t, &live, now, now + 60_000)
        .await
        .unwrap();
    let ended: Vec<String> = (0..4).map(|i| format!("login:old{i}")).collect();
    store
        .count_login_attempt(t, &ended, now - 10_000, now - 5_000)
        .await
        .unwrap();
    store
        .lock_login(t, "login:locked", now + 60_000)
        .await
        .unwrap();
    store
        .lock_login(t, "login:was-locked", now - 1)
        .await
        .unwrap();

    assert_eq!(store.delete_expired_refresh_tokens(now).await.unwrap(), 8);
    assert_eq!(
        store.delete_expired_change_password_ids(now).await.unwrap(),
        4
    );
    assert_eq!(
        store.delete_ended_login_attempts(now).await.unwrap(),
        4 + 1,
        "four ended counts and one ended lock"
    );

    for i in 0..7 {
        assert!(store
            .refresh_token(&format!("old{i}"))
            .await
            .unwrap()
            .is_none());
    }
    assert!(store.refresh_token("edge").await.unwrap().is_none());
    for i in 0..2 {
        assert!(store
            .refresh_token(&format!("live{i}"))
            .await
            .unwrap()
            .is_some());
    }
    assert!(store.change_password_id("oldid0").await.unwrap().is_none());
    assert!(store.change_password_id("liveid").await.unwrap().is_some());
    assert_eq!(rows(&db, "login_attempts", "n").await, 2, "the live counts");
    assert_eq!(rows(&db, "login_locks", "until_instant").await, 1);
    assert_eq!(
        store.login_locks(t, &live, now).await.unwrap().locked_until,
        Some(now + 60_000)
    );
    // The live count goes on where it was.
    let again = store
        .count_login_attempt(t, &live[..1], now, now + 60_000)
        .await
        .unwrap();
    assert_eq!(again[0].n, 2);

    // Nothing left to delete.
    assert_eq!(store.delete_expired_refresh_tokens(now).await.unwrap(), 0);
    assert_eq!(
        store.delete_expired_change_password_ids(now).await.unwrap(),
        0
    );
    assert_eq!(store.delete_ended_login_attempts(now).await.unwrap(), 0);
}
