//! Presets (`--from NAME`): the real schema, query and hash format of the systems teams leave,
//! as a mapping file (TOML, the same language a user writes) plus, where a row needs more than a
//! mapping can say, a Rust step that derives columns (WordPress' PHP-serialized roles,
//! Keycloak's credential JSON, Firebase's scrypt parameters, Auth0's separate hash export).
//! A user's `--config` is laid over the preset key by key.

use crate::source::{Row, SourceSpec};
use crate::{Error, Prepare};
use base64::Engine;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// What the command line gives a preset beyond the source.
#[derive(Debug, Default, Clone)]
pub struct Params {
    /// Firebase: the project's hash parameters (`firebase auth:export` prints none; the console's
    /// "password hash parameters" dialog does).
    pub firebase_signer_key: Option<String>,
    pub firebase_salt_separator: Option<String>,
    pub firebase_rounds: Option<u32>,
    pub firebase_mem_cost: Option<u32>,
    /// Auth0: the password-hash export (NDJSON), joined to the user export by user id or email.
    pub auth0_hashes: Option<std::path::PathBuf>,
    /// WordPress: the table prefix (default `wp_`).
    pub wordpress_prefix: Option<String>,
}

pub struct Preset {
    pub name: &'static str,
    pub mapping: String,
    pub prepare: Option<Prepare>,
    /// Printed after the summary: what to do next for this source.
    pub advice: Option<&'static str>,
}

pub const NAMES: [&str; 9] = [
    "django",
    "laravel",
    "wordpress",
    "supabase",
    "keycloak",
    "firebase",
    "auth0",
    "drupal7",
    "cognito",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
    MySql,
}

fn dialect(spec: &SourceSpec, preset: &str) -> Result<Dialect, Error> {
    match spec {
        SourceSpec::Sqlite(_) => Ok(Dialect::Sqlite),
        SourceSpec::Postgres(_) => Ok(Dialect::Postgres),
        SourceSpec::MySql(_) => Ok(Dialect::MySql),
        _ => Err(Error::Config(format!(
            "--from {preset} reads a database: give --source sqlite://, postgres:// or mysql://"
        ))),
    }
}

/// `name` aggregated into one comma-separated string, in the dialect's words.
fn agg(d: Dialect, expr: &str) -> String {
    match d {
        Dialect::Sqlite => format!("group_concat({expr}, ',')"),
        Dialect::Postgres => format!("string_agg({expr}, ',')"),
        Dialect::MySql => format!("GROUP_CONCAT({expr} SEPARATOR ',')"),
    }
}

fn with_query(toml_body: &str, query: &str) -> String {
    format!(
        "[source]\nquery = '''\n{query}\n'''\n{}",
        toml_body.trim_start()
    )
}

pub fn load(name: &str, spec: &SourceSpec, params: &Params) -> Result<Preset, Error> {
    Ok(match name {
        "django" => {
            let d = dialect(spec, name)?;
            let q = format!(
                "SELECT u.id, u.username, u.email, u.password, u.first_name, u.last_name, u.is_active, \
                 u.is_staff, u.is_superuser, u.date_joined, u.last_login, \
                 (SELECT {} FROM auth_user_groups ug JOIN auth_group g ON g.id = ug.group_id WHERE ug.user_id = u.id) AS groups \
                 FROM auth_user u ORDER BY u.id",
                agg(d, "g.name")
            );
            Preset {
                name: "django",
                mapping: with_query(DJANGO, &q),
                prepare: None,
                advice: None,
            }
        }
        "laravel" => {
            dialect(spec, name)?;
            Preset {
                name: "laravel",
                mapping: with_query(
                    LARAVEL,
                    "SELECT id, name, email, password, email_verified_at, created_at, updated_at FROM users ORDER BY id",
                ),
                prepare: None,
                advice: None,
            }
        }
        "wordpress" => {
            dialect(spec, name)?;
            let p = params.wordpress_prefix.as_deref().unwrap_or("wp_");
            if !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(Error::Config(format!(
                    "--wordpress-prefix {p:?}: letters, digits and _ only"
                )));
            }
            let meta = |key: &str| {
                format!(
                    "(SELECT m.meta_value FROM {p}usermeta m WHERE m.user_id = u.ID AND m.meta_key = '{key}' LIMIT 1)"
                )
            };
            let q = format!(
                "SELECT u.ID, u.user_login, u.user_pass, u.user_nicename, u.user_email, u.user_url, \
                 u.user_registered, u.display_name, {} AS capabilities, {} AS first_name, {} AS last_name \
                 FROM {p}users u ORDER BY u.ID",
                meta(&format!("{p}capabilities")),
                meta("first_name"),
                meta("last_name")
            );
            Preset {
                name: "wordpress",
                mapping: with_query(WORDPRESS, &q),
                prepare: Some(Arc::new(wordpress_roles)),
                advice: None,
            }
        }
        "supabase" => {
            if dialect(spec, name)? != Dialect::Postgres {
                return Err(Error::Config(
                    "--from supabase reads auth.users: give --source postgres://".into(),
                ));
            }
            Preset {
                name: "supabase",
                mapping: with_query(
                    SUPABASE,
                    "SELECT id, email, encrypted_password, email_confirmed_at, phone, created_at, updated_at, \
                     last_sign_in_at, raw_user_meta_data, raw_app_meta_data FROM auth.users \
                     WHERE deleted_at IS NULL ORDER BY created_at, id",
                ),
                prepare: None,
                advice: None,
            }
        }
        "drupal7" => {
            let d = dialect(spec, name)?;
            let q = format!(
                "SELECT u.uid, u.name, u.pass, u.mail, u.created, u.access, u.login, u.status, u.timezone, \
                 u.language, (SELECT {} FROM users_roles ur JOIN role r ON r.rid = ur.rid WHERE ur.uid = u.uid) AS roles \
                 FROM users u WHERE u.uid > 0 ORDER BY u.uid",
                agg(d, "r.name")
            );
            Preset {
                name: "drupal7",
                mapping: with_query(DRUPAL7, &q),
                prepare: None,
                advice: None,
            }
        }
        "keycloak" => {
            json_only(spec, name)?;
            Preset {
                name: "keycloak",
                mapping: KEYCLOAK.into(),
                prepare: Some(Arc::new(keycloak_row)),
                advice: None,
            }
        }
        "firebase" => {
            json_only(spec, name)?;
            let need = |v: &Option<String>, flag: &str| {
                v.clone().ok_or_else(|| {
                    Error::Config(format!(
                        "--from firebase needs {flag} (the project's password hash parameters)"
                    ))
                })
            };
            let sk = need(&params.firebase_signer_key, "--firebase-signer-key")?;
            let ss = need(&params.firebase_salt_separator, "--firebase-salt-separator")?;
            let rounds = params.firebase_rounds.ok_or_else(|| {
                Error::Config("--from firebase needs --firebase-rounds".into())
            })?;
            let mem = params.firebase_mem_cost.ok_or_else(|| {
                Error::Config("--from firebase needs --firebase-mem-cost".into())
            })?;
            for (flag, v) in [("--firebase-signer-key", &sk), ("--firebase-salt-separator", &ss)] {
                base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map_err(|_| Error::Config(format!("{flag}: not base64")))?;
            }
            let params = format!("m={mem},r={rounds},ss={ss},sk={sk}");
            Preset {
                name: "firebase",
                mapping: FIREBASE.into(),
                prepare: Some(Arc::new(move |row: &mut Row| firebase_row(row, &params))),
                advice: None,
            }
        }
        "auth0" => {
            let hashes = match &params.auth0_hashes {
                Some(p) => Arc::new(load_auth0_hashes(p)?),
                None => Arc::new(HashMap::new()),
            };
            Preset {
                name: "auth0",
                mapping: AUTH0.into(),
                prepare: Some(Arc::new(move |row: &mut Row| auth0_row(row, &hashes))),
                advice: if params.auth0_hashes.is_none() {
                    Some("No --auth0-hashes file: every user was mapped without a password. Ask Auth0 support for the password-hash export, or let users set a password (--send-set-password-email).")
                } else {
                    None
                },
            }
        }
        "cognito" => Preset {
            name: "cognito",
            mapping: COGNITO.into(),
            prepare: None,
            advice: Some(
                "Cognito exports no password hashes: these users have no password. Keep Cognito running and migrate them \
                 at their first login through a Generic connector (docs/migration/slow.md), or send set-password emails \
                 (--send-set-password-email).",
            ),
        },
        other => {
            return Err(Error::Config(format!(
                "unknown preset {other:?}: {}",
                NAMES.join(", ")
            )))
        }
    })
}

fn json_only(spec: &SourceSpec, name: &str) -> Result<(), Error> {
    match spec {
        SourceSpec::Json { .. } => Ok(()),
        _ => Err(Error::Config(format!(
            "--from {name} reads its JSON export: give --source FILE.json"
        ))),
    }
}

/// Lays `over` onto `base` key by key (tables merge, everything else replaces).
pub fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

const DJANGO: &str = r#"
updated_at = ["date_joined", "last_login"]

[id]
original = "id"
uuid = "v5"

[user]
username = "username"
email = "email"
firstName = "first_name"
lastName = "last_name"
active = "is_active"
insertInstant = "date_joined"
lastLoginInstant = "last_login"
"data.is_staff" = "is_staff"
"data.is_superuser" = "is_superuser"
"data.django_groups" = { column = "groups", split = "," }

[password]
hash = "password"
scheme = "auto"
# make_password(None) stores "!" and 40 random characters: no usable password.
unusable_prefixes = ["!"]

[memberships]
groups = { column = "groups", split = "," }
"#;

const LARAVEL: &str = r#"
updated_at = "updated_at"

[id]
original = "id"
uuid = "v5"

[user]
email = "email"
fullName = "name"
verified = { column = "email_verified_at", present = true }
insertInstant = "created_at"
lastUpdateInstant = "updated_at"

[password]
hash = "password"
scheme = "auto"
"#;

const WORDPRESS: &str = r#"
updated_at = "user_registered"

[id]
original = "ID"
uuid = "v5"

[user]
username = "user_login"
email = "user_email"
fullName = "display_name"
firstName = "first_name"
lastName = "last_name"
insertInstant = "user_registered"
"data.user_url" = "user_url"
"data.user_nicename" = "user_nicename"
"data.wordpress_roles" = { column = "roles", split = "," }

[password]
hash = "user_pass"
scheme = "auto"

[registrations]
roles = { column = "roles", split = "," }
"#;

const SUPABASE: &str = r#"
updated_at = "updated_at"

[id]
original = "id"
uuid = "keep"

[user]
email = "email"
verified = { column = "email_confirmed_at", present = true }
mobilePhone = "phone"
fullName = { columns = ["raw_user_meta_data.full_name", "raw_user_meta_data.name"] }
imageUrl = { columns = ["raw_user_meta_data.avatar_url", "raw_user_meta_data.picture"] }
insertInstant = "created_at"
lastUpdateInstant = "updated_at"
lastLoginInstant = "last_sign_in_at"
"data.user_metadata" = "raw_user_meta_data"
"data.app_metadata" = "raw_app_meta_data"

[password]
hash = "encrypted_password"
scheme = "auto"
"#;

const DRUPAL7: &str = r#"
updated_at = ["created", "access", "login"]

[id]
original = "uid"
uuid = "v5"

[user]
username = "name"
email = "mail"
active = "status"
timezone = "timezone"
preferredLanguages = "language"
insertInstant = { column = "created", date = "unix" }
lastLoginInstant = { column = "login", date = "unix", map = { "0" = "" } }
"data.drupal_roles" = { column = "roles", split = "," }

[password]
hash = "pass"
scheme = "auto"

[registrations]
roles = { column = "roles", split = "," }
"#;

const KEYCLOAK: &str = r#"
[source]
records = "users"
updated_at = "createdTimestamp"

[id]
original = "id"
uuid = "keep"

[user]
username = "username"
email = "email"
firstName = "firstName"
lastName = "lastName"
verified = { column = "emailVerified", default = false }
active = { column = "enabled", default = true }
insertInstant = { column = "createdTimestamp", date = "unix_ms" }
"data.attributes" = "attributes"
"data.keycloak_groups" = "groups"
"data.twoFactorEnrolmentRequired" = "configure_totp"
twoFactor = "two_factor"

[password]
hash = "hash_value"
scheme_column = "hash_scheme"
factor_column = "hash_factor"
salt_column = "hash_salt"

[registrations]
roles = "roles"

[memberships]
groups = "groups"
"#;

const FIREBASE: &str = r#"
[source]
records = "users"

[id]
original = "localId"
uuid = "v5"

[user]
email = "email"
verified = { column = "emailVerified", default = false }
active = { column = "disabled", map = { "true" = false, "false" = true }, default = true }
fullName = "displayName"
imageUrl = "photoUrl"
mobilePhone = "phoneNumber"
insertInstant = { column = "createdAt", date = "unix_ms" }
lastLoginInstant = { column = "lastSignedInAt", date = "unix_ms" }
"data.firebase_providers" = "providerUserInfo"
"data.custom_claims" = "customAttributes"

[password]
hash = "hash_value"
scheme = "firebase-scrypt"
"#;

const AUTH0: &str = r#"
[source]
updated_at = "updated_at"

[id]
original = "user_id"
uuid = "v5"

[user]
email = "email"
username = "username"
verified = { column = "email_verified", default = false }
active = { column = "blocked", map = { "true" = false, "false" = true }, default = true }
fullName = "name"
firstName = "given_name"
lastName = "family_name"
imageUrl = "picture"
mobilePhone = "phone_number"
insertInstant = "created_at"
lastUpdateInstant = "updated_at"
lastLoginInstant = "last_login"
"data.user_metadata" = "user_metadata"
"data.app_metadata" = "app_metadata"

[password]
hash = "hash_value"
scheme = "auto"
"#;

const COGNITO: &str = r#"
[source]
updated_at = "updated_at"

[id]
original = "cognito:username"
uuid = "v5"

[user]
username = "cognito:username"
email = "email"
verified = { column = "email_verified", default = false }
fullName = "name"
firstName = "given_name"
middleName = "middle_name"
lastName = "family_name"
mobilePhone = "phone_number"
imageUrl = "picture"
birthDate = "birthdate"
timezone = "zoneinfo"
preferredLanguages = "locale"
lastUpdateInstant = "updated_at"
"data.nickname" = "nickname"
"data.preferred_username" = "preferred_username"
"data.mfa_enabled" = "cognito:mfa_enabled"
"#;

/// The role names of a PHP-serialized capabilities array (`a:1:{s:13:"administrator";b:1;}`),
/// granted ones only, as the column `roles`.
fn wordpress_roles(row: &mut Row) -> Result<(), Error> {
    let caps = match row.get("capabilities") {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let roles = php_granted_keys(&caps).map_err(|message| Error::Row {
        row: row.number,
        column: "capabilities".into(),
        message,
    })?;
    row.set("roles", Value::String(roles.join(",")));
    Ok(())
}

/// Reads `a:N:{s:L:"key";b:1;...}`: the keys whose value is `b:1` (or `i:1`).
pub fn php_granted_keys(s: &str) -> Result<Vec<String>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let bad = || format!("not a PHP-serialized array of roles: {s:?}");
    let body = s
        .strip_prefix("a:")
        .and_then(|r| r.split_once(":{"))
        .map(|(_, b)| b)
        .and_then(|b| b.strip_suffix('}'))
        .ok_or_else(bad)?;
    let b = body.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        // key: s:LEN:"...";
        if !body[i..].starts_with("s:") {
            return Err(bad());
        }
        let colon = body[i + 2..].find(':').ok_or_else(bad)? + i + 2;
        let len: usize = body[i + 2..colon].parse().map_err(|_| bad())?;
        let start = colon + 2;
        let end = start + len;
        if end + 2 > b.len() || b[colon + 1] != b'"' || &body[end..end + 2] != "\";" {
            return Err(bad());
        }
        let key = &body[start..end];
        i = end + 2;
        let semi = body[i..].find(';').ok_or_else(bad)? + i;
        let value = &body[i..semi];
        i = semi + 1;
        if value == "b:1" || value == "i:1" {
            out.push(key.to_string());
        }
    }
    Ok(out)
}

/// A Keycloak user's OTP credentials (`type: "otp"`, `credentialData.subType: "totp"`) as
/// FusionAuth's `twoFactor` with one `authenticator` method each, or null when there are none.
/// Keycloak keys its HMAC with the stored secret's UTF-8 bytes (its QR code carries their
/// base32), so the method's base64 `secret` is of those bytes. Counter-based HOTP credentials
/// have no FusionAuth form and are refused by name.
fn keycloak_totps(creds: Option<&Value>, number: u64) -> Result<Value, Error> {
    let err = |message: String| Error::Row {
        row: number,
        column: "credentials".into(),
        message,
    };
    let as_json = |c: &Value, key: &str| -> Result<Value, Error> {
        match &c[key] {
            Value::String(s) => serde_json::from_str(s)
                .map_err(|e| err(format!("the OTP credential's {key} is not JSON: {e}"))),
            Value::Object(_) => Ok(c[key].clone()),
            _ => Err(err(format!("the OTP credential has no {key}"))),
        }
    };
    let mut methods = Vec::new();
    for c in creds.and_then(Value::as_array).into_iter().flatten() {
        if c["type"] != "otp" {
            continue;
        }
        let secret = as_json(c, "secretData")?;
        let data = as_json(c, "credentialData")?;
        if data["subType"].as_str().unwrap_or("totp") != "totp" {
            return Err(err(format!(
                "an OTP credential of subType {} (only totp moves over)",
                data["subType"]
            )));
        }
        let Some(value) = secret["value"].as_str().filter(|v| !v.is_empty()) else {
            return Err(err("the OTP credential has no secret value".into()));
        };
        let algorithm = data["algorithm"].as_str().unwrap_or("HmacSHA1");
        if !matches!(algorithm, "HmacSHA1" | "HmacSHA256" | "HmacSHA512") {
            return Err(err(format!(
                "the OTP algorithm {algorithm} is not HmacSHA1, HmacSHA256 or HmacSHA512"
            )));
        }
        methods.push(serde_json::json!({
            "method": "authenticator",
            "authenticator": {
                "algorithm": algorithm,
                "codeLength": data["digits"].as_u64().unwrap_or(6),
                "timeStep": data["period"].as_u64().unwrap_or(30),
            },
            "secret": base64::engine::general_purpose::STANDARD.encode(value.as_bytes()),
        }));
    }
    Ok(if methods.is_empty() {
        Value::Null
    } else {
        serde_json::json!({ "methods": methods })
    })
}

/// The password credential of a Keycloak user (`credentials[type=password]`: `secretData` and
/// `credentialData`, each a JSON string) → `hash_*` columns; realm and client roles → `roles`;
/// group paths → `groups`.
fn keycloak_row(row: &mut Row) -> Result<(), Error> {
    let number = row.number;
    let err = |column: &str, message: String| Error::Row {
        row: number,
        column: column.into(),
        message,
    };
    let mut roles: Vec<Value> = Vec::new();
    if let Some(Value::Array(r)) = row.get("realmRoles") {
        roles.extend(r.iter().cloned());
    }
    if let Some(Value::Object(clients)) = row.get("clientRoles") {
        for (client, rs) in clients {
            for r in rs.as_array().into_iter().flatten() {
                if let Some(r) = r.as_str() {
                    roles.push(Value::String(format!("{client}:{r}")));
                }
            }
        }
    }
    let creds = row.get("credentials").cloned();
    let password = creds
        .as_ref()
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "password"))
        .cloned();
    row.set("roles", Value::Array(roles));
    row.set("two_factor", keycloak_totps(creds.as_ref(), number)?);
    let configure_totp = row
        .get("requiredActions")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x == "CONFIGURE_TOTP"));
    row.set(
        "configure_totp",
        if configure_totp {
            Value::Bool(true)
        } else {
            Value::Null
        },
    );
    let Some(c) = password else {
        return Ok(());
    };
    let parse = |key: &str| -> Result<Value, Error> {
        match &c[key] {
            Value::String(s) => serde_json::from_str(s)
                .map_err(|e| err("credentials", format!("{key} is not JSON: {e}"))),
            Value::Object(_) => Ok(c[key].clone()),
            _ => Err(err(
                "credentials",
                format!("the password credential has no {key}"),
            )),
        }
    };
    let secret = parse("secretData")?;
    let data = parse("credentialData")?;
    let algorithm = data["algorithm"].as_str().unwrap_or("pbkdf2-sha256");
    let iterations = data["hashIterations"].as_u64().unwrap_or(27500);
    let value = secret["value"].as_str().unwrap_or_default().to_string();
    let salt = secret["salt"].as_str().unwrap_or_default().to_string();
    let b64 = base64::engine::general_purpose::STANDARD;
    let hash_len = b64.decode(&value).map(|v| v.len()).unwrap_or(0);
    let scheme = match (algorithm, hash_len) {
        ("pbkdf2-sha256", 32) => "salted-pbkdf2-hmac-sha256",
        ("pbkdf2-sha256", _) => "salted-pbkdf2-hmac-sha256-512",
        ("pbkdf2-sha512", _) => "salted-pbkdf2-hmac-sha512-512",
        ("argon2", _) => {
            let p = &data["additionalParameters"];
            let first = |k: &str, d: &str| {
                p[k].as_array()
                    .and_then(|a| a.first())
                    .and_then(Value::as_str)
                    .unwrap_or(d)
                    .to_string()
            };
            let nopad = base64::engine::general_purpose::STANDARD_NO_PAD;
            let to_nopad = |s: &str, what: &str| {
                b64.decode(s)
                    .map(|b| nopad.encode(b))
                    .map_err(|_| err("credentials", format!("the {what} is not base64")))
            };
            let version = if first("version", "1.3") == "1.3" { 19 } else { 16 };
            let phc = format!(
                "$argon2{}$v={version}$m={},t={},p={}${}${}",
                first("type", "id"),
                first("memory", "7168"),
                first("iterations", "5"),
                first("parallelism", "1"),
                to_nopad(&salt, "salt")?,
                to_nopad(&value, "hash")?
            );
            row.set("hash_scheme", Value::String("argon2".into()));
            row.set("hash_value", Value::String(phc));
            return Ok(());
        }
        (other, _) => {
            return Err(err(
                "credentials",
                format!("the password algorithm {other:?} is not one map reads (pbkdf2-sha256, pbkdf2-sha512, argon2)"),
            ))
        }
    };
    row.set("hash_scheme", Value::String(scheme.into()));
    row.set("hash_factor", Value::from(iterations));
    row.set("hash_salt", Value::String(salt));
    row.set("hash_value", Value::String(value));
    Ok(())
}

/// A Firebase user's `passwordHash` and `salt` with the project's parameters → `hash_value` in
/// the hash crate's `$firebase-scrypt$` form.
fn firebase_row(row: &mut Row, params: &str) -> Result<(), Error> {
    let hash = row
        .get("passwordHash")
        .and_then(Value::as_str)
        .map(str::to_string);
    let salt = row.get("salt").and_then(Value::as_str).map(str::to_string);
    match (hash, salt) {
        (Some(h), Some(s)) if !h.is_empty() => {
            row.set(
                "hash_value",
                Value::String(format!("$firebase-scrypt${params}${s}${h}")),
            );
            Ok(())
        }
        (Some(h), None) if !h.is_empty() => Err(Error::Row {
            row: row.number,
            column: "salt".into(),
            message: "a passwordHash without its salt".into(),
        }),
        _ => Ok(()),
    }
}

/// Auth0's password-hash export: one JSON object a line, `_id.$oid` the database user's id
/// (`auth0|<oid>` in the user export) and `passwordHash` its bcrypt hash.
fn load_auth0_hashes(path: &std::path::Path) -> Result<HashMap<String, String>, Error> {
    use std::io::BufRead;
    let f = std::fs::File::open(path)
        .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
    let mut out = HashMap::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| Error::Io(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).map_err(|e| {
            Error::Config(format!("{} line {}: not JSON: {e}", path.display(), i + 1))
        })?;
        let Some(hash) = v["passwordHash"].as_str() else {
            continue;
        };
        if let Some(oid) = v["_id"]["$oid"].as_str().or_else(|| v["_id"].as_str()) {
            out.insert(format!("auth0|{oid}"), hash.to_string());
        }
        if let Some(email) = v["email"].as_str() {
            out.insert(email.to_lowercase(), hash.to_string());
        }
    }
    Ok(out)
}

fn auth0_row(row: &mut Row, hashes: &HashMap<String, String>) -> Result<(), Error> {
    let by_id = row
        .get("user_id")
        .and_then(Value::as_str)
        .and_then(|id| hashes.get(id));
    let by_email = || {
        row.get("email")
            .and_then(Value::as_str)
            .and_then(|e| hashes.get(&e.to_lowercase()))
    };
    if let Some(h) = by_id.or_else(by_email).cloned() {
        row.set("hash_value", Value::String(h));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn php_capabilities_give_the_granted_roles() {
        assert_eq!(
            php_granted_keys(r#"a:2:{s:13:"administrator";b:1;s:6:"editor";b:0;}"#).unwrap(),
            vec!["administrator"]
        );
        assert!(php_granted_keys("a:1:{s:99:\"x\";b:1;}").is_err());
        assert!(php_granted_keys("").unwrap().is_empty());
    }
}
