//! `portcullis map` on legacy data made by the real systems (Django's `make_password`, PHP's
//! `password_hash`, passlib's phpass in MariaDB, pgcrypto's `crypt` in PostgreSQL, Python's
//! hashlib for a Keycloak export, Firebase's published scrypt sample): map, import into a real
//! server, then sign in with the known passwords.

use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn map(args: &[&str]) -> (bool, String) {
    run_with_timeout(
        Command::new(binary()).arg("map").args(args).arg("--quiet"),
        Duration::from_secs(180),
    )
}

/// Maps `source` with `preset` and imports the batches into `s`.
fn map_and_import(s: &Server, preset: &str, source: &str, extra: &[&str]) -> String {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("batches");
    let mut args = vec![
        "--from",
        preset,
        "--source",
        source,
        "--out",
        dir.to_str().unwrap(),
        "--import",
        "--url",
        &s.url,
        "--api-key",
        &s.api_key,
    ];
    args.extend_from_slice(extra);
    let (ok, text) = map(&args);
    assert!(ok, "map --from {preset} failed: {text}");
    text
}

fn login(s: &Server, login_id: &str, password: &str, app: Option<&str>) -> (u16, Value) {
    let mut body = json!({"loginId": login_id, "password": password});
    if let Some(a) = app {
        body["applicationId"] = json!(a);
    }
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/api/login", s.url))
        .header("Authorization", &s.api_key)
        .json(&body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn api(s: &Server, method: &str, path: &str, body: Value) -> Value {
    let c = reqwest::blocking::Client::new();
    let req = match method {
        "POST" => c.post(format!("{}{path}", s.url)).json(&body),
        _ => c.get(format!("{}{path}", s.url)),
    };
    let r = req.header("Authorization", &s.api_key).send().unwrap();
    assert!(r.status().is_success(), "{method} {path}: {}", r.status());
    r.json().unwrap()
}

fn python(script: &str, args: &[&str]) -> String {
    let path = workspace_root().join("tests/map").join(script);
    let out = Command::new("python3")
        .arg(path)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("python3 runs (scripts/test installs tests/map/requirements.txt)");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn sqlite(db: &Path, sql: &str) {
    let c = sqlite_exec(db, sql);
    assert!(c.is_ok(), "{c:?}");
}

/// Runs SQL on a SQLite file with Python's sqlite3 (the test binary links no SQLite of its own).
fn sqlite_exec(db: &Path, sql: &str) -> Result<(), String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()",
            db.to_str().unwrap(),
            sql,
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn django_users_made_by_django_sign_in_after_map_and_import() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("django.sqlite3");
    let users = python("django_users.py", &[db.to_str().unwrap()]);
    let s = Server::start(Backend::Sqlite);
    let out = map_and_import(&s, "django", &format!("sqlite://{}", db.display()), &[]);
    assert!(out.contains("4 rows into 4 users"), "{out}");
    assert!(
        out.contains("1 without a password"),
        "carol has none: {out}"
    );
    for line in users.lines() {
        let (name, pw) = line.split_once('\t').unwrap();
        let (status, body) = login(&s, &format!("{name}@example.com"), pw, None);
        assert_eq!(
            status, 200,
            "{name} signs in with Django's password: {body}"
        );
        let (status, _) = login(&s, &format!("{name}@example.com"), "wrong-password", None);
        assert_eq!(status, 404);
    }
    let alice = api(&s, "GET", "/api/user?email=alice@example.com", json!(null));
    assert_eq!(alice["user"]["firstName"], "Alice");
    assert_eq!(alice["user"]["data"]["original_user_id"], "1");
    assert_eq!(alice["user"]["data"]["django_groups"], json!(["editors"]));
    let carol = api(&s, "GET", "/api/user?email=carol@example.com", json!(null));
    assert_eq!(carol["user"]["active"], true);
}

#[test]
fn laravel_users_with_php_password_hash_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("laravel.sqlite");
    let php = |pw: &str| {
        let out = Command::new("php")
            .args(["-r", "echo password_hash($argv[1], PASSWORD_BCRYPT);", pw])
            .output()
            .expect("php-cli runs (scripts/test installs it)");
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let h1 = php("taylor-secret");
    let h2 = php("jeffrey-secret");
    assert!(h1.starts_with("$2y$"), "{h1}");
    sqlite(
        &db,
        &format!(
            "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR NOT NULL, email VARCHAR NOT NULL UNIQUE, \
             email_verified_at DATETIME, password VARCHAR NOT NULL, remember_token VARCHAR, created_at DATETIME, updated_at DATETIME);
             INSERT INTO users (name, email, email_verified_at, password, created_at, updated_at) VALUES
               ('Taylor Otwell', 'taylor@example.com', '2024-01-02 03:04:05', '{h1}', '2024-01-01 00:00:00', '2024-01-02 03:04:05'),
               ('Jeffrey Way', 'jeffrey@example.com', NULL, '{h2}', '2024-02-01 00:00:00', '2024-02-01 00:00:00');"
        ),
    );
    let s = Server::start(Backend::Sqlite);
    let out = map_and_import(&s, "laravel", &format!("sqlite://{}", db.display()), &[]);
    assert!(
        out.contains("Next run: --since 2024-02-01T00:00:00.000Z"),
        "{out}"
    );
    assert_eq!(
        login(&s, "taylor@example.com", "taylor-secret", None).0,
        200
    );
    assert_eq!(
        login(&s, "jeffrey@example.com", "jeffrey-secret", None).0,
        200
    );
    let t = api(&s, "GET", "/api/user?email=taylor@example.com", json!(null));
    assert_eq!(t["user"]["fullName"], "Taylor Otwell");
    assert_eq!(t["user"]["verified"], true);
    assert_eq!(t["user"]["insertInstant"], 1704067200000i64);
    let j = api(
        &s,
        "GET",
        "/api/user?email=jeffrey@example.com",
        json!(null),
    );
    assert_eq!(j["user"]["verified"], false);
}

/// The MariaDB server of the test set-up (`scripts/test` starts one when none runs).
fn mysql_url() -> String {
    std::env::var("PORTCULLIS_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://portcullis:portcullis@127.0.0.1:3306".into())
}

/// Runs SQL with the `mariadb` client against the server of `mysql_url()`.
fn mariadb(sql: &str) {
    let url = mysql_url();
    let rest = url.strip_prefix("mysql://").unwrap();
    let (auth, host) = rest.split_once('@').unwrap();
    let (user, pw) = auth.split_once(':').unwrap();
    let (host, port) = host.split_once(':').unwrap_or((host, "3306"));
    let port = port.trim_end_matches('/');
    let out = Command::new("mariadb")
        .args([
            "-h",
            host,
            "-P",
            port,
            "-u",
            user,
            &format!("-p{pw}"),
            "-e",
            sql,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("the mariadb client runs (scripts/test installs mariadb-server)");
    assert!(
        out.status.success(),
        "MariaDB at {url} is needed (set PORTCULLIS_TEST_MYSQL_URL): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn wordpress_users_in_mariadb_with_phpass_hashes_sign_in_with_their_roles() {
    let name = unique_name("wp");
    let hashes = python("phpass_hash.py", &["admin-pass-1", "editor-pass-2"]);
    let hashes: Vec<&str> = hashes.lines().collect();
    assert!(hashes[0].starts_with("$P$B"), "{}", hashes[0]);
    mariadb(&format!(
        "CREATE DATABASE `{name}`; USE `{name}`;
         CREATE TABLE wp_users (ID bigint(20) unsigned NOT NULL AUTO_INCREMENT, user_login varchar(60) NOT NULL DEFAULT '',
           user_pass varchar(255) NOT NULL DEFAULT '', user_nicename varchar(50) NOT NULL DEFAULT '',
           user_email varchar(100) NOT NULL DEFAULT '', user_url varchar(100) NOT NULL DEFAULT '',
           user_registered datetime NOT NULL DEFAULT '0000-00-00 00:00:00', user_activation_key varchar(255) NOT NULL DEFAULT '',
           user_status int(11) NOT NULL DEFAULT 0, display_name varchar(250) NOT NULL DEFAULT '', PRIMARY KEY (ID))
           DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;
         CREATE TABLE wp_usermeta (umeta_id bigint(20) unsigned NOT NULL AUTO_INCREMENT, user_id bigint(20) unsigned NOT NULL DEFAULT 0,
           meta_key varchar(255) DEFAULT NULL, meta_value longtext, PRIMARY KEY (umeta_id))
           DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;
         INSERT INTO wp_users (user_login, user_pass, user_nicename, user_email, user_registered, display_name) VALUES
           ('admin', '{}', 'admin', 'admin@blog.example', '2020-05-06 07:08:09', 'The Admin'),
           ('ed', '{}', 'ed', 'ed@blog.example', '2021-01-01 00:00:00', 'Ed Itor');
         INSERT INTO wp_usermeta (user_id, meta_key, meta_value) VALUES
           (1, 'wp_capabilities', 'a:1:{{s:13:\"administrator\";b:1;}}'),
           (2, 'wp_capabilities', 'a:2:{{s:6:\"editor\";b:1;s:6:\"author\";b:0;}}'),
           (2, 'first_name', 'Ed');",
        hashes[0], hashes[1]
    ));
    let s = Server::start(Backend::Sqlite);
    let app = api(
        &s,
        "POST",
        "/api/application",
        json!({"application": {"name": "Blog", "roles": [{"name": "administrator"}, {"name": "editor"}]}}),
    );
    let app_id = app["application"]["id"].as_str().unwrap().to_string();
    let source = format!("{}/{name}", mysql_url());
    let out = map_and_import(&s, "wordpress", &source, &["--application", &app_id]);
    mariadb(&format!("DROP DATABASE `{name}`"));
    assert!(out.contains("2 rows into 2 users"), "{out}");
    let (status, body) = login(&s, "admin@blog.example", "admin-pass-1", Some(&app_id));
    assert_eq!(status, 200, "{body}");
    let (status, body) = login(&s, "ed", "editor-pass-2", Some(&app_id));
    assert_eq!(status, 200, "{body}");
    let ed = api(&s, "GET", "/api/user?email=ed@blog.example", json!(null));
    assert_eq!(ed["user"]["registrations"][0]["roles"], json!(["editor"]));
    assert_eq!(ed["user"]["firstName"], "Ed");
    assert_eq!(ed["user"]["insertInstant"], 1609459200000i64);
}

fn psql_on(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args([url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `postgres://…/test` with another database name.
fn postgres_db_url(db: &str) -> String {
    let base = postgres_url();
    let (head, _) = base.rsplit_once('/').unwrap();
    format!("{head}/{db}")
}

#[test]
fn supabase_users_hashed_by_pgcrypto_sign_in() {
    let db = unique_name("supa");
    psql_on(&postgres_url(), &format!("CREATE DATABASE {db}"));
    let url = postgres_db_url(&db);
    psql_on(
        &url,
        "CREATE EXTENSION pgcrypto; CREATE SCHEMA auth;
         CREATE TABLE auth.users (instance_id uuid, id uuid PRIMARY KEY, aud varchar(255), role varchar(255),
           email varchar(255), encrypted_password varchar(255), email_confirmed_at timestamptz, phone text,
           raw_app_meta_data jsonb, raw_user_meta_data jsonb, created_at timestamptz, updated_at timestamptz,
           last_sign_in_at timestamptz, deleted_at timestamptz);
         INSERT INTO auth.users (id, email, encrypted_password, email_confirmed_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at) VALUES
           ('3f0c6a2e-1b7d-4c5e-9a8f-0d1e2f3a4b5c', 'sam@supa.example', crypt('sam-pass-1', gen_salt('bf')), now(),
            '{\"provider\":\"email\"}', '{\"full_name\":\"Sam Supa\"}', '2023-03-04 05:06:07+00', '2023-03-04 05:06:07+00'),
           ('4a1d7b3f-2c8e-4d6f-8b9a-1e2f3a4b5c6d', 'gone@supa.example', crypt('x', gen_salt('bf')), NULL, '{}', '{}', now(), now());
         UPDATE auth.users SET deleted_at = now() WHERE email = 'gone@supa.example';",
    );
    let s = Server::start(Backend::Postgres);
    let out = map_and_import(&s, "supabase", &url, &[]);
    psql_on(&postgres_url(), &format!("DROP DATABASE {db}"));
    assert!(
        out.contains("1 rows into 1 users"),
        "the deleted user is left out: {out}"
    );
    let (status, body) = login(&s, "sam@supa.example", "sam-pass-1", None);
    assert_eq!(status, 200, "{body}");
    let sam = api(&s, "GET", "/api/user?email=sam@supa.example", json!(null));
    assert_eq!(sam["user"]["id"], "3f0c6a2e-1b7d-4c5e-9a8f-0d1e2f3a4b5c");
    assert_eq!(sam["user"]["fullName"], "Sam Supa");
    assert_eq!(sam["user"]["verified"], true);
}

#[test]
fn keycloak_realm_export_with_pbkdf2_hashes_from_hashlib_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("realm-export.json");
    // Keycloak's pbkdf2-sha256 (64-byte key, 27500 iterations) and pbkdf2-sha512, computed by
    // Python's hashlib and written in the realm export's credential format.
    let script = r#"
import base64, hashlib, json, os, sys
def cred(pw, alg, iters, dk):
    salt = os.urandom(16)
    h = hashlib.pbkdf2_hmac(alg, pw.encode(), salt, iters, dk)
    return {"type": "password", "createdDate": 1700000000000,
            "secretData": json.dumps({"value": base64.b64encode(h).decode(), "salt": base64.b64encode(salt).decode(), "additionalParameters": {}}),
            "credentialData": json.dumps({"hashIterations": iters, "algorithm": "pbkdf2-" + alg, "additionalParameters": {}})}
def otp(secret):
    return {"type": "otp", "userLabel": "phone", "createdDate": 1700000000000,
            "secretData": json.dumps({"value": secret}),
            "credentialData": json.dumps({"subType": "totp", "digits": 6, "counter": 0, "period": 30, "algorithm": "HmacSHA1"})}
realm = {"realm": "acme", "users": [
  {"id": "0b9f5c1e-2d3a-4b6c-8e7f-9a0b1c2d3e4f", "createdTimestamp": 1700000000000, "username": "kc-user", "enabled": True,
   "emailVerified": True, "firstName": "Kay", "lastName": "See", "email": "kay@acme.example",
   "credentials": [cred("kay-pass-1", "sha256", 27500, 64), otp("Kx2mP9qRt7vW3yZa5bC8")], "realmRoles": ["default-roles-acme", "manager"],
   "clientRoles": {"portal": ["viewer"]}, "groups": ["/staff"]},
  {"id": "1c0a6d2f-3e4b-4c7d-9f8a-0b1c2d3e4f5a", "createdTimestamp": 1700000001000, "username": "kc-two", "enabled": True,
   "email": "two@acme.example", "credentials": [cred("two-pass-2", "sha512", 210000, 64)], "realmRoles": [],
   "requiredActions": ["CONFIGURE_TOTP"]}]}
json.dump(realm, open(sys.argv[1], "w"))
"#;
    let st = Command::new("python3")
        .args(["-c", script, file.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    let s = Server::start(Backend::Sqlite);
    let out = map_and_import(&s, "keycloak", file.to_str().unwrap(), &[]);
    assert!(out.contains("2 rows into 2 users"), "{out}");
    // Kay's authenticator moved over: the password is the first step, pyotp's code (from the
    // base32 of Keycloak's stored secret, as its QR code carried it) the second.
    let (status, step) = login(&s, "kay@acme.example", "kay-pass-1", None);
    assert_eq!(status, 242, "{step}");
    let code = Command::new("python3")
        .args([
            "-c",
            "import base64, pyotp; print(pyotp.TOTP(base64.b32encode(b'Kx2mP9qRt7vW3yZa5bC8').decode()).now())",
        ])
        .output()
        .unwrap();
    let code = String::from_utf8(code.stdout).unwrap().trim().to_string();
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/api/two-factor/login", s.url))
        .header("Authorization", &s.api_key)
        .json(&json!({"twoFactorId": step["twoFactorId"], "code": code}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // CONFIGURE_TOTP: the right password gives no tokens before enrolment.
    let (status, two) = login(&s, "kc-two", "two-pass-2", None);
    assert_eq!(status, 242, "{two}");
    assert_eq!(two["twoFactorEnrolmentRequired"], true);
    let kay = api(&s, "GET", "/api/user?email=kay@acme.example", json!(null));
    assert_eq!(kay["user"]["id"], "0b9f5c1e-2d3a-4b6c-8e7f-9a0b1c2d3e4f");
    assert_eq!(kay["user"]["data"]["keycloak_groups"], json!(["/staff"]));
    // The TOTP credential moves over as an authenticator method; its secret never comes back.
    let methods = &kay["user"]["twoFactor"]["methods"];
    assert_eq!(methods[0]["method"], "authenticator", "{kay}");
    assert_eq!(methods[0]["authenticator"]["timeStep"], 30);
    assert!(!kay.to_string().contains("secret"), "{kay}");
    assert!(!kay.to_string().contains("Kx2mP9qRt7vW3yZa5bC8"), "{kay}");
    let two = api(&s, "GET", "/api/user?email=two@acme.example", json!(null));
    assert_eq!(
        two["user"]["data"]["twoFactorEnrolmentRequired"], true,
        "{two}"
    );
}

#[test]
fn firebase_export_with_the_published_scrypt_parameters_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.json");
    // The sample of firebase/scrypt's README: password "user1password" with these parameters.
    std::fs::write(
        &file,
        json!({"users": [
            {"localId": "Ek7hRj8fLwX2", "email": "user1@fire.example", "emailVerified": true,
             "passwordHash": "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==",
             "salt": "42xEC+ixf3L2lw==", "displayName": "User One", "createdAt": "1600000000000",
             "lastSignedInAt": "1600000500000", "providerUserInfo": []},
            {"localId": "Gx9aQ2", "email": "social@fire.example", "emailVerified": true,
             "providerUserInfo": [{"providerId": "google.com", "rawId": "123"}], "createdAt": "1600000000000"}
        ]})
        .to_string(),
    )
    .unwrap();
    let s = Server::start(Backend::Sqlite);
    let out = map_and_import(
        &s,
        "firebase",
        file.to_str().unwrap(),
        &[
            "--firebase-signer-key",
            "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==",
            "--firebase-salt-separator",
            "Bw==",
            "--firebase-rounds",
            "8",
            "--firebase-mem-cost",
            "14",
        ],
    );
    assert!(
        out.contains("1 without a password"),
        "the social user: {out}"
    );
    let (status, body) = login(&s, "user1@fire.example", "user1password", None);
    assert_eq!(status, 200, "{body}");
    let u = api(&s, "GET", "/api/user?email=user1@fire.example", json!(null));
    assert_eq!(u["user"]["insertInstant"], 1600000000000i64);
    assert_eq!(u["user"]["data"]["original_user_id"], "Ek7hRj8fLwX2");
}

#[test]
fn since_maps_only_the_changed_rows_and_upserts_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("laravel.sqlite");
    sqlite(
        &db,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT, email_verified_at TEXT, password TEXT,
           created_at TEXT, updated_at TEXT);
         INSERT INTO users VALUES
           (1, 'Old One', 'old@example.com', NULL, '', '2024-01-01 00:00:00', '2024-01-01 00:00:00'),
           (2, 'Changed', 'changed@example.com', NULL, '', '2024-01-01 00:00:00', '2024-06-01 12:00:00'),
           (3, 'New', 'new@example.com', NULL, '', '2024-06-02 00:00:00', '2024-06-02 00:00:00');",
    );
    let s = Server::start(Backend::Sqlite);
    let source = format!("sqlite://{}", db.display());
    map_and_import(&s, "laravel", &source, &[]);
    sqlite(
        &db,
        "UPDATE users SET name = 'Changed Again', updated_at = '2024-07-01 00:00:00' WHERE id = 2;
         INSERT INTO users VALUES (4, 'Newest', 'newest@example.com', NULL, '', '2024-07-02 00:00:00', '2024-07-02 00:00:00');",
    );
    let out = map_and_import(&s, "laravel", &source, &["--since", "2024-06-02T00:00:00Z"]);
    assert!(out.contains("4 rows into 2 users"), "{out}");
    assert!(out.contains("2 unchanged since"), "{out}");
    assert!(
        out.contains("Next run: --since 2024-07-02T00:00:00.000Z"),
        "{out}"
    );
    let c = api(
        &s,
        "GET",
        "/api/user?email=changed@example.com",
        json!(null),
    );
    assert_eq!(
        c["user"]["fullName"], "Changed Again",
        "the changed user was updated"
    );
    api(&s, "GET", "/api/user?email=newest@example.com", json!(null));
}

#[test]
fn drupal7_users_with_sha512_phpass_hashes_sign_in() {
    let out = Command::new("php")
        .arg(workspace_root().join("tests/map/drupal7_hash.php"))
        .arg("drupal-pass-1")
        .output()
        .expect("php-cli runs");
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$S$D"), "{hash}");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("drupal.sqlite");
    sqlite(
        &db,
        &format!(
            "CREATE TABLE users (uid INTEGER PRIMARY KEY, name VARCHAR(60) NOT NULL DEFAULT '', pass VARCHAR(128) NOT NULL DEFAULT '',
               mail VARCHAR(254) DEFAULT '', created INTEGER NOT NULL DEFAULT 0, access INTEGER NOT NULL DEFAULT 0,
               login INTEGER NOT NULL DEFAULT 0, status INTEGER NOT NULL DEFAULT 0, timezone VARCHAR(32), language VARCHAR(12) NOT NULL DEFAULT '');
             CREATE TABLE role (rid INTEGER PRIMARY KEY, name VARCHAR(64) NOT NULL DEFAULT '');
             CREATE TABLE users_roles (uid INTEGER NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY (uid, rid));
             INSERT INTO users VALUES (0, '', '', '', 0, 0, 0, 0, NULL, '');
             INSERT INTO users VALUES (1, 'drupaladmin', '{hash}', 'admin@drupal.example', 1300000000, 1300000100, 0, 1, 'Europe/Paris', 'fr');
             INSERT INTO role VALUES (3, 'administrator');
             INSERT INTO users_roles VALUES (1, 3);"
        ),
    );
    let s = Server::start(Backend::Sqlite);
    let out = map_and_import(&s, "drupal7", &format!("sqlite://{}", db.display()), &[]);
    assert!(
        out.contains("1 rows into 1 users"),
        "the anonymous uid 0 is left out: {out}"
    );
    assert_eq!(login(&s, "drupaladmin", "drupal-pass-1", None).0, 200);
    let u = api(
        &s,
        "GET",
        "/api/user?email=admin@drupal.example",
        json!(null),
    );
    assert_eq!(u["user"]["data"]["drupal_roles"], json!(["administrator"]));
    assert_eq!(u["user"]["insertInstant"], 1300000000000i64);
}

#[test]
fn auth0_export_joined_with_its_hash_export_signs_in_and_cognito_users_get_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import bcrypt; print(bcrypt.hashpw(b'auth0-pass-1', bcrypt.gensalt(10)).decode())",
        ])
        .output()
        .unwrap();
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let users = dir.path().join("users.ndjson");
    std::fs::write(
        &users,
        format!(
            "{}\n{}\n",
            json!({"user_id": "auth0|60425dc43519d90068f82973", "email": "zero@auth0.example", "email_verified": true,
                   "name": "Zero", "created_at": "2021-03-05T15:30:00.000Z", "updated_at": "2021-03-06T00:00:00.000Z",
                   "user_metadata": {"plan": "pro"}}),
            json!({"user_id": "google-oauth2|1234", "email": "social@auth0.example", "email_verified": true,
                   "created_at": "2021-03-05T15:30:00.000Z"})
        ),
    )
    .unwrap();
    let hashes = dir.path().join("hashes.ndjson");
    std::fs::write(
        &hashes,
        format!(
            "{}\n",
            json!({"_id": {"$oid": "60425dc43519d90068f82973"}, "email": "zero@auth0.example", "email_verified": true,
                   "passwordHash": hash, "connection": "Username-Password-Authentication"})
        ),
    )
    .unwrap();
    let s = Server::start(Backend::Sqlite);
    let out = map_and_import(
        &s,
        "auth0",
        users.to_str().unwrap(),
        &["--auth0-hashes", hashes.to_str().unwrap()],
    );
    assert!(
        out.contains("2 rows into 2 users") && out.contains("1 without a password"),
        "{out}"
    );
    assert_eq!(login(&s, "zero@auth0.example", "auth0-pass-1", None).0, 200);
    let z = api(&s, "GET", "/api/user?email=zero@auth0.example", json!(null));
    assert_eq!(z["user"]["data"]["user_metadata"]["plan"], "pro");

    let csv = dir.path().join("cognito.csv");
    std::fs::write(
        &csv,
        "name,given_name,family_name,middle_name,nickname,preferred_username,profile,picture,website,email,email_verified,gender,birthdate,zoneinfo,locale,phone_number,phone_number_verified,address,updated_at,cognito:mfa_enabled,cognito:username\n\
         Cog User,Cog,User,,cogs,,,,,cog@cognito.example,true,,1990-04-05,,en,+15551234567,false,,1700000000,false,cog-user-1\n",
    )
    .unwrap();
    let out = map_and_import(&s, "cognito", csv.to_str().unwrap(), &[]);
    assert!(
        out.contains("1 without a password") && out.contains("Generic connector"),
        "{out}"
    );
    let c = api(
        &s,
        "GET",
        "/api/user?email=cog@cognito.example",
        json!(null),
    );
    assert_eq!(c["user"]["username"], "cog-user-1");
    assert_eq!(c["user"]["birthDate"], "1990-04-05");
    assert_eq!(c["user"]["verified"], true);
}

/// `--send-set-password-email`: each user mapped without a password gets the set-password email
/// through the tenant's SMTP once the import is in; its link's id sets a password that signs in,
/// and a user mapped with a password gets no email.
#[test]
fn users_without_passwords_get_a_set_password_email_that_sets_one() {
    use portcullis_mail::testing::SmtpSink;
    let smtp = SmtpSink::start();
    let s = Server::start(Backend::Sqlite);
    let tenants = api(&s, "GET", "/api/tenant", json!(null));
    let tenant = tenants["tenants"][0]["id"].as_str().unwrap().to_string();
    let r = reqwest::blocking::Client::new()
        .patch(format!("{}/api/tenant/{tenant}", s.url))
        .header("Authorization", &s.api_key)
        .json(
            &json!({"tenant": {"emailConfiguration": {"host": "127.0.0.1", "port": smtp.port,
            "security": "NONE", "defaultFromEmail": "accounts@shop.example"}}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import bcrypt; print(bcrypt.hashpw(b'kept-pass-1', bcrypt.gensalt(10)).decode())",
        ])
        .output()
        .unwrap();
    let hash = String::from_utf8(out.stdout).unwrap();
    let users = dir.path().join("users.ndjson");
    std::fs::write(
        &users,
        format!(
            "{}\n{}\n",
            json!({"user_id": "auth0|aaaa00000000000000000001", "email": "kept@auth0.example", "email_verified": true,
                   "created_at": "2021-03-05T15:30:00.000Z"}),
            json!({"user_id": "google-oauth2|77", "email": "social@auth0.example", "email_verified": true,
                   "created_at": "2021-03-05T15:30:00.000Z"})
        ),
    )
    .unwrap();
    let hashes = dir.path().join("hashes.ndjson");
    std::fs::write(
        &hashes,
        format!(
            "{}\n",
            json!({"_id": {"$oid": "aaaa00000000000000000001"}, "email": "kept@auth0.example",
                   "passwordHash": hash.trim(), "connection": "Username-Password-Authentication"})
        ),
    )
    .unwrap();
    let out = map_and_import(
        &s,
        "auth0",
        users.to_str().unwrap(),
        &[
            "--auth0-hashes",
            hashes.to_str().unwrap(),
            "--send-set-password-email",
        ],
    );
    assert!(out.contains("Sent 1 set-password emails."), "{out}");

    // The mail worker sends after the request that queued the email has answered.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mail = loop {
        let found = smtp
            .messages()
            .into_iter()
            .find(|m| m.contains("social@auth0.example"));
        if let Some(m) = found {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no set-password email arrived:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        !smtp
            .messages()
            .iter()
            .any(|m| m.contains("kept@auth0.example")),
        "a user with a password got a set-password email"
    );
    // The link's id, undoing quoted-printable soft breaks.
    let body = mail.replace("=\r\n", "").replace("=\n", "");
    let at = body
        .find("/password/change/")
        .unwrap_or_else(|| panic!("no set-password link in:\n{body}"))
        + "/password/change/".len();
    let id: String = body[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert!(id.len() >= 16, "{id:?} in:\n{body}");

    assert_eq!(
        login(&s, "social@auth0.example", "chosen-pass-1", None).0,
        404
    );
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/api/user/change-password/{id}", s.url))
        .json(&json!({"password": "chosen-pass-1"}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        login(&s, "social@auth0.example", "chosen-pass-1", None).0,
        200
    );
    assert_eq!(login(&s, "kept@auth0.example", "kept-pass-1", None).0, 200);
}
