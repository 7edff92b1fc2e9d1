//! The slow migration end to end: a real legacy server on loopback speaking the
//! Generic and REST contracts, connectors and tenant policies set through the API, and logins
//! that migrate, refuse, fail and are counted.

use crate::support::*;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use portcullis_store::testing::Backend;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

portcullis_store::on_both_backends!(
    first_login_migrates_and_later_logins_stay_local,
    wrong_password_and_unknown_user_create_nothing,
    a_legacy_system_that_is_down_slow_or_garbled_gives_503_and_writes_nothing,
    policies_route_by_domain_in_order,
    migrate_false_asks_every_time_and_refreshes_the_profile,
    rest_connector_maps_roles_and_groups_into_the_tenant,
    the_brute_force_lock_stops_before_the_legacy_system_is_asked,
    concurrent_wrong_passwords_reach_the_legacy_system_at_most_too_many_attempts_times,
    generic_answers_naming_a_held_user_fail_like_a_wrong_password,
    rest_answers_naming_a_held_user_fail_like_a_wrong_password,
    ldap_answers_naming_a_held_user_fail_like_a_wrong_password,
    two_concurrent_first_logins_of_one_legacy_user_both_succeed,
    migration_status_counts_exactly,
    connector_resources_check_their_settings_and_references,
    forgot_password_reaches_a_user_still_in_the_legacy_system,
    registration_of_an_email_the_legacy_system_holds_is_refused,
    ldap_first_login_migrates_and_then_the_directory_is_not_needed,
    the_example_legacy_app_of_the_guide_migrates_through_both_endpoint_styles,
    config_answers_carry_no_secrets_and_a_round_trip_keeps_them,
    a_connector_application_id_must_name_an_application,
    a_huge_or_endless_legacy_answer_is_cut_off_within_the_deadline,
    hosted_login_of_a_legacy_user_migrates_them,
    hosted_login_with_the_legacy_system_down_shows_the_unavailable_page_and_writes_nothing,
    hosted_registration_of_an_email_the_legacy_system_holds_asks_to_sign_in,
);

/// A legacy user: password, and the profile the legacy system answers.
#[derive(Clone)]
pub(crate) struct LegacyAccount {
    password: String,
    profile: Value,
}

/// A legacy system on loopback: Generic at `/generic`, REST at `/users/{id}`, a broken
/// `/broken`, a slow `/slow` and a garbled `/garbage`. Counts every request it gets.
#[derive(Clone, Default)]
pub(crate) struct Legacy {
    pub(crate) accounts: Arc<Mutex<HashMap<String, LegacyAccount>>>,
    calls: Arc<AtomicUsize>,
    pub(crate) url: String,
}

impl Legacy {
    pub(crate) async fn start() -> Legacy {
        let mut legacy = Legacy::default();
        async fn generic(
            State(l): State<Legacy>,
            Json(b): Json<Value>,
        ) -> (StatusCode, Json<Value>) {
            l.calls.fetch_add(1, Ordering::SeqCst);
            let id = b["loginId"].as_str().unwrap_or("").to_lowercase();
            let acc = l.accounts.lock().unwrap().get(&id).cloned();
            match acc {
                Some(a) if b["password"] == json!(a.password) => {
                    (StatusCode::OK, Json(json!({ "user": a.profile })))
                }
                _ => (StatusCode::NOT_FOUND, Json(json!({}))),
            }
        }
        async fn rest_get(
            State(l): State<Legacy>,
            Path(id): Path<String>,
        ) -> (StatusCode, Json<Value>) {
            l.calls.fetch_add(1, Ordering::SeqCst);
            match l.accounts.lock().unwrap().get(&id.to_lowercase()) {
                Some(a) => (StatusCode::OK, Json(a.profile.clone())),
                None => (StatusCode::NOT_FOUND, Json(json!({}))),
            }
        }
        async fn rest_check(
            State(l): State<Legacy>,
            Path(id): Path<String>,
            Json(b): Json<Value>,
        ) -> StatusCode {
            l.calls.fetch_add(1, Ordering::SeqCst);
            match l.accounts.lock().unwrap().get(&id.to_lowercase()) {
                Some(a) if b["password"] == json!(a.password) => StatusCode::OK,
                _ => StatusCode::UNAUTHORIZED,
            }
        }
        /// As `generic`, answering only once two requests are in (or 250 ms have passed), so
        /// that two logins at once both ask before either writes.
        async fn together(
            State(l): State<Legacy>,
            Json(b): Json<Value>,
        ) -> (StatusCode, Json<Value>) {
            l.calls.fetch_add(1, Ordering::SeqCst);
            let started = std::time::Instant::now();
            while l.calls.load(Ordering::SeqCst) < 2
                && started.elapsed() < std::time::Duration::from_millis(250)
            {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            l.calls.fetch_sub(1, Ordering::SeqCst);
            generic(State(l), Json(b)).await
        }
        async fn counted(State(l): State<Legacy>) -> (StatusCode, &'static str) {
            l.calls.fetch_add(1, Ordering::SeqCst);
            (StatusCode::INTERNAL_SERVER_ERROR, "oops")
        }
        async fn slow(State(l): State<Legacy>) -> StatusCode {
            l.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            StatusCode::NOT_FOUND
        }
        async fn garbage(State(l): State<Legacy>) -> (StatusCode, &'static str) {
            l.calls.fetch_add(1, Ordering::SeqCst);
            (StatusCode::OK, "{\"user\": 42}")
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        legacy.url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/generic", post(generic))
            .route("/users/{id}", get(rest_get).post(rest_check))
            .route("/together", post(together))
            .route("/broken", post(counted))
            .route("/slow", post(slow))
            .route("/garbage", post(garbage))
            .with_state(legacy.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        legacy
    }

    pub(crate) fn add(&self, key: &str, password: &str, profile: Value) {
        self.accounts.lock().unwrap().insert(
            key.to_lowercase(),
            LegacyAccount {
                password: password.into(),
                profile,
            },
        );
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

pub(crate) async fn connector(s: &Server, body: Value) -> String {
    let a = s
        .call("POST", "/api/connector", json!({ "connector": body }))
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    a.json["connector"]["id"].as_str().unwrap().to_string()
}

pub(crate) async fn generic_connector(s: &Server, legacy: &Legacy, path: &str) -> String {
    connector(
        s,
        json!({"type": "Generic", "name": format!("legacy {path}"),
               "authenticationURL": format!("{}{path}", legacy.url),
               "connectTimeout": 500, "readTimeout": 300}),
    )
    .await
}

async fn set_policies(s: &Server, tenant: &str, policies: Value) {
    let a = s
        .call(
            "PATCH",
            &format!("/api/tenant/{tenant}"),
            json!({"tenant": {"connectorPolicies": policies}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
}

/// One policy: every login id, migrated, through `connector`.
pub(crate) async fn migrate_all_through(s: &Server, tenant: &str, connector: &str) {
    set_policies(
        s,
        tenant,
        json!([{"connectorId": connector, "domains": ["*"], "migrate": true}]),
    )
    .await;
}

/// A Generic connector to a port where nothing listens.
async fn down_connector(s: &Server) -> String {
    connector(
        s,
        json!({"type": "Generic", "name": "down", "authenticationURL": "http://127.0.0.1:9/auth"}),
    )
    .await
}

async fn login(s: &Server, login_id: &str, password: &str) -> Answer {
    s.call(
        "POST",
        "/api/login",
        json!({"loginId": login_id, "password": password}),
    )
    .await
}

async fn user_by_email(s: &Server, email: &str) -> Answer {
    s.get(&format!("/api/user?email={email}")).await
}

async fn first_login_migrates_and_later_logins_stay_local(b: Backend) {
    let s = Server::start(b).await;
    let legacy = Legacy::start().await;
    let t = s.default_tenant().await;
    let app = s.new_app(&t, "Shop", &["admin", "user"]).await;
    legacy.add(
        "ann@legacy.example",
        "old secret",
        json!({"id": "5f3c8a1e-9c7d-4c1b-8a53-2f6f1d0e7a11", "email": "ann@legacy.example",
               "firstName": "Ann", "data": {"plan": "gold"},
               "registrations": [{"applicationId": app, "roles": ["admin", "ghost"]}]}),
    );
    let c = generic_connector(&s, &legacy, "/generic").await;
    migrate_all_through(&s, &t, &c).await;

    let a = s
        .call(
            "POST",
            "/api/login",
            json!({"loginId": "Ann@Legacy.example", "password": "old secret", "applicationId": app}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert!(a.json["token"].is_string());
    assert_eq!(legacy.calls(), 1);

    let u = user_by_email(&s, "ann@legacy.example").await;
    assert_eq!(u.status, 200, "{u:?}");
    let user = &u.json["user"];
    assert_eq!(user["id"], "5f3c8a1e-9c7d-4c1b-8a53-2f6f1d0e7a11");
    assert_eq!(user["data"]["migrated"], true);
    assert_eq!(user["data"]["plan"], "gold");
    assert_eq!(user["connectorId"], json!(c));
    assert_eq!(
        user["registrations"][0]["roles"],
        json!(["admin"]),
        "roles the app lacks are dropped"
    );
    assert!(user["lastLoginInstant"].is_i64());

    // Portcullis is now the system of record: the legacy system is not asked again, even
    // when the legacy password changes or the legacy system forgets the user.
    legacy.accounts.lock().unwrap().clear();
    let again = login(&s, "ann@legacy.example", "old secret").await;
    assert_eq!(again.status, 200, "{again:?}");
    let wrong = login(&s, "ann@legacy.example", "nope").await;
    assert_eq!(wrong.status, 404);
    assert_eq!(
        legacy.calls(),
        1,
        "only the first login asked the legacy system"
    );

    // Recorded as events, without the password.
    use portcullis_domain::Store;
    let events = |kind: &'static str| s.db.store.events(None, Some(kind), 10);
    let migrated = events("user.migrated").await.unwrap();
    assert_eq!(migrated.len(), 1);
    assert_eq!(
        migrated[0].body["event"]["user"]["email"],
        "ann@legacy.example"
    );
    assert_eq!(migrated[0].body["event"]["connectorId"], json!(c));
    assert_eq!(events("user.login.success").await.unwrap().len(), 2);
    let failed = events("user.login.failed").await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].body["event"]["user"]["id"],
        "5f3c8a1e-9c7d-4c1b-8a53-2f6f1d0e7a11"
    );
    for e in migrated.iter().chain(&failed) {
        assert!(!e.body.to_string().contains("old secret"));
        assert!(!e.body.to_string().contains("nope"));
    }
}

async fn wrong_password_and_unknown_user_create_nothing(b: Backend) {
    let s = Server::start(b).await;
    let legacy = Legacy::start().await;
    let t = s.default_tenant().await;
    legacy.add(
        "bo@legacy.example",
        "right",
        json!({"email": "bo@legacy.example"}),
    );
    let c = generic_connector(&s, &legacy, "/generic").await;
    migrate_all_through(&s, &t, &c).await;

    let wrong = login(&s, "bo@legacy.example", "wrong").await;
    let unknown = login(&s, "nobody@legacy.example", "wrong").await;
    assert_eq!(wrong.status, 404, "{wrong:?}");
    assert_eq!(unknown.status, 404);
    assert_eq!(wrong.text, unknown.text, "no user enumeration");
    assert_eq!(
        user_by_email(&s, "bo@legacy.example").await.status,
        404,
        "no half-migrated user"
    );
    assert_eq!(legacy.calls(), 2);
    // The legacy user without an id gets a stable one on migration.
    let ok = login(&s, "bo@legacy.example", "right").await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(user_by_email(&s, "bo@legacy.example").await.json["user"]["id"].is_string());
}

async fn a_legacy_system_that_is_down_slow_or_garbled_gives_503_and_writes_nothing(b: Backend) {
    let s = Server::start(b).await;
    let legacy = Legacy::start().await;
    let t = s.default_tenant().await;
    for path in ["/broken", "/slow", "/garbage"] {
        let c = generic_connector(&s, &legacy, path).await;
        migrate_all_through(&s, &t, &c).await;
        let started = std::time::Instant::now();
        let a = login(&s, "cy@legacy.example", "whatever").await;
        assert_eq!(a.status, 503, "{path}: {a:?}");
        assert_eq!(a.general_code(), Some("[LegacySystemFailed]"), "{path}");
        let msg = a.json["generalErrors"][0]["message"].as_str().unwrap();
        assert!(msg.contains("legacy"), "{msg}");
        assert!(!msg.contains("whatever"), "the password is never echoed");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{path} was not cut off"
        );
    }
    // Down: nothing listens there.
    let down = down_connector(&s).await;
    migrate_all_through(&s, &t, &down).await;
    let a = login(&s, "cy@legacy.example", "whatever").await;
    assert_eq!(a.status, 503, "{a:?}");
    assert!(a.json["generalErrors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("unreachable"));
    assert_eq!(user_by_email(&s, "cy@legacy.example").await.status, 404);
}

async fn policies_route_by_domain_in_order(b: Backend) {
    let s = Server::start(b).await;
    let corp = Legacy::start().await;
    let rest = Legacy::start().await;
    let t = s.default_tenant().await;
    corp.add(
        "di@corp.example",
        "pw-corp",
        json!({"email": "di@corp.example"}),
    );
    rest.add(
        "ed@else.example",
        "pw-else",
        json!({"email": "ed@else.example"}),
    );
    // The corp system also knows ed, with another password: it must not be asked about him.
    corp.add(
        "ed@else.example",
        "pw-corp",
        json!({"email": "ed@else.example"}),
    );
    let c1 = generic_connector(&s, &corp, "/generic").await;
    let c2 = generic_connector(&s, &rest, "/generic").await;
    set_policies(
        &s,
        &t,
        json!([{"connectorId": c1, "domains": ["corp.example"], "migrate": true},
               {"connectorId": c2, "domains": ["*"], "migrate": true}]),
    )
    .await;
    assert_eq!(login(&s, "ed@else.example", "pw-corp").await.status, 404);
    assert_eq!(
        corp.calls(),
        0,
        "the corp policy does not cover else.example"
    );
    assert_eq!(login(&s, "ed@else.example", "pw-else").await.status, 200);
    assert_eq!(login(&s, "di@corp.example", "pw-corp").await.status, 200);
    assert_eq!(corp.calls(), 1);
    let ed = user_by_email(&s, "ed@else.example").await;
    assert_eq!(ed.json["user"]["connectorId"], json!(c2));
    // A "no" from the first matching connector moves on to the next policy.
    rest.add(
        "fa@corp.example",
        "pw-fa",
        json!({"email": "fa@corp.example"}),
    );
    assert_eq!(login(&s, "fa@corp.example", "pw-fa").await.status, 200);
    assert_eq!(corp.calls(), 2);
}

async fn migrate_false_asks_every_time_and_refreshes_the_profile(b: Backend) {
    let s = Server::start(b).await;
    let legacy = Legacy::start().await;
    let t = s.default_tenant().await;
    legacy.add(
        "gu@legacy.example",
        "pw",
        json!({"id": "0f0e0d0c-0b0a-4908-8706-050403020100", "email": "gu@legacy.example", "firstName": "Gus"}),
    );
    let c = generic_connector(&s, &legacy, "/generic").await;
    set_policies(
        &s,
        &t,
        json!([{"connectorId": c, "domains": ["*"], "migrate": false}]),
    )
    .await;
    assert_eq!(login(&s, "gu@legacy.example", "pw").await.status, 200);
    legacy.add(
        "gu@legacy.example",
        "pw2",
        json!({"id": "0f0e0d0c-0b0a-4908-8706-050403020100", "email": "gu@legacy.example", "firstName": "Gustav"}),
    );
    // The old password no longer works: the legacy system decides every time.
    assert_eq!(login(&s, "gu@legacy.example", "pw").await.status, 404);
    let a = login(&s, "gu@legacy.example", "pw2").await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(legacy.calls(), 3);
    let u = user_by_email(&s, "gu@legacy.example").await;
    assert_eq!(u.json["user"]["firstName"], "Gustav");
    assert_eq!(u.json["user"]["connectorId"], json!(c));

    // Switching the policy to migrate: the next login keeps the password and stops asking.
    migrate_all_through(&s, &t, &c).await;
    assert_eq!(login(&s, "gu@legacy.example", "pw2").await.status, 200);
    assert_eq!(legacy.calls(), 4);
    assert_eq!(login(&s, "gu@legacy.example", "pw2").await.status, 200);
    assert_eq!(legacy.calls(), 4, "migrated now");
}

async fn rest_connector_maps_roles_and_groups_into_the_tenant(b: Backend) {
    let s = Server::start(b).await;
    let legacy = Legacy::start().await;
    let t = s.default_tenant().await;
    let app = s
        .new_app(&t, "Intranet", &["administrator", "viewer", "editor"])
        .await;
    let g = s
        .call(
            "POST",
            "/api/group",
            json!({"group": {"name": "employees"}}),
        )
        .await;
    assert_eq!(g.status, 200, "{g:?}");
    let group_id = g.json["group"]["id"].as_str().unwrap().to_string();
    legacy.add(
        "hal",
        "pw",
        json!({"id": 77, "username": "hal", "email": "hal@legacy.example", "firstName": "Hal",
               "enabled": true, "emailVerified": true, "attributes": {"desk": ["4B"]},
               "roles": ["admin", "viewer", "intern"], "groups": ["staff", "unknown-group"],
               "requiredActions": ["UPDATE_PASSWORD"]}),
    );
    // The REST contract looks users up by what they type: register the email too.
    let profile = legacy.accounts.lock().unwrap()["hal"].clone();
    legacy
        .accounts
        .lock()
        .unwrap()
        .insert("hal@legacy.example".into(), profile);
    let c = connector(
        &s,
        json!({"type": "RESTMigration", "name": "keycloak-style", "baseURL": format!("{}/users", legacy.url),
               "applicationId": app, "roleMap": {"admin": "administrator"}, "migrateUnmappedRoles": false,
               "groupMap": {"staff": "employees"}, "migrateUnmappedGroups": true}),
    )
    .await;
    migrate_all_through(&s, &t, &c).await;
    // UPDATE_PASSWORD becomes FusionAuth's 203: change the password first.
    let a = login(&s, "hal@legacy.example", "pw").await;
    assert_eq!(a.status, 203, "{a:?}");
    assert!(a.json["changePasswordId"].is_string());
    let u = user_by_email(&s, "hal@legacy.example").await.json["user"].clone();
    assert_eq!(u["username"], "hal");
    assert_eq!(u["verified"], true);
    assert_eq!(u["data"]["desk"], "4B");
    assert_eq!(u["data"]["legacyId"], "77");
    assert_eq!(u["data"]["migrated"], true);
    let reg = &u["registrations"][0];
    assert_eq!(reg["applicationId"], json!(app));
    assert_eq!(
        reg["roles"],
        json!(["administrator"]),
        "viewer is unmapped and unmapped roles are off"
    );
    assert_eq!(u["memberships"].as_array().unwrap().len(), 1, "{u}");
    assert_eq!(u["memberships"][0]["groupId"], json!(group_id));
    // A wrong password through REST creates nothing.
    legacy.add(
        "ivy",
        "pw",
        json!({"username": "ivy", "email": "ivy@legacy.example"}),
    );
    assert_eq!(login(&s, "ivy", "nope").await.status, 404);
    assert_eq!(user_by_email(&s, "ivy@legacy.example").await.status, 404);
}

async fn the_brute_force_lock_stops_before_the_legacy_system_is_asked(b: Backend) {
    let s = Server::start(b).await;
    let legacy = Legacy::start().await;
    let t = s.default_tenant().await;
    legacy.add(
        "jo@legacy.example",
        "right",
        json!({"email": "jo@legacy.example"}),
    );
    let c = generic_connector(&s, &legacy, "/generic").await;
    let a = s
        .call(
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"connectorPolicies": [{"connectorId": c, "domains": ["*"], "migrate": true}],
                   "failedAuthenticationConfiguration": {"tooManyAttempts": 3, "resetCountInSeconds": 60,
                                                         "actionDuration": 1, "actionDurationUnit": "MINUTES"}}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    for _ in 0..3 {
        assert_eq!(login(&s, "jo@legacy.example", "guess").await.status, 404);
    }
    assert_eq!(legacy.calls(), 3);
    let locked = login(&s, "jo@legacy.example", "right").await;
    assert_eq!(locked.status, 423, "{locked:?}");
    assert_eq!(
        legacy.calls(),
        3,
        "a locked login never reaches the legacy system"
    );
    assert_eq!(user_by_email(&s, "jo@legacy.example").await.status, 404);
}

/// Sends `n` logins at once; answers their statuses.
async fn logins_at_once(s: &Server, n: usize, login_id: &str, password: &str) -> Vec<u16> {
    let body = json!({"loginId": login_id, "password": password});
    let sent: Vec<_> = (0..n)
        .map(|_| tokio::spawn(send(s.req("POST", "/api/login").json(&body))))
        .collect();
    let mut statuses = Vec::new();
    for h in sent {
        statuses.push(h.await.unwrap().status);
    }
    statuses
}

async fn concurrent_wrong_passwords_reach_the_legacy_system_at_most_too_many_attempts_times(
    b: Backend,
) {
    let s = Server::start(b).await;
    let legacy = Legacy::start().await;
    let t = s.default_tenant().await;
    legacy.add(
        "jo@legacy.example",
        "right",
        json!({"email": "jo@legacy.example"}),
    );
    let c = generic_connector(&s, &legacy, "/generic").await;
    let a = s
        .call(
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"connectorPolicies": [{"connectorId": c, "domains": ["*"], "migrate": true}],
                   "failedAuthenticationConfiguration": {"tooManyAttempts": 5, "resetCountInSeconds": 60,
                                                         "actionDuration": 1, "actionDurationUnit": "MINUTES"}}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let statuses = logins_at_once(&s, 100, "jo@legacy.example", "guess").await;
    let refused = statuses.iter().filter(|&&c| c == 404).count();
    let locked = statuses.iter().filter(|&&c| c == 423).count();
    assert_eq!(refused + locked, 100, "only 404 and 423: {statuses:?}");
    assert!(
        (1..=5).contains(&legacy.calls()),
        "{} wrong passwords reached the legacy system",
        legacy.calls()
    );
    assert!(refused <= 5, "{refused} answered 404: {statuses:?}");
    assert_eq!(login(&s, "jo@legacy.example", "right").await.status, 423);
    assert!(legacy.calls() <= 5);
    assert_eq!(user_by_email(&s, "jo@legacy.example").await.status, 404);
}

/// The failed-login events that give a reason, as (user id, reason).
async fn refusals(s: &Server) -> Vec<(Value, String)> {
    use portcullis_domain::Store;
    let failed =
        s.db.store
            .events(None, Some("user.login.failed"), 100)
            .await
            .unwrap();
    failed
        .iter()
        .filter_map(|e| {
            let r = e.body["event"]["reason"].as_str()?;
            Some((e.body["event"]["user"]["id"].clone(), r.to_string()))
        })
        .collect()
}

async fn set_user(s: &Server, id: &str, user: Value) {
    let a = s
        .call("PATCH", &format!("/api/user/{id}"), json!({ "user": user }))
        .await;
    assert_eq!(a.status, 200, "{a:?}");
}

/// Alice migrated by email, then got a username and a new password in Portcullis. Whatever a
/// legacy system answers for another login id — a username only it knows, with her old
/// password; another account whose answer carries her id, her email or her username — no one
/// is signed in, nothing is written, and every refusal counts against her.
async fn answers_naming_a_held_user_fail_like_a_wrong_password(s: &Server, legacy: &Legacy) {
    const ALICE: &str = "a11ce5e0-1d00-4c0d-8e00-000000000001";
    let alice = json!({"id": ALICE, "email": "alice@legacy.example", "firstName": "Alice"});
    legacy.add("alice@legacy.example", "old pw", alice.clone());
    legacy.add("alice", "old pw", alice);
    legacy.add(
        "eve",
        "eve pw",
        json!({"id": ALICE, "email": "eve@legacy.example", "firstName": "Eve"}),
    );
    legacy.add(
        "mallory",
        "mallory pw",
        json!({"id": "0a110e00-1d00-4c0d-8e00-000000000002", "email": "ALICE@legacy.example"}),
    );
    let trent = json!({"id": "07e00700-1d00-4c0d-8e00-000000000003",
                       "email": "trent@legacy.example", "username": "Ally"});
    legacy.add("trent", "trent pw", trent.clone());
    // The REST contract checks the password under the answer's username.
    legacy.add("ally", "trent pw", trent);
    let a = login(s, "alice@legacy.example", "old pw").await;
    assert_eq!(a.status, 200, "{a:?}");
    let uid = a.json["user"]["id"].as_str().unwrap().to_string();
    set_user(
        s,
        &uid,
        json!({"username": "ally", "password": "new password"}),
    )
    .await;
    assert_eq!(login(s, "ally", "new password").await.status, 200);

    for (who, password) in [
        ("alice", "old pw"),
        ("eve", "eve pw"),
        ("mallory", "mallory pw"),
        ("trent", "trent pw"),
    ] {
        let a = login(s, who, password).await;
        assert_eq!(a.status, 404, "{who}: {a:?}");
    }
    for email in ["eve@legacy.example", "trent@legacy.example"] {
        assert_eq!(user_by_email(s, email).await.status, 404, "{email} written");
    }
    let u = s.get(&format!("/api/user/{uid}")).await.json["user"].clone();
    assert_eq!(u["firstName"], "Alice");
    assert_eq!(u["email"], "alice@legacy.example");
    assert_eq!(u["username"], "ally");
    let why = refusals(s).await;
    assert_eq!(why.len(), 4, "{why:?}");
    for (user, reason) in &why {
        assert_eq!(user, &json!(uid));
        assert!(
            reason.contains("holds") && !reason.contains("pw"),
            "{reason}"
        );
    }

    // Four refusals and one wrong password make five failures of hers: she is locked,
    // whichever login id is typed.
    assert_eq!(login(s, "alice@legacy.example", "wrong").await.status, 404);
    assert_eq!(login(s, "ally", "new password").await.status, 423);
}

async fn generic_answers_naming_a_held_user_fail_like_a_wrong_password(b: Backend) {
    let s = Server::start(b).await;
    let legacy = Legacy::start().await;
    let t = s.default_tenant().await;
    let c = generic_connector(&s, &legacy, "/generic").await;
    migrate_all_through(&s, &t, &c).await;
    answers_naming_a_held_user_fail_like_a_wrong_password(&s, &legacy).await;
}

async fn rest_answers_naming_a_held_user_fail_like_a_wrong_password(b: Backend) {
    let s = Server::start(b).await;
    let legacy = Legacy::start().await;
    let t = s.default_tenant().await;
    rest_setup(&s, &legacy, &t).await;
    answers_naming_a_held_user_fail_like_a_wrong_password(&s, &legacy).await;
}

async fn ldap_answers_naming_a_held_user_fail_like_a_wrong_password(b: Backend) {
    use portcullis_connect::testing::{Slapd, ADMIN, ADMIN_PASSWORD, ALICE_UUID, BASE};
    let s = Server::start(b).await;
    let slapd = tokio::task::spawn_blocking(Slapd::start).await.unwrap();
    let t = s.default_tenant().await;
    let ldap = |name: &str, identifying: &str, map: Value| {
        json!({"type": "LDAP", "name": name, "authenticationURL": slapd.url(),
               "securityMethod": "None", "baseStructure": BASE,
               "systemAccountDN": ADMIN, "systemAccountPassword": ADMIN_PASSWORD,
               "loginIdAttribute": "uid", "identifyingAttribute": identifying,
               "attributeMap": map, "connectTimeout": 1000, "readTimeout": 2000})
    };
    // The twins carol and carol2 share their sn: through this connector they share an id.
    let by_sn = connector(&s, ldap("by sn", "sn", json!({"email": "description"}))).await;
    let by_uuid = connector(&s, ldap("by entryUUID", "entryUUID", json!({}))).await;
    let only = |c: &str| json!([{"connectorId": c, "domains": ["*"], "migrate": true}]);

    // Another entry's answer carrying a held user's id.
    set_policies(&s, &t, only(&by_sn)).await;
    let a = login(&s, "carol", "right").await;
    assert_eq!(a.status, 200, "{a:?}");
    let carol = a.json["user"]["id"].as_str().unwrap().to_string();
    set_user(&s, &carol, json!({"password": "carol's new"})).await;
    let a = login(&s, "carol2", "right").await;
    assert_eq!(a.status, 404, "carol2's answer carries carol's id: {a:?}");

    // A login id only the directory still knows, with the old password.
    set_policies(&s, &t, only(&by_uuid)).await;
    let a = login(&s, "alice", "right").await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json["user"]["id"], ALICE_UUID);
    set_user(
        &s,
        ALICE_UUID,
        json!({"username": "liddell", "password": "alice's new"}),
    )
    .await;
    let a = login(&s, "alice", "right").await;
    assert_eq!(a.status, 404, "{a:?}");

    // Another entry's answer carrying a held user's email.
    set_user(&s, &carol, json!({"email": "twins@example.com"})).await;
    let a = login(&s, "carol2", "right").await;
    assert_eq!(
        a.status, 404,
        "carol2's answer carries carol's email: {a:?}"
    );

    assert_eq!(refusals(&s).await.len(), 3);
    let u = s.get(&format!("/api/user/{ALICE_UUID}")).await.json["user"].clone();
    assert_eq!(u["username"], "liddell");
    assert_eq!(login(&s, "liddell", "alice's new").await.status, 200);
    assert_eq!(
        login(&s, "twins@example.com", "carol's new").await.status,
        200
    );
    let a = s.get("/api/user?username=carol2").await;
    assert_eq!(a.status, 404, "carol2 written: {a:?}");
}

async fn two_concurrent_first_logins_of_one_legacy_user_both_succeed(b: Backend) {
    let s = Server::start(b).await;
    let legacy = Legacy::start().await;
    let t = s.default_tenant().await;
    legacy.add(
        "pat@legacy.example",
        "pw",
        json!({"id": "9a7e0000-1d00-4c0d-8e00-000000000004", "email": "pat@legacy.example"}),
    );
    let c = connector(
        &s,
        json!({"type": "Generic", "name": "together",
               "authenticationURL": format!("{}/together", legacy.url),
               "connectTimeout": 500, "readTimeout": 2000}),
    )
    .await;
    migrate_all_through(&s, &t, &c).await;
    let statuses = logins_at_once(&s, 2, "pat@legacy.example", "pw").await;
    assert_eq!(statuses, [200, 200]);
    assert_eq!(legacy.calls(), 2, "both asked before either wrote");
    assert_eq!(login(&s, "pat@legacy.example", "pw").await.status, 200);
    assert_eq!(legacy.calls(), 2);
}

async fn migration_status_counts_exactly(b: Backend) {
    let s = Server::start(b).await;
    let legacy = Legacy::start().await;
    let t = s.default_tenant().await;
    for i in 0..5 {
        legacy.add(
            &format!("u{i}@legacy.example"),
            "pw",
            json!({"email": format!("u{i}@legacy.example")}),
        );
    }
    let c = generic_connector(&s, &legacy, "/generic").await;
    migrate_all_through(&s, &t, &c).await;
    let empty = s.get("/api/migration/status").await;
    assert_eq!(empty.status, 200, "{empty:?}");
    assert_eq!(empty.json["tenants"][0]["usersMigrated"], 0);
    for i in 0..4 {
        assert_eq!(
            login(&s, &format!("u{i}@legacy.example"), "pw")
                .await
                .status,
            200
        );
    }
    login(&s, "u0@legacy.example", "pw").await; // local now: not counted again
    login(&s, "u4@legacy.example", "bad").await;
    login(&s, "zz@legacy.example", "bad").await;
    let a = s.get("/api/migration/status?legacyCount=8&goal=0.75").await;
    assert_eq!(a.status, 200, "{a:?}");
    let tenant = &a.json["tenants"][0];
    assert_eq!(tenant["tenantId"], json!(t));
    assert_eq!(tenant["usersMigrated"], 4);
    assert_eq!(tenant["legacyUserCount"], 8);
    assert_eq!(tenant["shareMigrated"], 0.5);
    assert_eq!(tenant["migratedPerDay"][0]["count"], 4);
    let conn = &tenant["connectors"][0];
    assert_eq!(conn["connectorId"], json!(c));
    assert_eq!(conn["usersMigrated"], 4);
    assert_eq!(conn["logins"], 4);
    assert_eq!(conn["notFound"], 2);
    assert_eq!(tenant["forecast"]["goal"], 0.75);
    assert!(
        tenant["forecast"]["expectedDate"].is_null(),
        "one partial day is not a measurement"
    );
    // Failures are counted by kind.
    let down = down_connector(&s).await;
    migrate_all_through(&s, &t, &down).await;
    assert_eq!(login(&s, "u4@legacy.example", "pw").await.status, 503);
    let a = s.get("/api/migration/status").await;
    let conns = a.json["tenants"][0]["connectors"]
        .as_array()
        .unwrap()
        .clone();
    let d = conns
        .iter()
        .find(|x| x["connectorId"] == json!(down))
        .unwrap();
    assert_eq!(d["failures"]["unreachable"], 1, "{a:?}");
    // And they show in the metrics.
    let m = send(s.req("GET", "/metrics")).await;
    assert!(
        m.text.contains("portcullis_connector_calls_total"),
        "{}",
        m.text
    );
    assert!(m.text.contains("outcome=\"unreachable\""));
}

async fn connector_resources_check_their_settings_and_references(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let a = s
        .call(
            "POST",
            "/api/connector",
            json!({"connector": {"type": "Generic", "name": "x"}}),
        )
        .await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(
        a.field_code("connector.authenticationURL"),
        Some("[blank]connector.authenticationURL")
    );
    let a = s
        .call(
            "POST",
            "/api/connector",
            json!({"connector": {"type": "Magic", "name": "x"}}),
        )
        .await;
    assert_eq!(
        a.field_code("connector.type"),
        Some("[invalid]connector.type")
    );
    let a = s
        .call(
            "POST",
            "/api/connector",
            json!({"connector": {"type": "Generic", "name": "x", "authenticationURL": "https://x", "readTimeout": "soon"}}),
        )
        .await;
    assert_eq!(
        a.field_code("connector.readTimeout"),
        Some("[invalid]connector.readTimeout")
    );
    let a = send(s.req("POST", "/api/connector").body("{not json")).await;
    assert_eq!(a.status, 400);

    let c = connector(
        &s,
        json!({"type": "Generic", "name": "ok", "authenticationURL": "https://legacy.example/auth"}),
    )
    .await;
    assert_eq!(
        s.get(&format!("/api/connector/{c}")).await.json["connector"]["name"],
        "ok"
    );
    let p = s
        .call(
            "PATCH",
            &format!("/api/connector/{c}"),
            json!({"connector": {"readTimeout": 900}}),
        )
        .await;
    assert_eq!(p.status, 200, "{p:?}");
    assert_eq!(p.json["connector"]["readTimeout"], 900);
    assert_eq!(
        p.json["connector"]["authenticationURL"],
        "https://legacy.example/auth"
    );
    assert_eq!(
        s.get("/api/connector").await.json["connectors"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Secrets are stored but never answered; a PUT of what GET gave keeps them.
    let secret = connector(
        &s,
        json!({"type": "RESTMigration", "name": "with secret", "baseURL": "https://legacy.example/users",
               "bearerToken": "tok-3141592653"}),
    )
    .await;
    let got = s.get(&format!("/api/connector/{secret}")).await;
    assert!(!got.text.contains("tok-3141592653"), "{}", got.text);
    assert!(!s
        .get("/api/connector")
        .await
        .text
        .contains("tok-3141592653"));
    let mut body = got.json["connector"].clone();
    body["readTimeout"] = json!(1234);
    let put = s
        .call(
            "PUT",
            &format!("/api/connector/{secret}"),
            json!({ "connector": body }),
        )
        .await;
    assert_eq!(put.status, 200, "{put:?}");
    assert!(!put.text.contains("tok-3141592653"));
    use portcullis_domain::migration::connectors::ConnectorStore;
    let stored =
        s.db.store
            .connector(secret.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(stored.settings["bearerToken"], "tok-3141592653");
    assert_eq!(stored.settings["readTimeout"], 1234);
    let d = send(s.req("DELETE", &format!("/api/connector/{secret}"))).await;
    assert_eq!(d.status, 200);

    // A policy must name a connector that exists.
    let bad = s
        .call(
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"connectorPolicies": [{"connectorId": uuid::Uuid::new_v4(), "domains": ["*"]}]}}),
        )
        .await;
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(bad.json["fieldErrors"]["tenant.connectorPolicies[0].connectorId"].is_array());
    let bad = s
        .call(
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"connectorPolicies": {"connectorId": c}}}),
        )
        .await;
    assert_eq!(
        bad.field_code("tenant.connectorPolicies"),
        Some("[invalid]tenant.connectorPolicies")
    );
    migrate_all_through(&s, &t, &c).await;
    // In use: not deleted.
    let d = send(s.req("DELETE", &format!("/api/connector/{c}"))).await;
    assert_eq!(d.status, 400, "{d:?}");
    assert_eq!(d.general_code(), Some("[ConnectorInUse]"));
    set_policies(&s, &t, json!([])).await;
    let d = send(s.req("DELETE", &format!("/api/connector/{c}"))).await;
    assert_eq!(d.status, 200, "{d:?}");
    assert_eq!(s.get(&format!("/api/connector/{c}")).await.status, 404);
}

async fn rest_setup(s: &Server, legacy: &Legacy, t: &str) -> String {
    let c = connector(
        s,
        json!({"type": "RESTMigration", "name": "rest", "baseURL": format!("{}/users", legacy.url)}),
    )
    .await;
    set_policies(
        s,
        t,
        json!([{"connectorId": c, "domains": ["*"], "migrate": true}]),
    )
    .await;
    c
}

async fn forgot_password_reaches_a_user_still_in_the_legacy_system(b: Backend) {
    let s = Server::start(b).await;
    let smtp = SmtpSink::start();
    let legacy = Legacy::start().await;
    let t = s.default_tenant().await;
    legacy.add(
        "kim@legacy.example",
        "forgotten",
        json!({"username": "kim", "email": "kim@legacy.example", "firstName": "Kim"}),
    );
    rest_setup(&s, &legacy, &t).await;
    let a = s
        .call(
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"emailConfiguration": {"host": "127.0.0.1", "port": smtp.port, "security": "NONE",
                   "defaultFromEmail": "accounts@shop.example",
                   "forgotPasswordUrl": "https://shop.example/reset/{changePasswordId}"}}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");

    // No API key: the answer is the same for a legacy user and for nobody.
    let forgot = |id: &'static str| {
        send(
            s.http
                .post(format!("{}/api/user/forgot-password", s.url))
                .json(&json!({ "loginId": id })),
        )
    };
    let known = forgot("kim@legacy.example").await;
    let unknown = forgot("nobody@legacy.example").await;
    assert_eq!(known.status, 200, "{known:?}");
    assert_eq!((known.status, &known.text), (unknown.status, &unknown.text));

    let mail = smtp.wait_for("kim@legacy.example").await;
    assert!(mail.contains("accounts@shop.example"), "{mail}");
    let link = mail
        .split("https://shop.example/reset/")
        .nth(1)
        .expect("the reset link is in the email");
    let id: String = link
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    // The profile is here now, without a password.
    let u = user_by_email(&s, "kim@legacy.example").await;
    assert_eq!(u.status, 200, "{u:?}");
    assert_eq!(u.json["user"]["data"]["migrated"], true);

    let c = send(
        s.http
            .post(format!("{}/api/user/change-password/{id}", s.url))
            .json(&json!({"password": "a brand new password"})),
    )
    .await;
    assert_eq!(c.status, 200, "{c:?}");
    let calls = legacy.calls();
    assert_eq!(
        login(&s, "kim@legacy.example", "a brand new password")
            .await
            .status,
        200
    );
    assert_eq!(
        login(&s, "kim@legacy.example", "forgotten").await.status,
        404
    );
    assert_eq!(
        legacy.calls(),
        calls,
        "the user is ours now: no legacy call at login"
    );
    let st = s.get("/api/migration/status").await;
    assert_eq!(st.json["tenants"][0]["usersMigrated"], 1, "{st:?}");
    // Nobody got no email; kim got exactly one.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().len(), 1);
    // Three resets an hour per login id; more are answered alike but send nothing.
    for expected in [2, 3] {
        assert_eq!(forgot("kim@legacy.example").await.status, 200);
        for _ in 0..200 {
            if smtp.messages().len() >= expected {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
    for _ in 0..2 {
        let a = forgot("kim@legacy.example").await;
        assert_eq!((a.status, &a.text), (known.status, &known.text));
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        smtp.messages().len(),
        3,
        "1 + 2 more within the hour, then nothing"
    );

    // With an API key and sendForgotPasswordEmail=false, the id comes back instead.
    let a = s
        .call(
            "POST",
            "/api/user/forgot-password",
            json!({"loginId": "kim", "sendForgotPasswordEmail": false}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert!(a.json["changePasswordId"].is_string());
    let no_key = send(
        s.http
            .post(format!("{}/api/user/forgot-password", s.url))
            .json(&json!({"loginId": "kim", "sendForgotPasswordEmail": false})),
    )
    .await;
    assert_eq!(no_key.status, 401);
    let blank = send(
        s.http
            .post(format!("{}/api/user/forgot-password", s.url))
            .json(&json!({})),
    )
    .await;
    assert_eq!(blank.status, 400);
    assert_eq!(blank.field_code("loginId"), Some("[blank]loginId"));
}

async fn registration_of_an_email_the_legacy_system_holds_is_refused(b: Backend) {
    let s = Server::start(b).await;
    let legacy = Legacy::start().await;
    let t = s.default_tenant().await;
    legacy.add(
        "lee@legacy.example",
        "pw",
        json!({"username": "lee", "email": "lee@legacy.example"}),
    );
    rest_setup(&s, &legacy, &t).await;
    let a = s
        .call(
            "POST",
            "/api/user",
            json!({"user": {"email": "lee@legacy.example", "password": "another password"}}),
        )
        .await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(a.field_code("user.email"), Some("[duplicate]user.email"));
    assert!(a.json["fieldErrors"]["user.email"][0]["message"]
        .as_str()
        .unwrap()
        .contains("log in"));
    assert_eq!(user_by_email(&s, "lee@legacy.example").await.status, 404);
    // An email the legacy system does not hold registers as usual.
    let ok = s
        .call(
            "POST",
            "/api/user",
            json!({"user": {"email": "new@legacy.example", "password": "another password"}}),
        )
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
}

async fn ldap_first_login_migrates_and_then_the_directory_is_not_needed(b: Backend) {
    use portcullis_connect::testing::{Slapd, ADMIN, ADMIN_PASSWORD, ALICE_UUID, BASE};
    let s = Server::start(b).await;
    let mut slapd = tokio::task::spawn_blocking(Slapd::start).await.unwrap();
    let t = s.default_tenant().await;
    let app = s.new_app(&t, "Wiki", &["admin", "editor"]).await;
    let c = connector(
        &s,
        json!({"type": "LDAP", "name": "directory", "authenticationURL": slapd.url(),
               "securityMethod": "None", "baseStructure": BASE,
               "systemAccountDN": ADMIN, "systemAccountPassword": ADMIN_PASSWORD,
               "loginIdAttribute": "mail", "identifyingAttribute": "entryUUID",
               "applicationId": app,
               "roleMap": {"cn=Admins,ou=Groups,dc=example,dc=org": "admin"},
               "connectTimeout": 1000, "readTimeout": 2000}),
    )
    .await;
    set_policies(
        &s,
        &t,
        json!([{"connectorId": c, "domains": ["example.com"], "migrate": true}]),
    )
    .await;

    assert_eq!(login(&s, "bob@example.com", "not bob's").await.status, 404);
    assert_eq!(
        user_by_email(&s, "bob@example.com").await.status,
        404,
        "nothing half-migrated"
    );
    let a = s
        .call(
            "POST",
            "/api/login",
            json!({"loginId": "alice@example.com", "password": "right", "applicationId": app}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let u = user_by_email(&s, "alice@example.com").await.json["user"].clone();
    assert_eq!(u["id"], ALICE_UUID);
    assert_eq!(u["firstName"], "Alice");
    assert_eq!(u["data"]["migrated"], true);
    assert_eq!(u["connectorId"], json!(c));
    assert_eq!(u["registrations"][0]["roles"], json!(["admin"]));

    // With the directory gone, the migrated user still logs in; an unmigrated one gets a 503.
    slapd.stop();
    assert_eq!(login(&s, "alice@example.com", "right").await.status, 200);
    assert_eq!(login(&s, "alice@example.com", "wrong").await.status, 404);
    let down = login(&s, "bob@example.com", "whatever").await;
    assert_eq!(down.status, 503, "{down:?}");
    assert_eq!(down.general_code(), Some("[LegacySystemFailed]"));
}

/// `examples/legacy-app/legacy.py`, the runnable legacy system of docs/migration/slow.md, with
/// its bcrypt `users` table: killed on drop.
struct ExampleApp {
    url: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for ExampleApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn example_app(token: &str) -> ExampleApp {
    let port = portcullis_test_ports::free_port();
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/legacy-app/legacy.py"
    );
    let child = std::process::Command::new("python3")
        .arg(script)
        .args(["--seed", "--port", &port.to_string(), "--token", token, "--db"])
        .arg(dir.path().join("legacy.sqlite"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("python3 runs the example legacy app (pip install -r examples/legacy-app/requirements.txt; scripts/test does)");
    let app = ExampleApp {
        url: format!("http://127.0.0.1:{port}"),
        child,
        _dir: dir,
    };
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return app;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the example legacy app did not start (is bcrypt installed? pip install -r examples/legacy-app/requirements.txt)");
}

async fn the_example_legacy_app_of_the_guide_migrates_through_both_endpoint_styles(b: Backend) {
    let s = Server::start(b).await;
    let legacy = example_app("legacy-secret").await;
    let t = s.default_tenant().await;
    let app = s.new_app(&t, "Shop", &["admin", "user"]).await;
    let generic = connector(
        &s,
        json!({"type": "Generic", "name": "legacy php app", "authenticationURL": format!("{}/fusionauth/login", legacy.url),
               "headers": {"Authorization": "Bearer legacy-secret"}}),
    )
    .await;
    let rest = connector(
        &s,
        json!({"type": "RESTMigration", "name": "legacy users api", "baseURL": format!("{}/keycloak/users", legacy.url),
               "bearerToken": "legacy-secret", "applicationId": app, "migrateUnmappedRoles": true}),
    )
    .await;
    // Alice's domain goes to the Generic endpoint; everyone else to the REST one.
    set_policies(
        &s,
        &t,
        json!([{"connectorId": generic, "domains": ["legacy.example"], "migrate": true},
               {"connectorId": rest, "domains": ["*"], "migrate": true}]),
    )
    .await;
    assert_eq!(login(&s, "alice@legacy.example", "wrong").await.status, 404);
    assert_eq!(
        login(&s, "alice@legacy.example", "alice-password")
            .await
            .status,
        200
    );
    let alice = user_by_email(&s, "alice@legacy.example").await.json["user"].clone();
    assert_eq!(alice["connectorId"], json!(generic));
    assert_eq!(alice["data"]["legacyId"], 1);
    // Bob by username goes through REST, with his roles on the application.
    assert_eq!(login(&s, "bob", "bob-password").await.status, 200);
    let bob = user_by_email(&s, "bob@legacy.example").await.json["user"].clone();
    assert_eq!(bob["connectorId"], json!(rest));
    assert_eq!(bob["registrations"][0]["roles"], json!(["user"]));
    // Carol must change her password (requiredActions UPDATE_PASSWORD): 203.
    assert_eq!(login(&s, "carol", "carol-password").await.status, 203);
    // Without its token the legacy app answers 401: that is the legacy system refusing us, a
    // 503, not a wrong password.
    let no_token = connector(
        &s,
        json!({"type": "Generic", "name": "no token", "authenticationURL": format!("{}/fusionauth/login", legacy.url)}),
    )
    .await;
    migrate_all_through(&s, &t, &no_token).await;
    let refused = login(&s, "dan@legacy.example", "whatever").await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(refused.text.contains("401"), "{}", refused.text);
}

/// A legacy endpoint that answers only a caller with the right `X-Legacy-Key` header and basic
/// auth; it counts the callers it accepted and refused.
async fn guarded_legacy(accepted: Arc<AtomicUsize>, refused: Arc<AtomicUsize>) -> String {
    let app = Router::new().route(
        "/guarded",
        post(
            move |headers: axum::http::HeaderMap, Json(b): Json<Value>| {
                let (accepted, refused) = (accepted.clone(), refused.clone());
                async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    };
                    // "portcullis:basic-secret-141421"
                    let basic = "Basic cG9ydGN1bGxpczpiYXNpYy1zZWNyZXQtMTQxNDIx";
                    if h("x-legacy-key").as_deref() != Some("hdr-secret-271828")
                        || h("authorization").as_deref() != Some(basic)
                    {
                        refused.fetch_add(1, Ordering::SeqCst);
                        return (StatusCode::UNAUTHORIZED, Json(json!({})));
                    }
                    accepted.fetch_add(1, Ordering::SeqCst);
                    (
                        StatusCode::OK,
                        Json(json!({"user": {"email": b["loginId"], "firstName": "Guarded"}})),
                    )
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/guarded", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Connector header values, basic-auth passwords, bearer tokens, LDAP bind passwords and the
/// tenant's SMTP password are stored but never answered; header names are answered with the
/// value masked. A GET → modify → PUT (or a PATCH) keeps them: a login afterwards still sends
/// the right header and password to the legacy system.
async fn config_answers_carry_no_secrets_and_a_round_trip_keeps_them(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let (accepted, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let url = guarded_legacy(accepted.clone(), refused.clone()).await;
    let secrets = [
        "hdr-secret-271828",
        "basic-secret-141421",
        "tok-secret-173205",
        "bind-secret-223606",
        "smtp-secret-244948",
    ];
    let clean = |what: &str, a: &Answer| {
        for x in secrets {
            assert!(!a.text.contains(x), "{what} carries {x}: {}", a.text);
        }
    };
    let made = s
        .call(
            "POST",
            "/api/connector",
            json!({"connector": {"type": "Generic", "name": "guarded", "authenticationURL": url,
                   "httpAuthenticationUsername": "portcullis",
                   "httpAuthenticationPassword": "basic-secret-141421",
                   "headers": {"X-Legacy-Key": "hdr-secret-271828", "X-Trace": "on"},
                   "connectTimeout": 500, "readTimeout": 1000}}),
        )
        .await;
    assert_eq!(made.status, 200, "{made:?}");
    clean("create", &made);
    assert_eq!(
        made.json["connector"]["headers"],
        json!({"X-Legacy-Key": "********", "X-Trace": "********"}),
        "header names are answered, their values masked"
    );
    let c = made.json["connector"]["id"].as_str().unwrap().to_string();
    let rest = connector(
        &s,
        json!({"type": "RESTMigration", "name": "rest", "baseURL": "https://legacy.example/users",
               "bearerToken": "tok-secret-173205"}),
    )
    .await;
    let ldap = connector(
        &s,
        json!({"type": "LDAP", "name": "dir", "authenticationURL": "ldap://127.0.0.1:9",
               "baseStructure": "dc=example,dc=org", "systemAccountDN": "cn=admin,dc=example,dc=org",
               "systemAccountPassword": "bind-secret-223606",
               "loginIdAttribute": "mail", "identifyingAttribute": "entryUUID"}),
    )
    .await;
    for id in [&c, &rest, &ldap] {
        clean("get", &s.get(&format!("/api/connector/{id}")).await);
    }
    clean("list", &s.get("/api/connector").await);

    // GET → modify → PUT, and a PATCH, keep every secret.
    let path = format!("/api/connector/{c}");
    let mut body = s.get(&path).await.json["connector"].clone();
    body["readTimeout"] = json!(1500);
    let put = s.call("PUT", &path, json!({ "connector": body })).await;
    assert_eq!(put.status, 200, "{put:?}");
    clean("put", &put);
    let patch = s
        .call("PATCH", &path, json!({"connector": {"name": "guarded 2"}}))
        .await;
    assert_eq!(patch.status, 200, "{patch:?}");
    clean("patch", &patch);
    for id in [&rest, &ldap] {
        let p = format!("/api/connector/{id}");
        let mut body = s.get(&p).await.json["connector"].clone();
        body["name"] = json!("renamed");
        clean(
            "put",
            &s.call("PUT", &p, json!({ "connector": body })).await,
        );
    }
    use portcullis_domain::migration::connectors::ConnectorStore;
    let store = &s.db.store;
    let stored = |id: String| async move {
        store
            .connector(id.parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .settings
    };
    assert_eq!(
        stored(rest.clone()).await["bearerToken"],
        "tok-secret-173205"
    );
    assert_eq!(
        stored(ldap.clone()).await["systemAccountPassword"],
        "bind-secret-223606"
    );
    migrate_all_through(&s, &t, &c).await;
    let a = login(&s, "gus@legacy.example", "whatever").await;
    assert_eq!(
        a.status, 200,
        "the login still sends the header and password: {a:?}"
    );
    assert_eq!(
        (
            accepted.load(Ordering::SeqCst),
            refused.load(Ordering::SeqCst)
        ),
        (1, 0)
    );

    // A new value replaces the stored one; a masked header without a stored value is refused.
    let p = s
        .call(
            "PATCH",
            &path,
            json!({"connector": {"headers": {"X-Legacy-Key": "changed", "X-New": "********"}}}),
        )
        .await;
    assert_eq!(
        p.field_code("connector.headers"),
        Some("[invalid]connector.headers"),
        "{p:?}"
    );
    let p = s
        .call(
            "PATCH",
            &path,
            json!({"connector": {"headers": {"X-Legacy-Key": "changed"}}}),
        )
        .await;
    assert_eq!(p.status, 200, "{p:?}");
    assert_eq!(
        stored(c.clone()).await["headers"],
        json!({"X-Legacy-Key": "changed", "X-Trace": "on"})
    );
    let a = login(&s, "hal@legacy.example", "whatever").await;
    assert_eq!(a.status, 503, "{a:?}");
    assert_eq!(refused.load(Ordering::SeqCst), 1);

    // A failure names the legacy host, never the user and password its URL may carry.
    let down = connector(
        &s,
        json!({"type": "Generic", "name": "down with userinfo",
               "authenticationURL": "http://svc:url-secret-264575@127.0.0.1:9/auth"}),
    )
    .await;
    migrate_all_through(&s, &t, &down).await;
    let a = login(&s, "jo@legacy.example", "whatever").await;
    assert_eq!(a.status, 503, "{a:?}");
    assert!(a.text.contains("127.0.0.1:9"), "{}", a.text);
    assert!(!a.text.contains("url-secret-264575"), "{}", a.text);

    // The tenant's SMTP password: the same rules.
    let tp = format!("/api/tenant/{t}");
    let r = s
        .call(
            "PATCH",
            &tp,
            json!({"tenant": {"emailConfiguration": {"host": "127.0.0.1", "port": 2525,
                   "username": "mailer", "password": "smtp-secret-244948"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    clean("tenant patch", &r);
    assert_eq!(r.json["tenant"]["emailConfiguration"]["username"], "mailer");
    clean("tenant get", &s.get(&tp).await);
    clean("tenant list", &s.get("/api/tenant").await);
    let mut body = s.get(&tp).await.json["tenant"].clone();
    body["emailConfiguration"]["port"] = json!(2526);
    let put = s.call("PUT", &tp, json!({ "tenant": body })).await;
    assert_eq!(put.status, 200, "{put:?}");
    clean("tenant put", &put);
    let created = s
        .call(
            "POST",
            "/api/tenant",
            json!({"tenant": {"name": "mailing", "emailConfiguration": {"password": "smtp-secret-244948"}}}),
        )
        .await;
    assert_eq!(created.status, 200, "{created:?}");
    clean("tenant create", &created);
    use portcullis_domain::Store;
    let smtp = |id: String| async move {
        store
            .tenant(id.parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .settings["emailConfiguration"]
            .clone()
    };
    let kept = smtp(t.clone()).await;
    assert_eq!(kept["password"], "smtp-secret-244948");
    assert_eq!(kept["port"], 2526);
    let r = s
        .call(
            "PATCH",
            &tp,
            json!({"tenant": {"emailConfiguration": {"password": "new-smtp-password"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(!r.text.contains("new-smtp-password"));
    assert_eq!(smtp(t.clone()).await["password"], "new-smtp-password");
}

async fn a_connector_application_id_must_name_an_application(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let app = s.new_app(&t, "Shop", &["admin"]).await;
    let ghost = uuid::Uuid::new_v4().to_string();
    let body = |app: &str| {
        json!({"connector": {"type": "RESTMigration", "name": "rest",
               "baseURL": "https://legacy.example/users", "applicationId": app}})
    };
    let refused = |a: &Answer| {
        assert_eq!(a.status, 400, "{a:?}");
        assert_eq!(
            a.field_code("connector.applicationId"),
            Some("[invalid]connector.applicationId"),
            "{a:?}"
        );
    };
    refused(&s.call("POST", "/api/connector", body(&ghost)).await);
    refused(&s.call("POST", "/api/connector", body("not-a-uuid")).await);
    assert_eq!(
        s.get("/api/connector").await.json["connectors"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "nothing was written"
    );
    let ok = s.call("POST", "/api/connector", body(&app)).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let path = format!(
        "/api/connector/{}",
        ok.json["connector"]["id"].as_str().unwrap()
    );
    refused(&s.call("PUT", &path, body(&ghost)).await);
    refused(
        &s.call(
            "PATCH",
            &path,
            json!({"connector": {"applicationId": ghost}}),
        )
        .await,
    );
    let ldap = json!({"connector": {"type": "LDAP", "name": "dir", "authenticationURL": "ldap://127.0.0.1:9",
               "baseStructure": "dc=example,dc=org", "loginIdAttribute": "mail",
               "identifyingAttribute": "entryUUID", "applicationId": ghost}});
    refused(&s.call("POST", "/api/connector", ldap).await);
    assert_eq!(
        s.get(&path).await.json["connector"]["applicationId"],
        json!(app)
    );
    let cleared = s
        .call(
            "PATCH",
            &path,
            json!({"connector": {"applicationId": null}}),
        )
        .await;
    assert_eq!(cleared.status, 200, "{cleared:?}");
}

/// A legacy endpoint on a raw socket that answers 200 and then streams `{"user": {"data": "aaaa…`
/// in `chunk`-byte writes with `pause` between them, up to `total` bytes, or until the reader
/// goes away. Returns its URL and the bytes it managed to write.
async fn streaming_legacy(
    chunk: usize,
    pause: std::time::Duration,
    total: usize,
) -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/auth", listener.local_addr().unwrap());
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let sent = counter.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"user\": {\"data\": {\"x\": \"";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let block = vec![b'a'; chunk];
                let mut written = 0;
                while written < total {
                    if sock.write_all(&block).await.is_err() {
                        return;
                    }
                    written += chunk;
                    sent.fetch_add(chunk, Ordering::SeqCst);
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                }
            });
        }
    });
    (url, sent)
}

/// A legacy system that answers a login with an enormous body, fast or slowly: the login is a
/// 503 within the connector's deadline (plus a small margin), nothing is written, and the body is
/// abandoned near `maxResponseBytes` instead of read to the end.
async fn a_huge_or_endless_legacy_answer_is_cut_off_within_the_deadline(b: Backend) {
    use std::time::{Duration, Instant};
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    const CAP: usize = 1 << 20;
    const TOTAL: usize = 256 << 20;
    // connectTimeout + readTimeout: the deadline of one call.
    let deadline = Duration::from_millis(300 + 900);
    let margin = Duration::from_millis(500);
    for (what, chunk, pause) in [
        ("fast", 64 << 10, Duration::ZERO),
        ("slow", 4 << 10, Duration::from_millis(20)),
    ] {
        let (url, sent) = streaming_legacy(chunk, pause, TOTAL).await;
        let c = connector(
            &s,
            json!({"type": "Generic", "name": format!("huge {what}"), "authenticationURL": url,
                   "connectTimeout": 300, "readTimeout": 900}),
        )
        .await;
        migrate_all_through(&s, &t, &c).await;
        let started = Instant::now();
        let a = login(&s, "ivy@legacy.example", "whatever").await;
        let took = started.elapsed();
        assert_eq!(a.status, 503, "{what}: {a:?}");
        assert_eq!(a.general_code(), Some("[LegacySystemFailed]"), "{what}");
        assert!(took < deadline + margin, "{what}: answered after {took:?}");
        let msg = a.json["generalErrors"][0]["message"].as_str().unwrap();
        match what {
            "fast" => assert!(msg.contains("maxResponseBytes"), "{msg}"),
            _ => assert!(msg.contains("timeout"), "{msg}"),
        }
        // Let the server notice the reader is gone, then see how much it got to send: the cap,
        // plus what loopback socket buffers hold, never the whole body.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let n = sent.load(Ordering::SeqCst);
        assert!(
            n < CAP + (16 << 20),
            "{what}: the legacy system sent {n} bytes"
        );
        assert_eq!(user_by_email(&s, "ivy@legacy.example").await.status, 404);
    }
}

async fn hosted_login_of_a_legacy_user_migrates_them(b: Backend) {
    use crate::oauth::{authorize_query, client, login_form, Browser, REDIRECT};
    let s = Server::start(b).await;
    let legacy = Legacy::start().await;
    let c = client(&s).await;
    legacy.add(
        "flo@legacy.example",
        "old secret",
        json!({"email": "flo@legacy.example", "firstName": "Flo"}),
    );
    let conn = generic_connector(&s, &legacy, "/generic").await;
    migrate_all_through(&s, &c.tenant, &conn).await;

    let mut br = Browser::new(&s);
    let page = br.get(&authorize_query(&c, &[])).await;
    assert_eq!(page.status, 200, "{page:?}");
    // A wrong password asks the legacy system, writes nothing and says what a wrong one says.
    let wrong = br
        .post_form(
            "/oauth2/authorize",
            &login_form(&page, "flo@legacy.example", "not it"),
        )
        .await;
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert_eq!(user_by_email(&s, "flo@legacy.example").await.status, 404);
    let back = br
        .post_form(
            "/oauth2/authorize",
            &login_form(&wrong, "flo@legacy.example", "old secret"),
        )
        .await;
    assert_eq!(back.status, 303, "{back:?}");
    assert!(back.location.as_deref().unwrap().starts_with(REDIRECT));
    assert!(back.param("code").is_some());
    assert_eq!(legacy.calls(), 2);

    let u = user_by_email(&s, "flo@legacy.example").await;
    assert_eq!(u.status, 200, "{u:?}");
    assert_eq!(u.json["user"]["data"]["migrated"], true);
    assert_eq!(u.json["user"]["firstName"], "Flo");
    // Ours now: the next sign-in does not ask the legacy system.
    legacy.accounts.lock().unwrap().clear();
    let mut br = Browser::new(&s);
    let page = br.get(&authorize_query(&c, &[])).await;
    let again = br
        .post_form(
            "/oauth2/authorize",
            &login_form(&page, "flo@legacy.example", "old secret"),
        )
        .await;
    assert_eq!(again.status, 303, "{again:?}");
    assert_eq!(legacy.calls(), 2);
}

async fn hosted_login_with_the_legacy_system_down_shows_the_unavailable_page_and_writes_nothing(
    b: Backend,
) {
    use crate::oauth::{authorize_query, client, login_form, Browser};
    let s = Server::start(b).await;
    let c = client(&s).await;
    let down = down_connector(&s).await;
    migrate_all_through(&s, &c.tenant, &down).await;

    let mut br = Browser::new(&s);
    let page = br.get(&authorize_query(&c, &[])).await;
    assert_eq!(page.status, 200, "{page:?}");
    let a = br
        .post_form(
            "/oauth2/authorize",
            &login_form(&page, "gil@legacy.example", "whatever"),
        )
        .await;
    assert_eq!(a.status, 503, "{a:?}");
    assert!(a.body.contains("Sign-in is unavailable"), "{}", a.body);
    assert!(a.body.contains("Nothing was changed"));
    assert!(!a.body.contains("whatever"), "the password is never echoed");
    assert_eq!(a.headers["cache-control"], "no-store");
    assert!(a.location.is_none(), "no redirect to the client");
    assert!(!br.cookies.contains_key("portcullis_sso"), "no session");
    assert_eq!(user_by_email(&s, "gil@legacy.example").await.status, 404);
    // The tenant's own users still sign in: their passwords are checked here.
    let page = br.get(&authorize_query(&c, &[])).await;
    let own = br
        .post_form(
            "/oauth2/authorize",
            &login_form(&page, &c.email, "correct horse"),
        )
        .await;
    assert_eq!(own.status, 303, "{own:?}");
}

async fn hosted_registration_of_an_email_the_legacy_system_holds_asks_to_sign_in(b: Backend) {
    use crate::oauth::{authorize_query, login_form, Browser};
    use crate::pages::{form_of, open_client};
    let s = Server::start(b).await;
    let legacy = Legacy::start().await;
    let c = open_client(&s).await;
    legacy.add(
        "hal@legacy.example",
        "legacy pw",
        json!({"id": 78, "username": "hal", "email": "hal@legacy.example", "enabled": true,
               "emailVerified": true}),
    );
    // The REST contract checks the password at the user's path, by username.
    let profile = legacy.accounts.lock().unwrap()["hal@legacy.example"].clone();
    legacy
        .accounts
        .lock()
        .unwrap()
        .insert("hal".into(), profile);
    rest_setup(&s, &legacy, &c.tenant).await;

    let mut br = Browser::new(&s);
    let page = br
        .get(&authorize_query(&c, &[]).replace("/oauth2/authorize", "/oauth2/register"))
        .await;
    assert_eq!(page.status, 200, "{page:?}");
    let told = br
        .post_form(
            "/oauth2/register",
            &form_of(
                &page,
                &[
                    ("email", "hal@legacy.example"),
                    ("password", "a long passphrase"),
                    ("passwordConfirm", "a long passphrase"),
                ],
            ),
        )
        .await;
    assert_eq!(told.status, 200, "{told:?}");
    assert!(
        told.body.contains("already have an account"),
        "{}",
        told.body
    );
    assert_eq!(told.input("loginId").as_deref(), Some("hal@legacy.example"));
    assert_eq!(user_by_email(&s, "hal@legacy.example").await.status, 404);
    // Signing in there with the legacy password moves the account over.
    let back = br
        .post_form(
            "/oauth2/authorize",
            &login_form(&told, "hal@legacy.example", "legacy pw"),
        )
        .await;
    assert_eq!(back.status, 303, "{back:?}");
    let u = user_by_email(&s, "hal@legacy.example").await;
    assert_eq!(u.status, 200, "{u:?}");
    assert_eq!(u.json["user"]["data"]["migrated"], true);
}
