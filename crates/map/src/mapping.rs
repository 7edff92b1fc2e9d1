//! The mapping file (TOML) and its application to one legacy row: per target field a column or
//! an expression (constant, template, coalesced columns) with conversions (trim, value map,
//! lower-casing, split/join, booleans, dates with a format and zone), the legacy id kept in
//! `data.original_user_id` (optionally turned into a deterministic UUID), the row into `data`,
//! roles into registrations, groups into memberships, and the hash columns into the import's
//! `encryptionScheme`/`factor`/`salt`/`password`. Every error names the row and the column.

use crate::source::{Columns, Row};
use crate::Error;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The namespace of the deterministic ids derived from legacy ids when the mapping names none.
pub const DEFAULT_NAMESPACE: Uuid = Uuid::from_u128(0x6f0e_3c55_8d1a_4b57_9f3a_2c1d_7e5b_a901);

/// The whole mapping file.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    #[serde(default)]
    pub source: SourceConfig,
    /// Target user field (FusionAuth's name, or `data.KEY`) → where its value comes from.
    #[serde(default)]
    pub user: BTreeMap<String, FieldSpec>,
    #[serde(default)]
    pub id: IdConfig,
    #[serde(default)]
    pub password: Option<PasswordConfig>,
    #[serde(default)]
    pub data: DataConfig,
    #[serde(default)]
    pub registrations: Option<RegistrationsConfig>,
    #[serde(default)]
    pub memberships: Option<MembershipsConfig>,
    #[serde(default)]
    pub dedup: DedupConfig,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The query a SQL source is read with.
    pub query: Option<String>,
    /// For a JSON file: the dotted key path of the array of records (`users`).
    pub records: Option<String>,
    /// The column(s) telling when a row last changed, for `--since` (the latest of them counts).
    #[serde(default)]
    pub updated_at: OneOrMany,
    /// The zone of the updated-at column when it holds times without one (default UTC).
    pub updated_at_zone: Option<String>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(untagged)]
pub enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct IdConfig {
    /// The legacy id column, kept as `data.original_user_id`.
    pub original: Option<String>,
    /// `none` (the server picks ids), `v5` (a UUIDv5 of the legacy id in `namespace`: the same
    /// legacy user gets the same id on every run), `keep` (the legacy id is a UUID already).
    #[serde(default)]
    pub uuid: UuidMode,
    pub namespace: Option<Uuid>,
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UuidMode {
    #[default]
    None,
    V5,
    Keep,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfig {
    /// The column holding the hash (a whole modular-crypt string, or the split form's hash).
    pub hash: String,
    /// The import's `encryptionScheme` (`auto` detects self-describing strings), or…
    pub scheme: Option<String>,
    /// …the column that holds it per row.
    pub scheme_column: Option<String>,
    pub factor: Option<u32>,
    pub factor_column: Option<String>,
    pub salt_column: Option<String>,
    /// Hashes starting with one of these are unusable markers (Django's `!`): no password.
    #[serde(default)]
    pub unusable_prefixes: Vec<String>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Columns copied into `data`: `"*"` for the whole row, or a list.
    #[serde(default)]
    pub columns: OneOrMany,
    /// Columns left out of `"*"` (the hash columns always are).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Put the copied columns under `data.KEY` instead of `data` itself.
    pub under: Option<String>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RegistrationsConfig {
    /// The application every user is registered to (with its mapped roles).
    pub application: Option<Uuid>,
    /// Where the legacy roles come from (a list, or a string split by `split`).
    pub roles: Option<FieldSpec>,
    /// Legacy role → role name in `application`, or `{ application = UUID, role = NAME }`.
    #[serde(default)]
    pub role_map: BTreeMap<String, RoleTarget>,
    /// What a legacy role the map lacks becomes: `keep` (its own name in `application`), `drop`,
    /// or `error`.
    #[serde(default)]
    pub unmapped: Unmapped,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum RoleTarget {
    Name(String),
    In { application: Uuid, role: String },
    Many(Vec<RoleTarget>),
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Unmapped {
    #[default]
    Keep,
    Drop,
    Error,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct MembershipsConfig {
    /// Where the legacy groups come from.
    pub groups: FieldSpec,
    /// Legacy group → the group's id in the tenant.
    #[serde(default)]
    pub group_map: BTreeMap<String, Uuid>,
    /// A legacy group the map lacks: `drop` (default) or `error` (`keep` reads as `drop`: a
    /// membership needs a group id).
    #[serde(default = "drop")]
    pub unmapped: Unmapped,
}

fn drop() -> Unmapped {
    Unmapped::Drop
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct DedupConfig {
    #[serde(default)]
    pub policy: DedupPolicy,
    /// For `keep-newest`: the column that orders versions (default: the updated-at column).
    pub newest: Option<String>,
    /// For `keep-last-login`: the column with the last login (default: the user's
    /// `lastLoginInstant`).
    pub last_login: Option<String>,
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DedupPolicy {
    #[default]
    KeepFirst,
    KeepNewest,
    KeepLastLogin,
    DropAll,
}

impl DedupPolicy {
    pub fn parse(s: &str) -> Result<DedupPolicy, Error> {
        match s {
            "keep-first" => Ok(DedupPolicy::KeepFirst),
            "keep-newest" => Ok(DedupPolicy::KeepNewest),
            "keep-last-login" => Ok(DedupPolicy::KeepLastLogin),
            "drop-all" => Ok(DedupPolicy::DropAll),
            other => Err(Error::Config(format!(
                "unknown de-duplication policy {other:?}: keep-first, keep-newest, keep-last-login or drop-all"
            ))),
        }
    }
}

/// Where one field's value comes from: a bare string is a column name.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum FieldSpec {
    Column(String),
    Rule(Box<FieldRule>),
}

impl Default for FieldSpec {
    fn default() -> FieldSpec {
        FieldSpec::Rule(Box::default())
    }
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    pub column: Option<String>,
    /// The first of these columns that has a value, or all of them joined by `join`.
    pub columns: Option<Vec<String>>,
    pub constant: Option<toml::Value>,
    /// `"{first_name} {last_name}"`: columns in braces, `{{` and `}}` for braces.
    pub template: Option<String>,
    /// The value when the source has none.
    pub default: Option<toml::Value>,
    /// Values replaced one for one (after trimming): `{ "1" = "true", "staff" = "admin" }`.
    pub map: Option<BTreeMap<String, toml::Value>>,
    #[serde(default)]
    pub lowercase: bool,
    /// True when the column has a value, false when not (`email_verified_at` → `verified`).
    #[serde(default)]
    pub present: bool,
    /// Splits a string into a list at this separator.
    pub split: Option<String>,
    /// Joins a list (or `columns`) into a string with this separator.
    pub join: Option<String>,
    /// A date and time: a chrono format (`%d/%m/%Y %H:%M`), `unix` (seconds), `unix_ms`, or
    /// `auto` (ISO 8601 and common SQL forms, or epoch numbers).
    pub date: Option<String>,
    /// The zone of times without one: `UTC` (default) or an offset like `+02:00`.
    pub zone: Option<String>,
    /// Strings read as true (besides the default 1, t, true, y, yes, on).
    #[serde(default, rename = "true")]
    pub true_values: Vec<String>,
    /// Strings read as false (besides the default 0, f, false, n, no, off).
    #[serde(default, rename = "false")]
    pub false_values: Vec<String>,
}

/// What a target field holds, which decides its last conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Bool,
    Instant,
    Date,
    List,
    Any,
    Uuid,
}

fn kind_of(field: &str) -> Option<Kind> {
    Some(match field {
        "email" | "username" | "firstName" | "middleName" | "lastName" | "fullName"
        | "mobilePhone" | "imageUrl" | "timezone" => Kind::Text,
        "active" | "verified" | "passwordChangeRequired" => Kind::Bool,
        "insertInstant"
        | "lastUpdateInstant"
        | "lastLoginInstant"
        | "expiry"
        | "passwordLastUpdateInstant" => Kind::Instant,
        "birthDate" => Kind::Date,
        "preferredLanguages" => Kind::List,
        "id" => Kind::Uuid,
        // FusionAuth's `twoFactor` object (`methods`, `recoveryCodes`), passed through whole.
        "twoFactor" => Kind::Any,
        f if f.starts_with("data.") && f.len() > 5 => Kind::Any,
        _ => return None,
    })
}

/// A compiled field: its target, kind and rule.
#[derive(Debug, Clone)]
struct Field {
    target: String,
    kind: Kind,
    rule: FieldRule,
    template: Option<Vec<Piece>>,
    zone: FixedOffset,
}

#[derive(Debug, Clone)]
enum Piece {
    Lit(String),
    Col(String),
}

fn parse_template(t: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                lit.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => return Err(format!("template {t:?}: a '{{' is never closed")),
                    }
                }
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                out.push(Piece::Col(name.trim().to_string()));
            }
            '}' => return Err(format!("template {t:?}: a '}}' without its '{{'")),
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    Ok(out)
}

/// Reads a zone: `UTC`/`Z` or a fixed offset `+HH:MM`.
pub fn parse_zone(z: Option<&str>) -> Result<FixedOffset, String> {
    let z = match z {
        None => return Ok(FixedOffset::east_opt(0).expect("zero offset")),
        Some(z) => z.trim(),
    };
    if z.eq_ignore_ascii_case("utc") || z == "Z" || z.eq_ignore_ascii_case("gmt") {
        return Ok(FixedOffset::east_opt(0).expect("zero offset"));
    }
    let bad = || {
        format!(
            "zone {z:?}: say UTC or a fixed offset like +02:00 (named zones with daylight saving are not read; \
             convert the column in the query)"
        )
    };
    let (sign, rest) = match z.as_bytes().first() {
        Some(b'+') => (1, &z[1..]),
        Some(b'-') => (-1, &z[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
}

/// A mapping ready to run.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub config: Mapping,
    fields: Vec<Field>,
    roles: Option<(Field, RegistrationsConfig)>,
    groups: Option<(Field, MembershipsConfig)>,
    updated_at: Vec<String>,
    updated_zone: FixedOffset,
    /// Columns never copied into `data` (the hash's).
    secret_columns: Vec<String>,
}

/// One mapped user, with what de-duplication and `--since` need beside it.
#[derive(Debug, Clone)]
pub struct Mapped {
    pub row: u64,
    pub user: Map<String, Value>,
    pub original_id: Option<String>,
    /// The latest of the updated-at columns, in ms since the epoch.
    pub updated_at: Option<i64>,
    pub has_password: bool,
}

/// A row error: the column and the message (the row is added by the caller).
type FieldError = (String, String);

impl Compiled {
    pub fn new(config: Mapping) -> Result<Compiled, Error> {
        let cfg_err = |m: String| Error::Config(format!("the mapping: {m}"));
        let mut fields = Vec::new();
        for (target, spec) in &config.user {
            let kind = kind_of(target).ok_or_else(|| {
                cfg_err(format!(
                    "[user] {target:?} is not a user field: email, username, firstName, middleName, lastName, \
                     fullName, birthDate, mobilePhone, imageUrl, timezone, preferredLanguages, active, verified, \
                     passwordChangeRequired, expiry, insertInstant, lastUpdateInstant, lastLoginInstant, id, \
                     twoFactor, or data.KEY"
                ))
            })?;
            fields.push(compile_field(target, kind, spec).map_err(cfg_err)?);
        }
        let roles = match &config.registrations {
            Some(r) => {
                let spec = r.roles.clone().unwrap_or_default();
                Some((
                    compile_field("registrations.roles", Kind::List, &spec).map_err(cfg_err)?,
                    r.clone(),
                ))
            }
            None => None,
        };
        if let Some(r) = &config.registrations {
            if r.application.is_none() && r.unmapped == Unmapped::Keep && r.roles.is_some() {
                let all_in = r.role_map.values().all(|t| t.all_name_application());
                if !all_in {
                    return Err(cfg_err(
                        "[registrations] needs `application` for roles the map names without one, or kept unmapped".into(),
                    ));
                }
            }
        }
        let groups = match &config.memberships {
            Some(m) => Some((
                compile_field("memberships.groups", Kind::List, &m.groups).map_err(cfg_err)?,
                m.clone(),
            )),
            None => None,
        };
        let mut secret_columns = Vec::new();
        if let Some(p) = &config.password {
            if p.scheme.is_none() && p.scheme_column.is_none() {
                return Err(cfg_err(
                    "[password] needs `scheme` (e.g. \"auto\") or `scheme_column`".into(),
                ));
            }
            secret_columns.push(p.hash.clone());
            secret_columns.extend(p.salt_column.clone());
        }
        let updated_at = config.source.updated_at.to_vec();
        let updated_zone = parse_zone(config.source.updated_at_zone.as_deref())
            .map_err(|e| cfg_err(format!("[source] updated_at_zone: {e}")))?;
        if config.id.uuid != UuidMode::None && config.id.original.is_none() {
            return Err(cfg_err(
                "[id] uuid needs `original`, the legacy id column".into(),
            ));
        }
        Ok(Compiled {
            config,
            fields,
            roles,
            groups,
            updated_at,
            updated_zone,
            secret_columns,
        })
    }

    pub fn has_updated_at(&self) -> bool {
        !self.updated_at.is_empty()
    }

    /// Every column the mapping reads by name, to check against a tabular source's header.
    pub fn columns_read(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut add_field = |f: &Field| {
            out.extend(f.rule.column.clone());
            out.extend(f.rule.columns.clone().unwrap_or_default());
            for p in f.template.iter().flatten() {
                if let Piece::Col(c) = p {
                    out.push(c.clone());
                }
            }
        };
        for f in &self.fields {
            add_field(f);
        }
        if let Some((f, _)) = &self.roles {
            add_field(f);
        }
        if let Some((f, _)) = &self.groups {
            add_field(f);
        }
        out.extend(self.updated_at.clone());
        out.extend(self.config.id.original.clone());
        if let Some(p) = &self.config.password {
            out.push(p.hash.clone());
            out.extend(p.scheme_column.clone());
            out.extend(p.factor_column.clone());
            out.extend(p.salt_column.clone());
        }
        if let OneOrMany::Many(cols) = &self.config.data.columns {
            out.extend(cols.clone());
        }
        out.sort();
        out.dedup();
        out
    }

    /// Refuses a tabular source that lacks a column the mapping reads (before any row is mapped).
    pub fn check_columns(&self, columns: &Columns) -> Result<(), Error> {
        let missing: Vec<String> = self
            .columns_read()
            .into_iter()
            .filter(|c| {
                columns.position(c).is_none()
                    && c.split('.')
                        .next()
                        .is_none_or(|first| columns.position(first).is_none())
            })
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "the source has no column {}; it has: {}",
                missing
                    .iter()
                    .map(|m| format!("{m:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                columns.names.join(", ")
            )))
        }
    }

    /// The latest updated-at of a row, in ms.
    pub fn updated_at(&self, row: &Row) -> Result<Option<i64>, Error> {
        let mut latest: Option<i64> = None;
        for c in &self.updated_at {
            let v = row.get(c).cloned().unwrap_or(Value::Null);
            if v.is_null() {
                continue;
            }
            let ms = to_millis(&v, None, self.updated_zone).map_err(|m| Error::Row {
                row: row.number,
                column: c.clone(),
                message: m,
            })?;
            latest = Some(latest.map_or(ms, |l: i64| l.max(ms)));
        }
        Ok(latest)
    }

    /// Maps one row to an import user.
    pub fn map_row(&self, row: &Row) -> Result<Mapped, Error> {
        let at = |(column, message): FieldError| Error::Row {
            row: row.number,
            column,
            message,
        };
        let mut user = Map::new();
        let mut data = Map::new();

        // The whole row (or chosen columns) first, so named `data.KEY` fields override it.
        let copied: Option<Vec<(&str, &Value)>> = match &self.config.data.columns {
            OneOrMany::None => None,
            OneOrMany::One(s) if s == "*" => Some(
                row.columns
                    .names
                    .iter()
                    .zip(&row.values)
                    .filter(|(n, _)| {
                        !self.secret_columns.contains(n) && !self.config.data.exclude.contains(n)
                    })
                    .map(|(n, v)| (n.as_str(), v))
                    .collect(),
            ),
            other => Some(
                other
                    .to_vec()
                    .iter()
                    .filter(|c| !self.secret_columns.contains(c))
                    .filter_map(|c| {
                        let name: &str = row
                            .columns
                            .names
                            .iter()
                            .find(|n| *n == c)
                            .map(String::as_str)?;
                        row.get(name).map(|v| (name, v))
                    })
                    .collect(),
            ),
        };
        if let Some(cols) = copied {
            let mut m = Map::new();
            for (n, v) in cols {
                if !v.is_null() {
                    m.insert(n.to_string(), v.clone());
                }
            }
            match &self.config.data.under {
                Some(k) => {
                    data.insert(k.clone(), Value::Object(m));
                }
                None => data = m,
            }
        }

        for f in &self.fields {
            let v = eval(f, row).map_err(at)?;
            if v.is_null() {
                continue;
            }
            match f.target.strip_prefix("data.") {
                Some(k) => {
                    data.insert(k.to_string(), v);
                }
                None => {
                    user.insert(f.target.clone(), v);
                }
            }
        }

        let mut original_id = None;
        if let Some(col) = &self.config.id.original {
            let v = row.get(col).cloned().unwrap_or(Value::Null);
            let s = match &v {
                Value::Null => {
                    return Err(at((col.clone(), "the legacy id is empty".into())));
                }
                Value::String(s) => s.trim().to_string(),
                other => other.to_string(),
            };
            match self.config.id.uuid {
                UuidMode::None => {}
                UuidMode::V5 => {
                    let ns = self.config.id.namespace.unwrap_or(DEFAULT_NAMESPACE);
                    user.insert(
                        "id".into(),
                        Value::String(Uuid::new_v5(&ns, s.as_bytes()).to_string()),
                    );
                }
                UuidMode::Keep => {
                    let u = Uuid::parse_str(&s)
                        .map_err(|_| at((col.clone(), format!("{s:?} is not a UUID"))))?;
                    user.insert("id".into(), Value::String(u.to_string()));
                }
            }
            data.insert("original_user_id".into(), Value::String(s.clone()));
            original_id = Some(s);
        }

        let mut has_password = false;
        if let Some(p) = &self.config.password {
            let hash = text_of(row.get(&p.hash));
            let usable = hash.as_deref().filter(|h| {
                !h.is_empty()
                    && !p
                        .unusable_prefixes
                        .iter()
                        .any(|pre| h.starts_with(pre.as_str()))
            });
            if let Some(hash) = usable {
                let scheme = match (&p.scheme_column, &p.scheme) {
                    (Some(c), _) => text_of(row.get(c)).ok_or_else(|| {
                        at((c.clone(), "no hash scheme for a row with a hash".into()))
                    })?,
                    (None, Some(s)) => s.clone(),
                    (None, None) => unreachable!("checked when compiled"),
                };
                let factor = match &p.factor_column {
                    Some(c) => match row.get(c) {
                        None | Some(Value::Null) => p.factor,
                        Some(v) => Some(
                            text_of(Some(v))
                                .and_then(|t| t.parse::<u32>().ok())
                                .ok_or_else(|| at((c.clone(), format!("{v} is not a factor"))))?,
                        ),
                    },
                    None => p.factor,
                };
                let salt = match &p.salt_column {
                    Some(c) => text_of(row.get(c)),
                    None => None,
                };
                // The import would refuse it anyway; here the error names the row and column.
                portcullis_hash::parse_import(&scheme, factor, salt.as_deref(), hash)
                    .map_err(|e| at((p.hash.clone(), e.to_string())))?;
                user.insert("encryptionScheme".into(), Value::String(scheme));
                if let Some(f) = factor {
                    user.insert("factor".into(), Value::from(f));
                }
                if let Some(s) = salt {
                    user.insert("salt".into(), Value::String(s));
                }
                user.insert("password".into(), Value::String(hash.to_string()));
                has_password = true;
            }
        }

        if let Some((field, cfg)) = &self.roles {
            let legacy = list_of(eval(field, row).map_err(at)?);
            let col = field_column(field);
            let mut by_app: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
            if let Some(app) = cfg.application {
                by_app.entry(app).or_default();
            }
            for role in legacy {
                match cfg.role_map.get(&role) {
                    Some(t) => t
                        .place(cfg.application, &mut by_app)
                        .map_err(|m| at((col.clone(), m)))?,
                    None => match cfg.unmapped {
                        Unmapped::Keep => match cfg.application {
                            Some(app) => by_app.entry(app).or_default().push(role),
                            None => {
                                return Err(at((
                                    col.clone(),
                                    format!("the role {role:?} has no application"),
                                )))
                            }
                        },
                        Unmapped::Drop => {}
                        Unmapped::Error => {
                            return Err(at((
                                col.clone(),
                                format!("the role {role:?} is not in [registrations.role_map]"),
                            )))
                        }
                    },
                }
            }
            let regs: Vec<Value> = by_app
                .into_iter()
                .map(|(app, mut roles)| {
                    roles.sort();
                    roles.dedup();
                    serde_json::json!({"applicationId": app.to_string(), "roles": roles})
                })
                .collect();
            if !regs.is_empty() {
                user.insert("registrations".into(), Value::Array(regs));
            }
        }

        if let Some((field, cfg)) = &self.groups {
            let legacy = list_of(eval(field, row).map_err(at)?);
            let col = field_column(field);
            let mut ids: Vec<Uuid> = Vec::new();
            for g in legacy {
                match cfg.group_map.get(&g) {
                    Some(id) => ids.push(*id),
                    None if cfg.unmapped == Unmapped::Error => {
                        return Err(at((
                            col.clone(),
                            format!("the group {g:?} is not in [memberships.group_map]"),
                        )))
                    }
                    None => {}
                }
            }
            ids.sort();
            ids.dedup();
            if !ids.is_empty() {
                user.insert(
                    "memberships".into(),
                    Value::Array(
                        ids.into_iter()
                            .map(|g| serde_json::json!({"groupId": g.to_string()}))
                            .collect(),
                    ),
                );
            }
        }

        if !data.is_empty() {
            user.insert("data".into(), Value::Object(data));
        }
        let updated_at = self.updated_at(row)?;
        Ok(Mapped {
            row: row.number,
            user,
            original_id,
            updated_at,
            has_password,
        })
    }
}

impl RoleTarget {
    fn all_name_application(&self) -> bool {
        match self {
            RoleTarget::Name(_) => false,
            RoleTarget::In { .. } => true,
            RoleTarget::Many(v) => v.iter().all(RoleTarget::all_name_application),
        }
    }

    fn place(
        &self,
        default_app: Option<Uuid>,
        out: &mut BTreeMap<Uuid, Vec<String>>,
    ) -> Result<(), String> {
        match self {
            RoleTarget::Name(n) => match default_app {
                Some(app) => out.entry(app).or_default().push(n.clone()),
                None => return Err(format!("the role {n:?} has no application")),
            },
            RoleTarget::In { application, role } => {
                out.entry(*application).or_default().push(role.clone())
            }
            RoleTarget::Many(v) => {
                for t in v {
                    t.place(default_app, out)?;
                }
            }
        }
        Ok(())
    }
}

fn field_column(f: &Field) -> String {
    f.rule
        .column
        .clone()
        .or_else(|| f.rule.columns.as_ref().map(|c| c.join(",")))
        .unwrap_or_default()
}

fn compile_field(target: &str, kind: Kind, spec: &FieldSpec) -> Result<Field, String> {
    let rule = match spec {
        FieldSpec::Column(c) => FieldRule {
            column: Some(c.clone()),
            ..FieldRule::default()
        },
        FieldSpec::Rule(r) => (**r).clone(),
    };
    let sources = [
        rule.column.is_some(),
        rule.columns.is_some(),
        rule.constant.is_some(),
        rule.template.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if sources != 1 && !(sources == 0 && rule.default.is_some()) {
        return Err(format!(
            "{target:?} needs exactly one of column, columns, constant, template"
        ));
    }
    let template = rule
        .template
        .as_deref()
        .map(parse_template)
        .transpose()
        .map_err(|e| format!("{target:?}: {e}"))?;
    if let Some(d) = &rule.date {
        if !matches!(kind, Kind::Instant | Kind::Date | Kind::Any) {
            return Err(format!(
                "{target:?} is not a date, so `date = {d:?}` cannot apply"
            ));
        }
    }
    let zone = parse_zone(rule.zone.as_deref()).map_err(|e| format!("{target:?}: {e}"))?;
    Ok(Field {
        target: target.to_string(),
        kind,
        rule,
        template,
        zone,
    })
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// A scalar's text (numbers and booleans as written); `None` for null, empty and non-scalars.
fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn list_of(v: Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.into_iter().filter_map(|x| text_of(Some(&x))).collect(),
        Value::Null => Vec::new(),
        other => text_of(Some(&other)).into_iter().collect(),
    }
}

/// Evaluates one field on a row; the error names the column it read.
fn eval(f: &Field, row: &Row) -> Result<Value, FieldError> {
    let r = &f.rule;
    let col = field_column(f);
    let err = |m: String| (col.clone(), m);
    let mut v = if let Some(c) = &r.constant {
        toml_to_json(c)
    } else if let Some(pieces) = &f.template {
        let mut s = String::new();
        let mut any = false;
        for p in pieces {
            match p {
                Piece::Lit(l) => s.push_str(l),
                Piece::Col(c) => {
                    if let Some(t) = text_of(row.get(c)) {
                        any = true;
                        s.push_str(&t);
                    }
                }
            }
        }
        let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
        if any && !s.is_empty() {
            Value::String(s)
        } else {
            Value::Null
        }
    } else if let Some(cols) = &r.columns {
        match &r.join {
            Some(sep) => {
                let parts: Vec<String> = cols.iter().filter_map(|c| text_of(row.get(c))).collect();
                if parts.is_empty() {
                    Value::Null
                } else {
                    Value::String(parts.join(sep))
                }
            }
            None => cols
                .iter()
                .filter_map(|c| row.get(c))
                .find(|v| !is_empty(v))
                .cloned()
                .unwrap_or(Value::Null),
        }
    } else if let Some(c) = &r.column {
        row.get(c).cloned().unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    if let Value::String(s) = &v {
        let t = s.trim();
        v = if t.is_empty() {
            Value::Null
        } else if t.len() != s.len() {
            Value::String(t.to_string())
        } else {
            v
        };
    }
    if r.present {
        return Ok(Value::Bool(!v.is_null()));
    }
    if let (Some(map), Some(key)) = (&r.map, text_of(Some(&v))) {
        if let Some(to) = map.get(&key) {
            v = match toml_to_json(to) {
                // An empty replacement means no value (`"0" = ""` for a never-set time).
                Value::String(s) if s.is_empty() => Value::Null,
                other => other,
            };
        }
    }
    if r.lowercase {
        v = match v {
            Value::String(s) => Value::String(s.to_lowercase()),
            Value::Array(a) => Value::Array(
                a.into_iter()
                    .map(|x| match x {
                        Value::String(s) => Value::String(s.to_lowercase()),
                        o => o,
                    })
                    .collect(),
            ),
            o => o,
        };
    }
    if let (Some(sep), Value::String(s)) = (&r.split, &v) {
        v = Value::Array(
            s.split(sep.as_str())
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| Value::String(p.to_string()))
                .collect(),
        );
    }
    if let (Some(sep), Value::Array(a)) = (&r.join, &v) {
        if r.columns.is_none() {
            let parts: Vec<String> = a.iter().filter_map(|x| text_of(Some(x))).collect();
            v = Value::String(parts.join(sep));
        }
    }
    if v.is_null() {
        if let Some(d) = &r.default {
            v = toml_to_json(d);
        } else {
            return Ok(Value::Null);
        }
    }
    convert(f, v).map_err(err)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn convert(f: &Field, v: Value) -> Result<Value, String> {
    let r = &f.rule;
    match f.kind {
        Kind::Any => match &r.date {
            Some(fmt) => Ok(Value::from(to_millis(&v, Some(fmt), f.zone)?)),
            None => Ok(v),
        },
        Kind::Text => match v {
            Value::String(_) => Ok(v),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            Value::Array(_) => Err(format!("{} wants text, not a list (use `join`)", f.target)),
            other => Err(format!("{} wants text, not {other}", f.target)),
        },
        Kind::Uuid => {
            let s = text_of(Some(&v)).ok_or_else(|| format!("{v} is not a UUID"))?;
            Uuid::parse_str(&s)
                .map(|u| Value::String(u.to_string()))
                .map_err(|_| format!("{s:?} is not a UUID"))
        }
        Kind::Bool => to_bool(&v, r).map(Value::Bool),
        Kind::List => Ok(Value::Array(
            list_of(v).into_iter().map(Value::String).collect(),
        )),
        Kind::Instant => Ok(Value::from(to_millis(&v, r.date.as_deref(), f.zone)?)),
        Kind::Date => {
            let ms = to_millis(&v, r.date.as_deref(), f.zone)?;
            let d = DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| format!("{v} is out of range"))?
                .with_timezone(&f.zone)
                .date_naive();
            Ok(Value::String(d.format("%Y-%m-%d").to_string()))
        }
    }
}

fn to_bool(v: &Value, r: &FieldRule) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            _ => Err(format!("{n} is neither 0 nor 1")),
        },
        Value::String(s) => {
            let s = s.trim();
            if r.true_values.iter().any(|t| t == s) {
                return Ok(true);
            }
            if r.false_values.iter().any(|t| t == s) {
                return Ok(false);
            }
            match s.to_ascii_lowercase().as_str() {
                "1" | "t" | "true" | "y" | "yes" | "on" => Ok(true),
                "0" | "f" | "false" | "n" | "no" | "off" => Ok(false),
                _ => Err(format!(
                    "{s:?} is not a boolean (add it to `true` or `false` of this field)"
                )),
            }
        }
        other => Err(format!("{other} is not a boolean")),
    }
}

/// A date and time value → ms since the epoch. `format`: a chrono format, `unix`, `unix_ms`,
/// `auto` or none (auto); `zone` applies to times that carry none.
pub fn to_millis(v: &Value, format: Option<&str>, zone: FixedOffset) -> Result<i64, String> {
    let fmt = format.unwrap_or("auto");
    let num = match v {
        Value::Number(n) => Some(n.as_f64().ok_or_else(|| format!("{n} is not a time"))?),
        Value::String(s) if fmt != "auto" && (fmt == "unix" || fmt == "unix_ms") => Some(
            s.trim()
                .parse::<f64>()
                .map_err(|_| format!("{s:?} is not a number of {}", unit(fmt)))?,
        ),
        Value::String(s)
            if fmt == "auto" && !s.is_empty() && s.trim().bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(s.trim().parse::<f64>().map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    if let Some(n) = num {
        return Ok(match fmt {
            "unix" => (n * 1000.0) as i64,
            "unix_ms" => n as i64,
            // Auto: a count past 10^11 cannot be seconds (year 5138), so it is milliseconds.
            _ if n.abs() >= 1e11 => n as i64,
            _ => (n * 1000.0) as i64,
        });
    }
    let s = match v {
        Value::String(s) => s.trim(),
        other => return Err(format!("{other} is not a date")),
    };
    if fmt == "auto" {
        return parse_auto(s, zone).ok_or_else(|| {
            format!("{s:?} is not a date this reads without a format: say `date = \"%d/%m/%Y\"` (chrono's format)")
        });
    }
    if let Ok(t) = DateTime::parse_from_str(s, fmt) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
        return local(t, zone);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
        return local(d.and_hms_opt(0, 0, 0).expect("midnight"), zone);
    }
    Err(format!("{s:?} does not match the date format {fmt:?}"))
}

fn unit(fmt: &str) -> &'static str {
    if fmt == "unix_ms" {
        "milliseconds"
    } else {
        "seconds"
    }
}

fn local(t: NaiveDateTime, zone: FixedOffset) -> Result<i64, String> {
    zone.from_local_datetime(&t)
        .single()
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| format!("{t} does not exist in the zone {zone}"))
}

fn parse_auto(s: &str, zone: FixedOffset) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M:%S%.f%#z",
        "%Y-%m-%d %H:%M:%S%.f %#z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.timestamp_millis());
        }
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return local(t, zone).ok();
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return local(d.and_hms_opt(0, 0, 0)?, zone).ok();
    }
    // RFC 2822 (`Tue, 1 Jul 2003 10:52:37 +0200`), as some exports write.
    DateTime::parse_from_rfc2822(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Formats ms since the epoch as RFC 3339 UTC (for `--since` and the summary).
pub fn format_millis(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Reads `--since`: RFC 3339, a SQL-style time (UTC), a date, or ms since the epoch.
pub fn parse_since(s: &str) -> Result<i64, Error> {
    to_millis(
        &Value::String(s.to_string()),
        None,
        FixedOffset::east_opt(0).expect("zero offset"),
    )
    .map_err(|e| Error::Config(format!("--since: {e}")))
}
