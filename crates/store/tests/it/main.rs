//! The store's behaviour, run once on SQLite and once on PostgreSQL.

use portcullis_domain::*;
use portcullis_store::testing::{Backend, TestDb};
use uuid::Uuid;

portcullis_store::on_both_backends!(
    tenant_scope_hides_other_tenants_users,
    duplicate_email_is_reported_as_a_field,
    failed_user_insert_leaves_nothing_behind,
    deleting_a_tenant_removes_everything_in_it,
);

async fn tenant(db: &TestDb, name: &str) -> Uuid {
    let id = Uuid::new_v4();
    db.store
        .insert_tenant(&Tenant {
            id: Some(id),
            name: name.into(),
            insert_instant: Some(1),
            ..Tenant::default()
        })
        .await
        .unwrap();
    id
}

fn user(tenant: Uuid, email: &str) -> StoredUser {
    StoredUser {
        user: User {
            id: Some(Uuid::new_v4()),
            tenant_id: Some(tenant),
            email: Some(email.into()),
            insert_instant: Some(1),
            ..User::default()
        },
        credential: Some(portcullis_hash::Credential {
            scheme: "salted-sha256".into(),
            factor: 1,
            salt: "c2FsdA==".into(),
            hash: "aGFzaA==".into(),
        }),
    }
}

async fn tenant_scope_hides_other_tenants_users(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (a, b) = (tenant(&db, "a").await, tenant(&db, "b").await);
    let u = user(b, "bob@example.com");
    db.store.insert_user(&u).await.unwrap();
    let id = u.user.id.unwrap();
    assert!(db.store.user(Scope::tenant(a), id).await.unwrap().is_none());
    let found = db.store.user(Scope::tenant(b), id).await.unwrap().unwrap();
    assert_eq!(found, u, "the credential and profile round-trip");
    assert!(db
        .store
        .user_by_email(a, "bob@example.com")
        .await
        .unwrap()
        .is_none());
    assert!(!db.store.delete_user(Scope::tenant(a), id).await.unwrap());
    assert!(db.store.user(Scope::ALL, id).await.unwrap().is_some());
}

async fn duplicate_email_is_reported_as_a_field(backend: Backend) {
    let db = TestDb::new(backend).await;
    let t = tenant(&db, "t").await;
    db.store
        .insert_user(&user(t, "x@example.com"))
        .await
        .unwrap();
    let err = db
        .store
        .insert_user(&user(t, "X@Example.com"))
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::Duplicate("user.email"));
    let other = tenant(&db, "other").await;
    db.store
        .insert_user(&user(other, "x@example.com"))
        .await
        .expect("the same email in another tenant is fine");
}

async fn failed_user_insert_leaves_nothing_behind(backend: Backend) {
    let db = TestDb::new(backend).await;
    let t = tenant(&db, "t").await;
    let mut u = user(t, "y@example.com");
    // The registration names an application that does not exist: the foreign key fails after
    // the user row was written, and the transaction must take it back.
    u.user.registrations = vec![Registration {
        id: Some(Uuid::new_v4()),
        application_id: Some(Uuid::new_v4()),
        ..Registration::default()
    }];
    assert_eq!(
        db.store.insert_user(&u).await.unwrap_err(),
        StoreError::MissingReference
    );
    assert!(db
        .store
        .user(Scope::ALL, u.user.id.unwrap())
        .await
        .unwrap()
        .is_none());
}

async fn deleting_a_tenant_removes_everything_in_it(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (t, keep) = (tenant(&db, "gone").await, tenant(&db, "kept").await);
    let app = Application {
        id: Some(Uuid::new_v4()),
        tenant_id: Some(t),
        name: "app".into(),
        ..Application::default()
    };
    db.store.insert_application(&app).await.unwrap();
    let mut u = user(t, "z@example.com");
    u.user.registrations = vec![Registration {
        id: Some(Uuid::new_v4()),
        application_id: app.id,
        ..Registration::default()
    }];
    db.store.insert_user(&u).await.unwrap();
    let kept = user(keep, "z@example.com");
    db.store.insert_user(&kept).await.unwrap();
    assert!(db.store.delete_tenant(t).await.unwrap());
    assert!(db
        .store
        .user(Scope::ALL, u.user.id.unwrap())
        .await
        .unwrap()
        .is_none());
    assert!(db
        .store
        .application(Scope::ALL, app.id.unwrap())
        .await
        .unwrap()
        .is_none());
    assert!(db
        .store
        .user(Scope::ALL, kept.user.id.unwrap())
        .await
        .unwrap()
        .is_some());
}
