//! The store's behaviour, run once on SQLite and once on PostgreSQL.

use portcullis_domain::search::{Field, Pred};
use portcullis_domain::*;
use portcullis_store::testing::{Backend, TestDb};
use uuid::Uuid;

mod claims;
mod expiry;
mod webhooks;
use claims::*;
use expiry::*;
use webhooks::*;

portcullis_store::on_both_backends!(
    tenant_scope_hides_other_tenants_users,
    duplicate_email_is_reported_as_a_field,
    failed_user_insert_leaves_nothing_behind,
    deleting_a_tenant_removes_everything_in_it,
    last_login_does_not_undo_a_profile_update_made_since_the_user_was_read,
    a_login_id_finds_the_email_first_then_the_username_with_everything_loaded,
    a_users_registrations_come_back_in_the_order_of_their_ids,
    tenant_and_application_writes_are_seen_at_once_despite_the_cache,
    attempts_are_counted_in_windows_taken_back_and_restarted_by_locks,
    the_login_read_carries_the_same_locks_as_the_lock_check,
    the_counted_login_read_counts_unless_a_lock_holds,
    large_deletes_take_whole_users_slice_by_slice,
    expired_rows_are_deleted_in_slices_and_live_ones_kept,
    only_the_node_holding_a_claim_renews_finishes_or_releases_it,
    nodes_claiming_at_once_never_take_the_same_job,
    a_batch_of_ends_is_recorded_only_under_each_claim,
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

/// On SQLite a delete of more users than a slice goes in slices, each picked after the last
/// one in the order the users were stored; here slices of 4 over a tenant's 25 users stored
/// between another tenant's, each user with a registration and a membership.
async fn large_deletes_take_whole_users_slice_by_slice(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store.clone().with_delete_slice(4);
    let (gone, kept) = (tenant(&db, "gone").await, tenant(&db, "kept").await);
    let (app, other_app) = (app_in(&db, gone).await, app_in(&db, kept).await);
    let group = |t: Uuid| Group {
        id: Some(Uuid::new_v4()),
        tenant_id: Some(t),
        name: format!("g{t}"),
        insert_instant: Some(1),
        ..Group::default()
    };
    let (g, other_g) = (group(gone), group(kept));
    for x in [&g, &other_g] {
        store.insert_group(x).await.unwrap();
    }
    let with_links = |t: Uuid, email: String, a: &Application, g: &Group, half: bool| {
        let mut u = user(t, &email);
        u.user.registrations = vec![Registration {
            id: Some(Uuid::new_v4()),
            application_id: a.id,
            ..Registration::default()
        }];
        u.user.memberships = vec![Membership {
            id: Some(Uuid::new_v4()),
            group_id: g.id,
            ..Membership::default()
        }];
        u.user.data.insert(
            "half".into(),
            serde_json::json!(if half { "a" } else { "b" }),
        );
        u
    };
    let mut kept_ids = Vec::new();
    for i in 0..25 {
        store
            .insert_user(&with_links(gone, format!("g{i}@x.com"), &app, &g, false))
            .await
            .unwrap();
        if i % 2 == 0 {
            let k = with_links(
                kept,
                format!("k{i}@x.com"),
                &other_app,
                &other_g,
                i % 4 == 0,
            );
            kept_ids.push((k.user.id.unwrap(), i % 4 == 0));
            store.insert_user(&k).await.unwrap();
        }
    }
    // A bulk delete of the kept tenant's "a" half (7 of its 13 users): two slices.
    let half_a = BulkDelete {
        filter: Some(Pred::Eq(Field::Data(vec!["half".into()]), "a".into())),
        ..BulkDelete::default()
    };
    let (n, ids) = store.delete_users(kept, &half_a, false, 100).await.unwrap();
    assert_eq!(n, 7);
    assert_eq!(ids.len(), 7);
    // The tenant delete: its 25 users in seven slices, then the rest.
    assert!(store.delete_tenant(gone).await.unwrap());
    let left = store
        .delete_users(kept, &BulkDelete::default(), true, 100)
        .await
        .unwrap();
    assert_eq!(left.0, 6, "the kept tenant's other half stays");
    for (id, a) in kept_ids {
        let found = store.user(Scope::ALL, id).await.unwrap();
        assert_eq!(found.is_none(), a, "user {id}");
        if let Some(u) = found {
            assert_eq!(u.user.registrations.len(), 1, "its registration stays");
            assert_eq!(u.user.memberships.len(), 1, "its membership stays");
        }
    }
    for table in ["users", "registrations", "group_members"] {
        let left = db
            .execute(&format!("DELETE FROM {table} WHERE tenant_id = '{gone}'"))
            .await
            .unwrap();
        assert_eq!(left, 0, "nothing of the deleted tenant is left in {table}");
    }
}

async fn app_in(db: &TestDb, t: Uuid) -> Application {
    let app = Application {
        id: Some(Uuid::new_v4()),
        tenant_id: Some(t),
        name: "app".into(),
        insert_instant: Some(1),
        ..Application::default()
    };
    db.store.insert_application(&app).await.unwrap();
    app
}

async fn last_login_does_not_undo_a_profile_update_made_since_the_user_was_read(backend: Backend) {
    let db = TestDb::new(backend).await;
    let t = tenant(&db, "t").await;
    let app = app_in(&db, t).await;
    let mut u = user(t, "race@example.com");
    u.user.registrations = vec![Registration {
        id: Some(Uuid::new_v4()),
        application_id: app.id,
        roles: vec!["admin".into()],
        ..Registration::default()
    }];
    db.store.insert_user(&u).await.unwrap();
    let id = u.user.id.unwrap();
    // A login has read the user (the copy `u`); a profile update lands; then the login records
    // its instant. The update must survive.
    let mut updated = db.store.user(Scope::ALL, id).await.unwrap().unwrap();
    updated.user.first_name = Some("Renamed".into());
    db.store.update_user(&updated).await.unwrap();
    db.store
        .record_login(&LoginWrites {
            user: id,
            application: app.id,
            now: 1234,
            event: None,
            refresh_token: None,
            attempts: None,
        })
        .await
        .unwrap();

    let after = db.store.user(Scope::ALL, id).await.unwrap().unwrap();
    assert_eq!(after.user.first_name.as_deref(), Some("Renamed"));
    assert_eq!(after.user.last_login_instant, Some(1234));
    assert_eq!(after.user.registrations.len(), 1);
    assert_eq!(after.user.registrations[0].last_login_instant, Some(1234));
    assert_eq!(after.user.registrations[0].roles, ["admin"]);
    assert_eq!(after.credential, u.credential);
    // Without an application only the user's instant moves.
    db.store
        .record_login(&LoginWrites {
            user: id,
            application: None,
            now: 5678,
            event: None,
            refresh_token: None,
            attempts: None,
        })
        .await
        .unwrap();
    let after = db.store.user(Scope::ALL, id).await.unwrap().unwrap();
    assert_eq!(after.user.last_login_instant, Some(5678));
    assert_eq!(after.user.registrations[0].last_login_instant, Some(1234));
}

async fn a_login_id_finds_the_email_first_then_the_username_with_everything_loaded(
    backend: Backend,
) {
    let db = TestDb::new(backend).await;
    let t = tenant(&db, "t").await;
    let app = app_in(&db, t).await;
    let mut by_username = user(t, "someone@example.com");
    by_username.user.username = Some("Shared@Example.com".into());
    let mut by_email = user(t, "shared@example.com");
    by_email.user.registrations = vec![Registration {
        id: Some(Uuid::new_v4()),
        application_id: app.id,
        ..Registration::default()
    }];
    db.store.insert_user(&by_username).await.unwrap();
    db.store.insert_user(&by_email).await.unwrap();
    let found = db
        .store
        .user_by_login_id(t, "shared@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        found, by_email,
        "the email wins, registrations and credential loaded"
    );
    db.store
        .delete_user(Scope::ALL, by_email.user.id.unwrap())
        .await
        .unwrap();
    let found = db
        .store
        .user_by_login_id(t, "shared@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.user.id, by_username.user.id);
    assert!(db
        .store
        .user_by_login_id(t, "nobody")
        .await
        .unwrap()
        .is_none());
}

async fn a_users_registrations_come_back_in_the_order_of_their_ids(backend: Backend) {
    let db = TestDb::new(backend).await;
    let t = tenant(&db, "t").await;
    let mut u = user(t, "many@example.com");
    // Ids whose text order is known, written out of that order.
    for id in ["ffffffff", "7fffffff", "00000000", "a0000000"] {
        let app = app_in(&db, t).await;
        u.user.registrations.push(Registration {
            id: Some(format!("{id}-0000-4000-8000-000000000000").parse().unwrap()),
            application_id: app.id,
            ..Registration::default()
        });
    }
    db.store.insert_user(&u).await.unwrap();
    let mut expected = u.user.registrations.clone();
    expected.sort_by_key(|r| r.id.unwrap().to_string());
    let by_id = db
        .store
        .user(Scope::tenant(t), u.user.id.unwrap())
        .await
        .unwrap()
        .unwrap();
    let by_login = db
        .store
        .user_by_login_id(t, "many@example.com")
        .await
        .unwrap()
        .unwrap();
    for found in [by_id, by_login] {
        assert_eq!(found.user.registrations, expected);
    }
}

async fn tenant_and_application_writes_are_seen_at_once_despite_the_cache(backend: Backend) {
    let db = TestDb::new(backend).await;
    let t = tenant(&db, "before").await;
    let mut app = app_in(&db, t).await;
    // Warm the cache.
    assert_eq!(db.store.tenant(t).await.unwrap().unwrap().name, "before");
    assert!(db
        .store
        .application(Scope::ALL, app.id.unwrap())
        .await
        .unwrap()
        .is_some());

    let mut tenant = db.store.tenant(t).await.unwrap().unwrap();
    tenant.name = "after".into();
    db.store.update_tenant(&tenant).await.unwrap();
    assert_eq!(db.store.tenant(t).await.unwrap().unwrap().name, "after");
    assert_eq!(db.store.tenants().await.unwrap()[0].name, "after");

    app.name = "renamed".into();
    db.store.update_application(&app, &[]).await.unwrap();
    let id = app.id.unwrap();
    assert_eq!(
        db.store
            .application(Scope::ALL, id)
            .await
            .unwrap()
            .unwrap()
            .name,
        "renamed"
    );
    let other = tenant_in(&db).await;
    assert!(
        db.store
            .application(Scope::tenant(other), id)
            .await
            .unwrap()
            .is_none(),
        "a cached application keeps its tenant scope"
    );
    assert!(db.store.delete_application(Scope::ALL, id).await.unwrap());
    assert!(db
        .store
        .application(Scope::ALL, id)
        .await
        .unwrap()
        .is_none());
    assert!(db.store.delete_tenant(t).await.unwrap());
    assert!(db.store.tenant(t).await.unwrap().is_none());
}

async fn tenant_in(db: &TestDb) -> Uuid {
    tenant(db, "other").await
}

async fn attempts_are_counted_in_windows_taken_back_and_restarted_by_locks(backend: Backend) {
    let db = TestDb::new(backend).await;
    let t = tenant(&db, "t").await;
    let subjects = vec!["user:a".to_string(), "ip:1.2.3.4".to_string()];
    let first = db
        .store
        .count_login_attempt(t, &subjects, 100, 1100)
        .await
        .unwrap();
    assert_eq!(
        counts(first),
        [("ip:1.2.3.4".into(), 1, 1100), ("user:a".into(), 1, 1100)]
    );
    let second = db
        .store
        .count_login_attempt(t, &subjects, 200, 1200)
        .await
        .unwrap();
    assert_eq!(
        counts(second),
        [("ip:1.2.3.4".into(), 2, 1100), ("user:a".into(), 2, 1100)],
        "the window is the first attempt's"
    );
    // A success: the user's count starts over, the address only loses this attempt.
    db.store
        .forget_login_attempts(&AttemptsBack {
            tenant: t,
            reset: &subjects[..1],
            give_back: &subjects[1..],
        })
        .await
        .unwrap();
    let third = db
        .store
        .count_login_attempt(t, &subjects, 300, 1300)
        .await
        .unwrap();
    assert_eq!(
        counts(third),
        [("ip:1.2.3.4".into(), 2, 1100), ("user:a".into(), 1, 1100)]
    );
    // After the window a count starts over.
    let later = db
        .store
        .count_login_attempt(t, &subjects[..1], 1100, 2100)
        .await
        .unwrap();
    assert_eq!(counts(later), [("user:a".into(), 1, 2100)]);

    // A lock holds until it ends, and the count starts over then.
    let none = db.store.login_locks(t, &subjects, 100).await.unwrap();
    assert_eq!(none, LoginLocks::default());
    db.store.lock_login(t, "ip:1.2.3.4", 500).await.unwrap();
    db.store.lock_login(t, "user:a", 3000).await.unwrap();
    let l = db.store.login_locks(t, &subjects, 100).await.unwrap();
    assert_eq!(l.locked_until, Some(3000), "the latest lock end");
    let l = db.store.login_locks(t, &subjects[1..], 500).await.unwrap();
    assert_eq!(l.locked_until, None, "an ended lock does not hold");
    let during = db
        .store
        .count_login_attempt(t, &subjects[..1], 2500, 3500)
        .await
        .unwrap();
    assert_eq!(counts(during), [("user:a".into(), 2, 3000)]);
    let after = db
        .store
        .count_login_attempt(t, &subjects[..1], 3000, 4000)
        .await
        .unwrap();
    assert_eq!(counts(after), [("user:a".into(), 1, 4000)]);
    assert!(db.store.delete_tenant(t).await.unwrap());
}

/// `user_for_login` is one statement; the trait's default is the two reads it replaces. Both
/// must agree for a known user, an unknown login id, an address and ended locks.
async fn the_login_read_carries_the_same_locks_as_the_lock_check(backend: Backend) {
    let db = TestDb::new(backend).await;
    let t = tenant(&db, "t").await;
    let u = user(t, "Ann@Example.com");
    db.store.insert_user(&u).await.unwrap();
    let id = u.user.id.unwrap();
    let user_subject = format!("user:{id}");
    let check = |login: &'static str, ip: Option<&'static str>, now: i64| {
        let store = db.store.clone();
        async move {
            let (found, locks) = store.user_for_login(t, login, ip, now).await.unwrap();
            let mut subjects = vec![login_subject(found.as_ref(), login)];
            subjects.extend(ip.map(str::to_string));
            let expected = store.login_locks(t, &subjects, now).await.unwrap();
            assert_eq!(locks, expected, "{login} {ip:?} at {now}");
            (found.map(|f| f.user.id.unwrap()), locks)
        }
    };
    assert_eq!(
        check("ann@example.com", None, 100).await,
        (Some(id), LoginLocks::default())
    );
    assert_eq!(
        check("nobody@example.com", None, 100).await,
        (None, LoginLocks::default())
    );

    db.store.lock_login(t, &user_subject, 300).await.unwrap();
    db.store.lock_login(t, "ip:1.2.3.4", 500).await.unwrap();
    assert_eq!(
        check("ann@example.com", None, 100).await.1.locked_until,
        Some(300)
    );
    assert_eq!(
        check("ann@example.com", Some("ip:1.2.3.4"), 100)
            .await
            .1
            .locked_until,
        Some(500),
        "the latest of the user's and the address's locks"
    );
    assert_eq!(
        check("nobody@example.com", None, 100).await.1.locked_until,
        None,
        "another account's lock does not hold an unknown login id"
    );
    assert_eq!(
        check("ann@example.com", None, 300).await.1.locked_until,
        None,
        "ended"
    );
}

/// Counts as (subject, n, window end), by subject.
fn counts(v: Vec<AttemptCount>) -> Vec<(String, u64, i64)> {
    let mut v: Vec<(String, u64, i64)> = v
        .into_iter()
        .map(|c| (c.subject, c.n, c.expires_instant))
        .collect();
    v.sort();
    v
}

/// `user_for_login_counted` (one writer turn on SQLite, the read then the count elsewhere):
/// the count lands on the found user's subject, else the login id's, and the address's; it is
/// skipped without a window and while a lock holds; each call sees the counts before it, and
/// a lock starts its subject's count over.
async fn the_counted_login_read_counts_unless_a_lock_holds(backend: Backend) {
    let db = TestDb::new(backend).await;
    let t = tenant(&db, "t").await;
    let u = user(t, "Ann@Example.com");
    db.store.insert_user(&u).await.unwrap();
    let id = u.user.id.unwrap();
    let ann = format!("user:{id}");
    let read = |login: &'static str, ip: Option<&'static str>, now: i64, end: Option<i64>| {
        let store = db.store.clone();
        async move {
            let (found, locks, counted) = store
                .user_for_login_counted(t, login, ip, now, end)
                .await
                .unwrap();
            (
                found.map(|f| f.user.id.unwrap()),
                locks.locked_until,
                counts(counted),
            )
        }
    };
    assert_eq!(
        read("ann@example.com", None, 100, Some(1000)).await,
        (Some(id), None, vec![(ann.clone(), 1, 1000)])
    );
    assert_eq!(
        read("ANN@example.com", Some("ip:9.9.9.9"), 200, Some(1200)).await,
        (
            Some(id),
            None,
            vec![("ip:9.9.9.9".into(), 1, 1200), (ann.clone(), 2, 1000)]
        ),
        "the typed case does not matter; the address gets its own count"
    );
    assert_eq!(
        read("nobody@example.com", None, 200, Some(1200)).await,
        (
            None,
            None,
            vec![("login:nobody@example.com".into(), 1, 1200)]
        )
    );
    assert_eq!(
        read("ann@example.com", None, 300, None).await,
        (Some(id), None, vec![]),
        "no window, no count"
    );
    db.store.lock_login(t, &ann, 500).await.unwrap();
    assert_eq!(
        read("ann@example.com", None, 400, Some(1400)).await,
        (Some(id), Some(500), vec![]),
        "a lock holds: nothing is counted"
    );
    assert_eq!(
        read("ann@example.com", None, 600, Some(1600)).await,
        (Some(id), None, vec![(ann, 1, 1600)]),
        "the lock ended, and with it the count: it starts over"
    );
    assert!(db.store.delete_tenant(t).await.unwrap());
}

/// Opening a SQLite file again applies nothing twice and accepts what is recorded (the same
/// `_sqlx_migrations` rows and checksums sqlx wrote when it ran the migrations).
#[tokio::test]
async fn a_sqlite_file_opens_again_with_its_migrations_recorded_once() {
    let db = TestDb::sqlite().await;
    let again = portcullis_store::SqlStore::connect(&db.url)
        .await
        .expect("reopens");
    again.ping().await.expect("answers");
    again.close().await;
    let n = db
        .execute("UPDATE _sqlx_migrations SET success = success WHERE success")
        .await
        .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .filter(|f| {
            f.as_ref()
                .is_ok_and(|f| f.path().extension().is_some_and(|e| e == "sql"))
        })
        .count();
    assert_eq!(
        n as usize, files,
        "each migration recorded once, as succeeded"
    );
}
