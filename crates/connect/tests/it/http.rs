//! The Generic and REST contracts against real legacy servers on loopback: what is sent, what
//! each answer means, and that failures are failures, not "wrong password".

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use portcullis_connect::Connectors;
use portcullis_domain::migration::connectors::{
    Connector, FailureKind, LegacyLogin, LegacySystems,
};
use portcullis_domain::Password;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// What the legacy server saw.
#[derive(Default)]
struct Seen {
    bodies: Vec<Value>,
    paths: Vec<String>,
    authorization: Vec<Option<String>>,
}

type Shared = Arc<Mutex<Seen>>;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn connector(kind: &str, settings: Value) -> Connector {
    let mut v = settings;
    v["type"] = json!(kind);
    v["id"] = json!(Uuid::new_v4());
    v["name"] = json!("legacy");
    serde_json::from_value(v).unwrap()
}

fn login<'a>(id: &'a str, pw: &'a Password) -> LegacyLogin<'a> {
    LegacyLogin {
        login_id: id,
        password: pw,
        application_id: None,
        ip_address: Some("10.0.0.1"),
    }
}

/// A Generic legacy endpoint: alice/right is found; anything else is 404.
async fn generic_server(seen: Shared) -> String {
    let app = Router::new()
        .route(
            "/auth",
            post(
                |State(seen): State<Shared>, headers: HeaderMap, Json(b): Json<Value>| async move {
                    let mut s = seen.lock().unwrap();
                    s.authorization.push(
                        headers
                            .get("authorization")
                            .map(|v| v.to_str().unwrap().to_string()),
                    );
                    s.bodies.push(b.clone());
                    if b["loginId"] == "alice@example.com" && b["password"] == "right" {
                        (
                            StatusCode::OK,
                            Json(json!({"user": {
                                "id": "8a1b4c5e-0000-4000-8000-000000000001",
                                "email": "alice@example.com",
                                "firstName": "Alice",
                                "password": "should-be-dropped",
                                "data": {"plan": "gold"}
                            }})),
                        )
                    } else {
                        (StatusCode::NOT_FOUND, Json(json!({})))
                    }
                },
            ),
        )
        .route(
            "/broken",
            post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route(
            "/garbage",
            post(|| async { (StatusCode::OK, "<html>not json</html>") }),
        )
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                StatusCode::NOT_FOUND
            }),
        )
        .with_state(seen);
    serve(app).await
}

#[tokio::test]
async fn generic_sends_fusionauths_body_and_maps_the_answer() {
    let seen = Shared::default();
    let base = generic_server(seen.clone()).await;
    let c = connector(
        "Generic",
        json!({"authenticationURL": format!("{base}/auth"),
               "httpAuthenticationUsername": "portcullis", "httpAuthenticationPassword": "s3cret",
               "headers": {"X-Legacy": "1"}}),
    );
    let cs = Connectors::default();
    let pw = Password("right".into());
    let u = cs
        .authenticate(&c, &login("alice@example.com", &pw))
        .await
        .unwrap()
        .expect("found");
    assert_eq!(u.user.email.as_deref(), Some("alice@example.com"));
    assert_eq!(u.user.first_name.as_deref(), Some("Alice"));
    assert_eq!(u.user.connector_id, c.id);
    assert!(
        u.user.password.is_none(),
        "a password in the answer is dropped"
    );
    assert_eq!(
        u.user.id,
        Some("8a1b4c5e-0000-4000-8000-000000000001".parse().unwrap())
    );
    let s = seen.lock().unwrap();
    let body = &s.bodies[0];
    let mut keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["applicationId", "ipAddress", "loginId", "noJWT", "password"]
    );
    assert_eq!(body["noJWT"], json!(false));
    assert_eq!(body["ipAddress"], json!("10.0.0.1"));
    // Basic auth: "portcullis:s3cret".
    assert_eq!(
        s.authorization[0].as_deref(),
        Some("Basic cG9ydGN1bGxpczpzM2NyZXQ=")
    );
}

#[tokio::test]
async fn generic_404_is_no_user_and_failures_are_failures() {
    let seen = Shared::default();
    let base = generic_server(seen.clone()).await;
    let cs = Connectors::default();
    let pw = Password("wrong".into());
    let ok = connector(
        "Generic",
        json!({"authenticationURL": format!("{base}/auth")}),
    );
    assert!(cs
        .authenticate(&ok, &login("alice@example.com", &pw))
        .await
        .unwrap()
        .is_none());

    let broken = connector(
        "Generic",
        json!({"authenticationURL": format!("{base}/broken")}),
    );
    let e = cs
        .authenticate(&broken, &login("a", &pw))
        .await
        .unwrap_err();
    assert_eq!(e.kind, FailureKind::BadAnswer);
    assert!(e.message.contains("500"), "{e}");

    let garbage = connector(
        "Generic",
        json!({"authenticationURL": format!("{base}/garbage")}),
    );
    let e = cs
        .authenticate(&garbage, &login("a", &pw))
        .await
        .unwrap_err();
    assert_eq!(e.kind, FailureKind::BadAnswer);

    let slow = connector(
        "Generic",
        json!({"authenticationURL": format!("{base}/slow"), "readTimeout": 200}),
    );
    let t = std::time::Instant::now();
    let e = cs.authenticate(&slow, &login("a", &pw)).await.unwrap_err();
    assert_eq!(e.kind, FailureKind::Timeout);
    assert!(t.elapsed() < std::time::Duration::from_secs(2));

    // Nothing listens on port 9 of loopback.
    let down = connector(
        "Generic",
        json!({"authenticationURL": "http://127.0.0.1:9/auth"}),
    );
    let e = cs.authenticate(&down, &login("a", &pw)).await.unwrap_err();
    assert_eq!(e.kind, FailureKind::Unreachable);
    assert!(!e.message.contains("wrong"), "{e}");
}

#[tokio::test]
async fn the_circuit_breaker_stops_asking_a_failing_system() {
    let seen = Shared::default();
    let base = generic_server(seen.clone()).await;
    let cs = Connectors::default();
    let pw = Password("x".into());
    let c = connector(
        "Generic",
        json!({"authenticationURL": format!("{base}/broken"),
               "circuitBreaker": {"failureThreshold": 3, "openSeconds": 60}}),
    );
    for _ in 0..3 {
        assert_eq!(
            cs.authenticate(&c, &login("a", &pw))
                .await
                .unwrap_err()
                .kind,
            FailureKind::BadAnswer
        );
    }
    assert!(cs.is_open(c.id.unwrap()));
    let e = cs.authenticate(&c, &login("a", &pw)).await.unwrap_err();
    assert_eq!(e.kind, FailureKind::CircuitOpen);
}

#[test]
fn settings_are_checked_on_save() {
    let cs = Connectors::default();
    let bad = connector(
        "Generic",
        json!({"authenticationURL": "ftp://x", "connectTimeout": -1, "headers": {"bad header": "x"}}),
    );
    let Err(portcullis_domain::Error::Invalid(e)) = cs.check(&bad) else {
        panic!("invalid settings accepted")
    };
    for f in [
        "connector.authenticationURL",
        "connector.connectTimeout",
        "connector.headers",
    ] {
        assert!(e.field_errors.contains_key(f), "{f} missing in {e:?}");
    }
    let missing = connector("RESTMigration", json!({}));
    let Err(portcullis_domain::Error::Invalid(e)) = cs.check(&missing) else {
        panic!("missing baseURL accepted")
    };
    assert!(e.field_errors.contains_key("connector.baseURL"));
    let unknown = connector("Kerberos", json!({}));
    assert!(cs.check(&unknown).is_err());
}

/// A Keycloak-style legacy API: GET /users/{id} and POST /users/{id}.
async fn rest_server(seen: Shared) -> String {
    async fn get_user(
        State(seen): State<Shared>,
        Path(id): Path<String>,
        headers: HeaderMap,
    ) -> (StatusCode, Json<Value>) {
        let mut s = seen.lock().unwrap();
        s.paths.push(format!("GET {id}"));
        s.authorization.push(
            headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_string()),
        );
        match id.as_str() {
            "bob" | "bob@legacy.example" => (
                StatusCode::OK,
                Json(json!({
                    "id": "12345", "username": "bob", "email": "bob@legacy.example",
                    "firstName": "Bob", "lastName": "Smith", "enabled": true, "emailVerified": true,
                    "attributes": {"position": ["developer"], "langs": ["en", "fr"]},
                    "roles": ["admin", "viewer"], "groups": ["staff", "beta"],
                    "requiredActions": ["UPDATE_PASSWORD"],
                    "totps": [{"name": "phone", "secret": "JBSWY3DPEHPK3PXP", "digits": 6,
                               "period": 30, "algorithm": "HmacSHA1", "encoding": "BASE32"}]
                })),
            ),
            "a/b@x.y" => (
                StatusCode::OK,
                Json(json!({"username": "a/b@x.y", "email": "ab@x.y"})),
            ),
            "crash" => (StatusCode::BAD_GATEWAY, Json(json!({}))),
            _ => (StatusCode::NOT_FOUND, Json(json!({}))),
        }
    }
    async fn check(
        State(seen): State<Shared>,
        Path(id): Path<String>,
        Json(b): Json<Value>,
    ) -> StatusCode {
        let mut s = seen.lock().unwrap();
        s.paths.push(format!("POST {id}"));
        s.bodies.push(b.clone());
        if (id == "bob" || id == "12345") && b == json!({"password": "right"}) {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        }
    }
    let app = Router::new()
        .route("/users/{id}", get(get_user).post(check))
        .with_state(seen);
    serve(app).await
}

#[tokio::test]
async fn rest_looks_up_then_verifies_and_maps_roles_groups_and_actions() {
    let seen = Shared::default();
    let base = rest_server(seen.clone()).await;
    let app = Uuid::new_v4();
    let c = connector(
        "RESTMigration",
        json!({"baseURL": format!("{base}/users/"), "bearerToken": "tok",
               "applicationId": app,
               "roleMap": {"admin": "administrator"}, "migrateUnmappedRoles": false,
               "groupMap": {"staff": "employees"}, "migrateUnmappedGroups": true}),
    );
    let cs = Connectors::default();
    let pw = Password("right".into());
    let u = cs
        .authenticate(&c, &login("bob@legacy.example", &pw))
        .await
        .unwrap()
        .expect("found");
    assert_eq!(u.user.username.as_deref(), Some("bob"));
    assert_eq!(u.user.last_name.as_deref(), Some("Smith"));
    assert!(u.user.verified);
    assert_eq!(u.user.data["position"], json!("developer"));
    assert_eq!(u.user.data["langs"], json!(["en", "fr"]));
    assert_eq!(u.user.data["legacyId"], json!("12345"));
    let reg = &u.user.registrations[0];
    assert_eq!(reg.application_id, Some(app));
    assert_eq!(reg.roles, vec!["administrator"]);
    assert_eq!(u.groups, vec!["beta", "employees"]);
    assert!(u.password_change_required);
    assert_eq!(u.user.two_factor.methods.len(), 1);
    assert_eq!(
        u.user.two_factor.methods[0]["secretBase32Encoded"],
        json!("JBSWY3DPEHPK3PXP")
    );
    // The same legacy id maps to the same user id every time.
    let again = cs.lookup(&c, "bob").await.unwrap().unwrap();
    assert_eq!(again.user.id, u.user.id);
    let s = seen.lock().unwrap();
    assert_eq!(s.paths[..2], ["GET bob@legacy.example", "POST bob"]);
    assert_eq!(s.authorization[0].as_deref(), Some("Bearer tok"));
}

#[tokio::test]
async fn rest_wrong_password_unknown_user_and_legacy_failure() {
    let seen = Shared::default();
    let base = rest_server(seen.clone()).await;
    let c = connector(
        "RESTMigration",
        json!({"baseURL": format!("{base}/users"), "useLegacyIdForCredentialCheck": true}),
    );
    let cs = Connectors::default();
    let wrong = Password("wrong".into());
    assert!(cs
        .authenticate(&c, &login("bob", &wrong))
        .await
        .unwrap()
        .is_none());
    assert!(cs
        .authenticate(&c, &login("nobody", &wrong))
        .await
        .unwrap()
        .is_none());
    let e = cs
        .authenticate(&c, &login("crash", &wrong))
        .await
        .unwrap_err();
    assert_eq!(e.kind, FailureKind::BadAnswer);
    let s = seen.lock().unwrap();
    assert!(s.paths.contains(&"POST 12345".to_string()), "{:?}", s.paths);
    assert!(
        !s.paths.iter().any(|p| p == "POST nobody"),
        "no verify for an unknown user"
    );
}

#[tokio::test]
async fn rest_percent_encodes_path_segments() {
    let seen = Shared::default();
    let base = rest_server(seen.clone()).await;
    let c = connector("RESTMigration", json!({"baseURL": format!("{base}/users")}));
    let cs = Connectors::default();
    let u = cs
        .lookup(&c, "a/b@x.y")
        .await
        .unwrap()
        .expect("found as one segment");
    assert_eq!(u.user.email.as_deref(), Some("ab@x.y"));
    // `../` cannot climb out of the users resource.
    assert!(cs.lookup(&c, "../users/bob").await.unwrap().is_none());
    let s = seen.lock().unwrap();
    assert!(
        s.paths.contains(&"GET a/b@x.y".to_string()),
        "{:?}",
        s.paths
    );
}
