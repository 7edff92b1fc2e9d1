//! Writes that race on one user: a profile update at the same time as a password change or a
//! login. Each write changes only what it owns, so neither loses the other's change.

use crate::support::*;
use portcullis_store::testing::Backend;
use serde_json::json;

portcullis_store::on_both_backends!(
    a_profile_update_racing_a_password_change_loses_neither,
    a_profile_update_racing_a_login_loses_neither,
);

const ROUNDS: usize = 12;

/// A user of a tenant whose passwords take tens of milliseconds to hash and verify (bcrypt at
/// cost 10), so a password change or a login is still running when a profile update lands.
async fn user(s: &Server, password: &str) -> String {
    let t = s.default_tenant().await;
    let slow = json!({"tenant": {"passwordEncryptionConfiguration":
        {"encryptionScheme": "bcrypt", "encryptionSchemeFactor": 10}}});
    let a = s.call("PATCH", &format!("/api/tenant/{t}"), slow).await;
    assert_eq!(a.status, 200, "{a:?}");
    let a = s
        .call(
            "POST",
            "/api/user",
            json!({"user": {"email": "race@example.com", "password": password}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    a.json["user"]["id"].as_str().unwrap().to_string()
}

async fn a_profile_update_racing_a_password_change_loses_neither(b: Backend) {
    let s = Server::start(b).await;
    let mut password = "password 0".to_string();
    let id = user(&s, &password).await;
    let path = format!("/api/user/{id}");
    for round in 1..=ROUNDS {
        let next = format!("password {round}");
        let change = s.call(
            "POST",
            "/api/user/change-password",
            json!({"loginId": "race@example.com", "currentPassword": password, "password": next}),
        );
        let update = s.call("PATCH", &path, json!({"user": {"data": {"round": round}}}));
        let (changed, updated) = tokio::join!(change, update);
        assert_eq!(changed.status, 200, "{changed:?}");
        assert_eq!(updated.status, 200, "{updated:?}");
        password = next;
        let stored = s.get(&format!("/api/user/{id}")).await;
        assert_eq!(
            stored.json["user"]["data"]["round"], round,
            "round {round}: the profile update is kept"
        );
        let login = s
            .call(
                "POST",
                "/api/login",
                json!({"loginId": "race@example.com", "password": password}),
            )
            .await;
        assert_eq!(
            login.status, 200,
            "round {round}: the new password is kept: {login:?}"
        );
    }
}

async fn a_profile_update_racing_a_login_loses_neither(b: Backend) {
    let s = Server::start(b).await;
    let id = user(&s, "password 0").await;
    let path = format!("/api/user/{id}");
    let mut last_login = 0;
    for round in 1..=ROUNDS {
        let login = s.call(
            "POST",
            "/api/login",
            json!({"loginId": "race@example.com", "password": "password 0"}),
        );
        let update = s.call("PATCH", &path, json!({"user": {"data": {"round": round}}}));
        let (logged_in, updated) = tokio::join!(login, update);
        assert_eq!(logged_in.status, 200, "{logged_in:?}");
        assert_eq!(updated.status, 200, "{updated:?}");
        let stored = s.get(&format!("/api/user/{id}")).await;
        assert_eq!(stored.json["user"]["data"]["round"], round, "round {round}");
        let at = stored.json["user"]["lastLoginInstant"]
            .as_i64()
            .unwrap_or_else(|| panic!("round {round}: the login's instant is kept: {stored:?}"));
        assert!(
            at >= last_login,
            "round {round}: lastLoginInstant never goes back"
        );
        last_login = at;
    }
}
