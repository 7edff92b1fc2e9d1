//! `portcullis-bench search`: user search over a large tenant. Loads N users through the import
//! (the fastest bulk path a deployment has), then times, for each query, the exact `total` of
//! `/api/user/search`'s path (a page of 0 users) and its first page of 25 sorted by email,
//! each beside the database's own figure measured in the same run: a bare `SELECT count(*)` of
//! the same predicate on a connection of the bench's own. Then it serves the admin pages over
//! the same database and times each page an administrator opens (the dashboard, the users list
//! with its exact total, a search, a user), each beside its own floor: the page's reads alone.

use super::import::{setup, Db};
use portcullis_domain::search::{Search, SearchCriteria, SortField};
use portcullis_domain::{Identity, ImportRequest, Scope};
use serde_json::{json, Value};
use sqlx::Row;
use std::time::Instant;
use uuid::Uuid;

#[derive(clap::Args, Debug)]
pub struct SearchBench {
    /// Users in the tenant.
    #[arg(long, default_value_t = 1_000_000)]
    users: usize,
    /// Users per import request.
    #[arg(long, default_value_t = 50_000)]
    batch: usize,
    /// PostgreSQL server for the PostgreSQL rows (a fresh schema); without it, SQLite only.
    #[arg(long)]
    postgres: Option<String>,
    /// Times each figure is measured; the median is printed.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// The instant users `i % 3 == 0` last logged in at, and the `>T` of the third query: half of
/// them logged in after it.
const LOGIN_BASE: i64 = 1_700_000_000_000;

/// User `i`'s email: a mix of `i`, so emails come in no order.
fn email(i: usize) -> String {
    let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let domain = if i.is_multiple_of(2) {
        "example.com"
    } else {
        "example.org"
    };
    format!("u{z:016x}@{domain}")
}

/// User `i`: half at example.com (the others at example.org), every tenth on the gold plan,
/// every fourth registered in the first application (the others in the second), every third
/// with a last login. Emails come in no order, as a legacy export's do.
fn user(i: usize, apps: &[String; 2]) -> Value {
    let mut u = json!({
        "email": email(i),
        "firstName": "User", "lastName": format!("{i}"), "verified": true,
        "insertInstant": 1_600_000_000_000_i64 + i as i64,
        "data": {"plan": if i.is_multiple_of(10) { "gold" } else { "free" }, "n": i},
        "registrations": [{"applicationId": apps[usize::from(!i.is_multiple_of(4))], "roles": ["member"]}],
    });
    if i.is_multiple_of(3) {
        u["lastLoginInstant"] = json!(LOGIN_BASE + i as i64);
    }
    u
}

async fn load(identity: &Identity, n: usize, batch: usize) -> Result<[String; 2], String> {
    use portcullis_domain::{Application, Role};
    let mut apps = Vec::new();
    for name in ["Shop", "Forum"] {
        let a = identity
            .create_application(
                Scope::ALL,
                None,
                Application {
                    name: name.into(),
                    roles: vec![Role {
                        name: "member".into(),
                        ..Role::default()
                    }],
                    ..Application::default()
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        apps.push(a.id.unwrap().to_string());
    }
    let apps = [apps[0].clone(), apps[1].clone()];
    let mut from = 0;
    while from < n {
        let to = (from + batch).min(n);
        let users: Vec<Value> = (from..to).map(|i| user(i, &apps)).collect();
        let req: ImportRequest =
            serde_json::from_value(json!({ "users": users })).map_err(|e| e.to_string())?;
        identity
            .import_users(Scope::ALL, req)
            .await
            .map_err(|e| format!("{e:?}"))?;
        from = to;
    }
    Ok(apps)
}

/// One query: its `queryString`, and the same predicate as bare SQL for each dialect.
struct Query {
    query_string: String,
    sqlite: String,
    postgres: String,
}

fn queries(tenant: Uuid, apps: &[String; 2], n: usize) -> Vec<Query> {
    let t = LOGIN_BASE + n as i64 / 2;
    let app = &apps[0];
    let tenant = format!("tenant_id = '{tenant}'");
    vec![
        Query {
            query_string: "email:*@example.com".into(),
            sqlite: format!("{tenant} AND email_lower LIKE '%@example.com'"),
            postgres: format!("{tenant} AND email_lower LIKE '%@example.com'"),
        },
        Query {
            query_string: "data.plan:gold".into(),
            sqlite: format!("{tenant} AND json_extract(body, '$.data.plan') = 'gold'"),
            postgres: format!("{tenant} AND CAST(body AS JSONB) #>> '{{data,plan}}' = 'gold'"),
        },
        Query {
            query_string: format!("registrations.applicationId:{app} AND lastLoginInstant:>{t}"),
            sqlite: format!(
                "{tenant} AND EXISTS (SELECT 1 FROM registrations r WHERE r.user_id = users.id \
                 AND r.application_id = '{app}') AND json_extract(body, '$.lastLoginInstant') > {t}"
            ),
            postgres: format!(
                "{tenant} AND EXISTS (SELECT 1 FROM registrations r WHERE r.user_id = users.id \
                 AND r.application_id = '{app}') \
                 AND CAST(CAST(body AS JSONB) ->> 'lastLoginInstant' AS BIGINT) > {t}"
            ),
        },
    ]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(secs: f64) -> String {
    format!("{:.1}", secs * 1000.0)
}

/// Our path: the search as `/api/user/search` parses and runs it, in the tenant's scope.
async fn ours(
    identity: &Identity,
    tenant: Uuid,
    q: &str,
    results: i64,
    sorted: bool,
) -> Result<(f64, u64, usize), String> {
    let criteria = SearchCriteria {
        query_string: Some(q.to_string()),
        number_of_results: Some(results),
        sort_fields: sorted.then(|| {
            vec![SortField {
                name: "email".into(),
                ..SortField::default()
            }]
        }),
        ..SearchCriteria::default()
    };
    let search = Search::parse(criteria).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let a = identity
        .search_users(Scope::tenant(tenant), search)
        .await
        .map_err(|e| e.to_string())?;
    Ok((start.elapsed().as_secs_f64(), a.total, a.users.len()))
}

async fn floor(c: &mut sqlx::AnyConnection, cond: &str) -> Result<(f64, u64), String> {
    let start = Instant::now();
    let row = sqlx::query(&format!("SELECT count(*) AS n FROM users WHERE {cond}"))
        .fetch_one(&mut *c)
        .await
        .map_err(|e| e.to_string())?;
    let n: i64 = row.try_get("n").map_err(|e| e.to_string())?;
    Ok((start.elapsed().as_secs_f64(), n as u64))
}

async fn measure(name: &str, db: &Db, b: &SearchBench) -> Result<(), String> {
    let (store, identity) = setup(&db.url).await?;
    let start = Instant::now();
    let apps = load(&identity, b.users, b.batch).await?;
    let loaded = start.elapsed().as_secs_f64();
    println!(
        "{name}: {} users loaded in {loaded:.1} s ({:.0} users/s)",
        b.users,
        b.users as f64 / loaded
    );
    let tenant = identity
        .tenants(Scope::ALL)
        .await
        .map_err(|e| e.to_string())?[0]
        .id
        .unwrap();
    sqlx::any::install_default_drivers();
    let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url)
        .await
        .map_err(|e| e.to_string())?;
    if db.url.starts_with("postgres") {
        sqlx::query("ANALYZE")
            .execute(&mut c)
            .await
            .map_err(|e| e.to_string())?;
    }
    let pg = db.url.starts_with("postgres");
    for q in queries(tenant, &apps, b.users) {
        let cond = if pg { &q.postgres } else { &q.sqlite };
        let (mut total_s, mut page_s, mut floor_s) = (Vec::new(), Vec::new(), Vec::new());
        let (mut total, mut counted, mut page_len) = (0, 0, 0);
        for _ in 0..b.rounds.max(1) {
            let (s, n, _) = ours(&identity, tenant, &q.query_string, 0, false).await?;
            total_s.push(s);
            total = n;
            let (s, _, len) = ours(&identity, tenant, &q.query_string, 25, true).await?;
            page_s.push(s);
            page_len = len;
            let (s, n) = floor(&mut c, cond).await?;
            floor_s.push(s);
            counted = n;
        }
        if total != counted {
            return Err(format!(
                "{}: the search counted {total}, the bare SQL {counted}",
                q.query_string
            ));
        }
        let (t, p, f) = (median(total_s), median(page_s), median(floor_s));
        let ratio = format!("{:.1}x", t / f);
        let page = format!("{} ({page_len} users)", ms(p));
        println!(
            "{name:<11} {:<72} {total:>9} {:>10} {ratio:>9} {page:>22} {:>9}",
            q.query_string,
            ms(t),
            ms(f),
        );
    }
    admin_pages(name, &identity, &mut c, b.rounds, pg).await?;
    store.close().await;
    Ok(())
}

/// The bare count of users whose email or username starts with `prefix`, by the indexes a
/// database has for it: each side of the OR a range of its column (PostgreSQL's C-collated
/// indexes; SQLite's tenant-led ones, over any tenant).
fn prefix_count(prefix: &str, pg: bool) -> String {
    let mut upper = prefix[..prefix.len() - 1].to_string();
    upper.push(char::from(prefix.as_bytes()[prefix.len() - 1] + 1));
    let side = |col: &str| {
        if pg {
            format!("({col} COLLATE \"C\") >= '{prefix}' AND ({col} COLLATE \"C\") < '{upper}'")
        } else {
            format!(
                "tenant_id IN (SELECT id FROM tenants) AND {col} >= '{prefix}' AND {col} < '{upper}'"
            )
        }
    };
    format!(
        "SELECT count(*) FROM users WHERE ({}) OR ({})",
        side("email_lower"),
        side("username_lower")
    )
}

/// The admin pages' target, per page.
const PAGE_TARGET_MS: f64 = 200.0;

/// Times the admin pages an administrator opens, served over loopback by the API's router on
/// the loaded database, each beside its floor: the dashboard beside the migration status it
/// draws (the domain call, no HTTP, no template); the users list and a search beside a bare
/// `SELECT count(*)` of their predicate over every tenant (the exact total they show); a user's
/// page beside a bare read of that user's row.
async fn admin_pages(
    name: &str,
    identity: &Identity,
    c: &mut sqlx::AnyConnection,
    rounds: usize,
    pg: bool,
) -> Result<(), String> {
    use portcullis_domain::{
        reset_queue, LoginOutcome, LoginRequest, Password, Registration, Sessions, User,
    };
    let err = |e: portcullis_domain::Error| format!("{e:?}");
    let ids = identity
        .default_ids()
        .await
        .map_err(err)?
        .ok_or("no admin application")?;
    let scope = Scope::tenant(ids.tenant);
    let password = "bench administrator password";
    identity
        .register(
            scope,
            None,
            Some(User {
                email: Some("admin@bench.example".into()),
                password: Some(Password(password.into())),
                ..User::default()
            }),
            Registration {
                application_id: Some(ids.application),
                roles: vec!["admin".into()],
                ..Registration::default()
            },
        )
        .await
        .map_err(err)?;
    let sessions = Sessions::new(identity.clone());
    let login = LoginRequest {
        login_id: Some("admin@bench.example".into()),
        password: Some(Password(password.into())),
        application_id: Some(ids.application),
        ..LoginRequest::default()
    };
    let token = match sessions.login(scope, login).await.map_err(err)? {
        LoginOutcome::Success(t) => t.token.ok_or("the login issued no token")?,
        other => return Err(format!("the administrator's login answered {other:?}")),
    };
    let state = portcullis_api::AppState::new(
        identity.clone(),
        sessions,
        std::sync::Arc::new(portcullis_api::metrics::Metrics::new()),
        portcullis_api::ApiConfig::default(),
        portcullis_api::Background {
            import_jobs: std::sync::Arc::new(tokio::sync::Notify::new()),
            resets: reset_queue().0,
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let server =
        tokio::spawn(async move { axum::serve(listener, portcullis_api::router(state)).await });
    let http = reqwest::Client::new();
    let cookie = format!("portcullis_admin={token}");

    // The first loaded user, and the start of its email as an administrator types it.
    let probe = email(0);
    let user = identity.user_by_email(scope, &probe).await.map_err(err)?;
    let user_id = user.id.ok_or("a stored user has an id")?;
    let prefix = &probe[..5];

    enum Floor {
        Sql(String),
        Status,
    }
    let pages = [
        ("dashboard", "/admin".to_string(), Floor::Status),
        (
            "users, every user (q=*)",
            "/admin/users?q=*".to_string(),
            Floor::Sql("SELECT count(*) FROM users".into()),
        ),
        (
            "users, an email's start",
            format!("/admin/users?q={prefix}"),
            Floor::Sql(prefix_count(prefix, pg)),
        ),
        (
            "a user",
            format!("/admin/users/{user_id}"),
            Floor::Sql(format!("SELECT body FROM users WHERE id = '{user_id}'")),
        ),
    ];
    println!(
        "{:<11} {:<40} {:>10} {:>10} {:>9} {:>10}",
        "database", "admin page", "page ms", "floor ms", "÷ floor", "target ms"
    );
    for (label, path, floor) in &pages {
        let (mut page_s, mut floor_s) = (Vec::new(), Vec::new());
        for _ in 0..rounds.max(1) {
            let start = Instant::now();
            let res = http
                .get(format!("{base}{path}"))
                .header("cookie", &cookie)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = res.status();
            let body = res.text().await.map_err(|e| e.to_string())?;
            page_s.push(start.elapsed().as_secs_f64());
            if status != 200 {
                return Err(format!("{path} answered {status}: {body}"));
            }
            let start = Instant::now();
            match floor {
                Floor::Sql(sql) => {
                    sqlx::query(sql)
                        .fetch_all(&mut *c)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Floor::Status => {
                    identity
                        .migration_status(Scope::ALL, &Default::default())
                        .await
                        .map_err(err)?;
                }
            }
            floor_s.push(start.elapsed().as_secs_f64());
        }
        let (p, f) = (median(page_s), median(floor_s));
        let verdict = if p * 1000.0 < PAGE_TARGET_MS {
            "met"
        } else {
            "NOT met"
        };
        println!(
            "{name:<11} {label:<40} {:>10} {:>10} {:>9} {:>10}",
            ms(p),
            ms(f),
            format!("{:.1}x", p / f.max(1e-9)),
            format!("< {PAGE_TARGET_MS:.0} {verdict}"),
        );
    }
    server.abort();
    Ok(())
}

pub async fn run(b: SearchBench) -> Result<(), String> {
    println!(
        "bench search: {} users in one tenant; median of {} rounds; floor: a bare SELECT count(*) of \
         the same predicate on the same database",
        b.users, b.rounds
    );
    let mut dbs = vec![("SQLite", Db::sqlite()?)];
    if let Some(base) = &b.postgres {
        dbs.push(("PostgreSQL", Db::postgres(base).await?));
    }
    for (name, db) in &dbs {
        println!(
            "{:<11} {:<72} {:>9} {:>10} {:>9} {:>22} {:>9}",
            "database",
            "queryString",
            "total",
            "total ms",
            "÷ floor",
            "first page ms (email)",
            "floor ms"
        );
        let r = measure(name, db, &b).await;
        db.drop_schema().await;
        r?;
    }
    Ok(())
}
