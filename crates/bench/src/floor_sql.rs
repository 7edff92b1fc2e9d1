//! The floors' SQL held to the store's. A floor is bare SQL a bench runs beside ours, and it
//! means something only while it is the store's own statement: so every floor statement must
//! be, whitespace aside, one the store sends on the path the floor stands for. The store's
//! statements are caught where they leave it — SQLite's statement trace on every connection this
//! process opens, the PostgreSQL wire between the store and the server — while a migration, a
//! login into an application, a refresh grant and an import run through the real services.
//!
//! When the store's SQL changes, this test names the floor statement that no longer matches and
//! lists what the store sent instead; the floor is then rewritten to the store's new text.

use crate::{import, login, migrate};
use axum::routing::post;
use axum::{Json, Router};
use portcullis_connect::Connectors;
use portcullis_domain::{
    Application, Connector, Identity, LoginOutcome, LoginRequest, Password, Registration, Scope,
    Sessions, User,
};
use portcullis_hash::HashPool;
use portcullis_store::testing::Backend;
use portcullis_store::SqlStore;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

portcullis_store::on_both_backends!(floors_send_the_stores_statements);

const PASSWORD: &str = "floor password";

async fn floors_send_the_stores_statements(backend: Backend) {
    let sent = match backend {
        Backend::Sqlite => {
            sqlite_trace::install();
            let dir = tempfile::tempdir().expect("a temporary directory");
            let file = dir.path().join("floors.db");
            let store = SqlStore::connect(&format!("sqlite://{}", file.display()))
                .await
                .expect("SQLite opens");
            run_paths(store).await.expect("the store's paths run");
            sqlite_trace::statements_in(dir.path())
        }
        Backend::Postgres => {
            let base = portcullis_store::testing::postgres_url();
            let proxy = pg_wire::Proxy::start(&base);
            let schema = pg_wire::Schema::create(&base).await;
            let store = SqlStore::connect_in_schema(&proxy.url, Some(&schema.name))
                .await
                .expect("PostgreSQL opens through the proxy");
            let ran = run_paths(store).await;
            schema.remove().await;
            ran.expect("the store's paths run");
            proxy.statements()
        }
    };
    let sent: BTreeSet<String> = sent.iter().map(|s| squeeze(s)).collect();
    let mut floors: Vec<(String, String)> = Vec::new();
    for (what, backends, sql) in login::floor::STATEMENTS
        .iter()
        .map(|s| ("bench login", s))
        .chain(
            migrate::FLOOR_STATEMENTS
                .iter()
                .map(|s| ("bench migrate", s)),
        )
        .map(|(bench, (what, backends, sql))| (format!("{bench}: {what}"), backends, sql))
    {
        if backends.contains(&backend) {
            floors.push((what, sql.to_string()));
        }
    }
    // The import's bare load: on SQLite the same multi-row INSERTs, for the three users (six
    // registrations, three memberships) the import below sends; on PostgreSQL `COPY` into the
    // same columns, as the store's own binary `COPY` names them.
    let rows = [(10, 3), (5, 6), (5, 3)];
    for (table, (cols, n)) in import::TABLES.iter().zip(rows) {
        let what = format!("bench import: the bare load of {table}");
        match backend {
            Backend::Sqlite => floors.push((what, import::insert_sql(table, cols, n))),
            Backend::Postgres => {
                let head = format!("COPY {table} FROM STDIN (FORMAT binary)");
                assert!(
                    sent.iter().any(|s| s.starts_with(&head)),
                    "{what}: the store sent no statement starting [{head}]; it sent:\n{}",
                    listing(&sent)
                );
            }
        }
    }
    let missing: Vec<String> = floors
        .iter()
        .filter(|(_, sql)| !sent.contains(&squeeze(sql)))
        .map(|(what, sql)| format!("{what}:\n    {}", squeeze(sql)))
        .collect();
    assert!(
        missing.is_empty(),
        "floor statements the store does not send on {backend:?}:\n{}\n\nthe store sent:\n{}",
        missing.join("\n"),
        listing(&sent)
    );
}

/// The statement with every run of whitespace made one space: the text the database parses,
/// as far as its meaning and cost go.
fn squeeze(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn listing(sent: &BTreeSet<String>) -> String {
    sent.iter()
        .map(|s| format!("    {s}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A Generic legacy endpoint on loopback that knows everyone whose password is [`PASSWORD`].
async fn legacy() -> String {
    async fn auth(Json(b): Json<Value>) -> (axum::http::StatusCode, Json<Value>) {
        if b["password"] == PASSWORD {
            let user = json!({"user": {"email": b["loginId"], "firstName": "Floor"}});
            (axum::http::StatusCode::OK, Json(user))
        } else {
            (axum::http::StatusCode::NOT_FOUND, Json(json!({})))
        }
    }
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}/auth", l.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(l, Router::new().route("/auth", post(auth))).await });
    url
}

/// The paths the floors stand for, through the real services: a first login that migrates a
/// user (bench migrate), a login into an application that hands out refresh tokens and one grant
/// (bench login), an import of the import bench's users (bench import).
async fn run_paths(store: SqlStore) -> Result<(), String> {
    let e = |e: portcullis_domain::Error| e.to_string();
    let connectors = Arc::new(Connectors::default());
    let identity = Identity::new(Arc::new(store), HashPool::for_this_machine())
        .with_legacy(connectors.clone());
    identity.ensure_defaults().await.map_err(e)?;
    let connector: Connector = serde_json::from_value(json!({
        "type": "Generic", "name": "floor legacy", "authenticationURL": legacy().await
    }))
    .map_err(|e| e.to_string())?;
    let connector = identity
        .create_connector(Scope::ALL, None, connector)
        .await
        .map_err(e)?;
    let tenant = identity.tenants(Scope::ALL).await.map_err(e)?[0]
        .id
        .expect("stored");
    identity
        .patch_tenant(
            Scope::ALL,
            tenant,
            &json!({"connectorPolicies": [{"connectorId": connector.id, "domains": ["*"], "migrate": true}],
                    "passwordEncryptionConfiguration": {"encryptionScheme": "salted-sha256", "encryptionSchemeFactor": 1}}),
            true,
        )
        .await
        .map_err(e)?;
    let sessions = Sessions::new(identity.clone());
    let login = |login_id: &str, app: Option<uuid::Uuid>| LoginRequest {
        login_id: Some(login_id.into()),
        password: Some(Password(PASSWORD.into())),
        application_id: app,
        ..LoginRequest::default()
    };

    // A first login: the user comes over from the legacy system.
    match sessions
        .login(Scope::ALL, login("migrated@legacy.example", None))
        .await
    {
        Ok(LoginOutcome::Success(_)) => {}
        other => return Err(format!("the migration did not succeed: {other:?}")),
    }

    // A login into an application with refresh tokens, then one grant.
    let mut app = Application {
        name: "Floor".into(),
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
        .id;
    identity
        .create_user(
            Scope::ALL,
            None,
            User {
                email: Some("user@floor.example".into()),
                password: Some(Password(PASSWORD.into())),
                registrations: vec![Registration {
                    application_id: app,
                    ..Registration::default()
                }],
                ..User::default()
            },
        )
        .await
        .map_err(e)?;
    let refresh = match sessions
        .login(Scope::ALL, login("user@floor.example", app))
        .await
    {
        Ok(LoginOutcome::Success(t)) => t.refresh_token.ok_or("no refresh token")?,
        other => return Err(format!("the login did not succeed: {other:?}")),
    };
    sessions.refresh(&refresh).await.map_err(e)?;

    // An import of three of the import bench's users, into the tenant's default scheme again:
    // their bcrypt hashes cost more than ten salted SHA-256 verifies, the import's budget.
    identity
        .patch_tenant(
            Scope::ALL,
            tenant,
            &json!({"passwordEncryptionConfiguration": {"encryptionScheme": null, "encryptionSchemeFactor": null}}),
            true,
        )
        .await
        .map_err(e)?;
    for body in import::fixtures(&identity, 3, 3).await? {
        let req = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        identity
            .import_users(Scope::ALL, req)
            .await
            .map_err(|e| format!("{e:?}"))?;
    }
    Ok(())
}

/// Every statement SQLite runs in this process, by database file: a trace installed on each
/// connection as it opens (an auto-extension), so the store's own connections are seen too.
mod sqlite_trace {
    use rusqlite::ffi;
    use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
    use std::path::Path;
    use std::sync::{Mutex, Once};

    /// (database file, statement text), in the order SQLite ran them.
    static SEEN: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

    unsafe extern "C" fn on_statement(
        mask: c_uint,
        file: *mut c_void,
        _statement: *mut c_void,
        sql: *mut c_void,
    ) -> c_int {
        if mask == ffi::SQLITE_TRACE_STMT as c_uint && !sql.is_null() {
            // SAFETY: `file` is the connection's leaked String (see `on_open`); for a
            // SQLITE_TRACE_STMT event `sql` is the statement's text, NUL-terminated.
            let file = unsafe { &*(file as *const String) };
            let sql = unsafe { CStr::from_ptr(sql as *const c_char) };
            // A trigger's statements come as `-- ...` comments: not the store's text.
            let sql = sql.to_string_lossy();
            if !sql.starts_with("--") {
                let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
                seen.push((file.clone(), sql.into_owned()));
            }
        }
        0
    }

    unsafe extern "C" fn on_open(
        db: *mut ffi::sqlite3,
        _error: *mut *mut c_char,
        _api: *const ffi::sqlite3_api_routines,
    ) -> c_int {
        // SAFETY: `db` is the connection being opened; the file name SQLite returns lives as
        // long as it, and is copied here.
        let name = unsafe { ffi::sqlite3_db_filename(db, c"main".as_ptr()) };
        let file = if name.is_null() {
            String::new()
        } else {
            unsafe { CStr::from_ptr(name) }
                .to_string_lossy()
                .into_owned()
        };
        // One String per connection, kept for the life of the test process.
        let file = Box::into_raw(Box::new(file)) as *mut c_void;
        // SAFETY: the callback and its context outlive the connection.
        unsafe {
            ffi::sqlite3_trace_v2(
                db,
                ffi::SQLITE_TRACE_STMT as c_uint,
                Some(on_statement),
                file,
            )
        }
    }

    /// Traces every connection opened from now on.
    pub fn install() {
        static ONCE: Once = Once::new();
        // SAFETY: `on_open` opens no database and leaves the list of auto-extensions alone.
        ONCE.call_once(|| unsafe {
            rusqlite::auto_extension::register_auto_extension(on_open)
                .expect("the statement trace installs")
        });
    }

    /// The statements run on database files in `dir`.
    pub fn statements_in(dir: &Path) -> Vec<String> {
        let dir = dir.file_name().and_then(|d| d.to_str()).expect("a name");
        let seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
        seen.iter()
            .filter(|(file, _)| file.contains(dir))
            .map(|(_, sql)| sql.clone())
            .collect()
    }
}

/// The text of every statement sent to PostgreSQL through a loopback proxy, read off the wire:
/// the extended protocol's `Parse` and the simple protocol's `Query` messages.
mod pg_wire {
    use sqlx::Executor;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    pub struct Proxy {
        /// `base` with the proxy as its server, and TLS off so the messages can be read.
        pub url: String,
        seen: Arc<Mutex<Vec<String>>>,
    }

    impl Proxy {
        /// A proxy in front of the server `base` names, on a thread (and runtime) of its own so
        /// it outlives the test's runtime.
        pub fn start(base: &str) -> Proxy {
            let options: sqlx::postgres::PgConnectOptions = base.parse().expect("a PostgreSQL URL");
            let upstream = format!("{}:{}", options.get_host(), options.get_port());
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
            listener.set_nonblocking(true).expect("non-blocking");
            let port = listener.local_addr().expect("bound").port();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let for_relays = seen.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("listens");
                    while let Ok((client, _)) = listener.accept().await {
                        let (upstream, seen) = (upstream.clone(), for_relays.clone());
                        tokio::spawn(async move {
                            let _ = relay(client, &upstream, seen).await;
                        });
                    }
                });
            });
            let (scheme, rest) = base.split_once("://").expect("a URL");
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let user = authority
                .rsplit_once('@')
                .map_or(String::new(), |(u, _)| format!("{u}@"));
            let sep = if path.contains('?') { '&' } else { '?' };
            Proxy {
                url: format!("{scheme}://{user}127.0.0.1:{port}/{path}{sep}sslmode=disable"),
                seen,
            }
        }

        pub fn statements(&self) -> Vec<String> {
            self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
        }
    }

    /// Copies the server's bytes back as they come; reads the client's message by message,
    /// noting each statement's text, and passes it on.
    async fn relay(
        client: TcpStream,
        upstream: &str,
        seen: Arc<Mutex<Vec<String>>>,
    ) -> std::io::Result<()> {
        let server = TcpStream::connect(upstream).await?;
        let (mut from_client, mut to_client) = client.into_split();
        let (mut from_server, mut to_server) = server.into_split();
        tokio::spawn(async move { tokio::io::copy(&mut from_server, &mut to_client).await });
        // The start-up message, and a request for TLS or GSS before it, carry no type byte.
        let mut typed = false;
        loop {
            let mut head = [0u8; 5];
            let head = if typed {
                from_client.read_exact(&mut head).await?;
                &head[..]
            } else {
                from_client.read_exact(&mut head[..4]).await?;
                &head[..4]
            };
            let len = u32::from_be_bytes(head[head.len() - 4..].try_into().expect("4 bytes"));
            let mut body = vec![0u8; (len as usize).saturating_sub(4)];
            from_client.read_exact(&mut body).await?;
            if typed {
                let text = match head[0] {
                    // Parse: the statement's name, then its text.
                    b'P' => body.splitn(3, |b| *b == 0).nth(1),
                    // Query: its text.
                    b'Q' => body.split(|b| *b == 0).next(),
                    _ => None,
                };
                if let Some(text) = text {
                    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                    seen.push(String::from_utf8_lossy(text).into_owned());
                }
            } else {
                let code = u32::from_be_bytes(body[..4].try_into().expect("a request code"));
                typed = !matches!(code, 80_877_103 | 80_877_104);
            }
            to_server.write_all(head).await?;
            to_server.write_all(&body).await?;
        }
    }

    /// A fresh schema on the server itself (not through the proxy), removed by [`Schema::remove`].
    pub struct Schema {
        base: String,
        pub name: String,
    }

    impl Schema {
        pub async fn create(base: &str) -> Schema {
            let name = format!("floor_{}", uuid::Uuid::new_v4().simple());
            let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(base)
                .await
                .unwrap_or_else(|e| {
                    panic!("PostgreSQL at {base} is needed (set PORTCULLIS_TEST_POSTGRES_URL): {e}")
                });
            admin
                .execute(format!("CREATE SCHEMA \"{name}\"").as_str())
                .await
                .expect("schema created");
            Schema {
                base: base.to_string(),
                name,
            }
        }

        pub async fn remove(self) {
            if let Ok(mut c) = <sqlx::PgConnection as sqlx::Connection>::connect(&self.base).await {
                let _ = c
                    .execute(format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name).as_str())
                    .await;
            }
        }
    }
}
