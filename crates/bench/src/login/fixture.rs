//! The bench's fixture: a throw-away database with an application handing out refresh tokens
//! and its users, and the login requests that name them.

use portcullis_domain::{
    Application, Identity, LoginRequest, Password, Registration, Scope, Sessions, Store, User,
};
use portcullis_hash::HashPool;
use portcullis_store::testing::{Backend, TestDb};
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

/// Users the logins are spread over.
const USERS: usize = 32;
/// Every bench user's password.
pub(super) const PASSWORD: &str = "bench password";

pub(super) struct Fixture {
    pub(super) db: TestDb,
    pub(super) sessions: Sessions,
    pub(super) app: Uuid,
    /// The users' login ids.
    pub(super) logins: Vec<String>,
}

impl Fixture {
    /// A throw-away database on `backend` with the application and its `USERS` users, each
    /// registered to it with `PASSWORD` at the tenant's default scheme.
    pub(super) async fn new(backend: Backend, pool: HashPool) -> Result<Fixture, String> {
        let e = |e: portcullis_domain::Error| e.to_string();
        let db = TestDb::new(backend).await;
        let identity = Identity::new(Arc::new(db.store.clone()), pool);
        identity.ensure_defaults().await.map_err(e)?;
        let mut app = Application {
            name: "Bench".into(),
            ..Application::default()
        };
        app.settings.insert(
            "loginConfiguration".into(),
            json!({"generateRefreshTokens": true}),
        );
        let app = identity
            .create_application(Scope::ALL, None, app)
            .await
            .map_err(e)?
            .id
            .expect("created");
        let mut logins = Vec::new();
        for i in 0..USERS {
            let email = format!("user{i}@bench.example");
            identity
                .create_user(
                    Scope::ALL,
                    None,
                    User {
                        email: Some(email.clone()),
                        password: Some(Password(PASSWORD.into())),
                        registrations: vec![Registration {
                            application_id: Some(app),
                            roles: vec![],
                            ..Registration::default()
                        }],
                        ..User::default()
                    },
                )
                .await
                .map_err(e)?;
            logins.push(email);
        }
        Ok(Fixture {
            db,
            sessions: Sessions::new(identity),
            app,
            logins,
        })
    }
}

/// The request logging user `i` (modulo the users) into the application.
pub(super) fn request(f: &Fixture, i: usize) -> LoginRequest {
    LoginRequest {
        login_id: Some(f.logins[i % f.logins.len()].clone()),
        password: Some(Password(PASSWORD.into())),
        application_id: Some(f.app),
        ..LoginRequest::default()
    }
}

/// The store's one tenant.
pub(super) async fn tenant_of(store: &portcullis_store::SqlStore) -> Result<Uuid, String> {
    let t = store.tenants().await.map_err(|e| e.to_string())?;
    Ok(t[0].id.expect("stored"))
}
