//! User search: the predicate tree every way of selecting users turns into (FusionAuth's
//! `queryString`, its Elasticsearch `query`, a list of ids), the request and answer of
//! `/api/user/search`, sort fields and the keyset cursor (`nextResults`) of deep paging. The
//! store translates the tree to SQL; this module only parses and checks.

pub mod es;
pub mod query_string;

use crate::identity::{Identity, Result};
use crate::{Error, Scope, StoredUser};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Users an answer holds when the request does not say.
pub const DEFAULT_RESULTS: u64 = 25;
/// Most users one answer holds.
pub const MAX_RESULTS: u64 = 10_000;
/// Most ids `search.ids` may name.
pub const MAX_IDS: usize = 10_000;
/// Most terms one query may hold: each is a condition of one SQL statement, whose expression
/// depth and parameters the databases bound.
pub const MAX_TERMS: usize = 256;
/// Most sort fields.
pub const MAX_SORT_FIELDS: usize = 8;

/// A field a predicate can test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Id,
    Email,
    Username,
    FirstName,
    LastName,
    FullName,
    MobilePhone,
    TenantId,
    Active,
    Verified,
    ConnectorId,
    InsertInstant,
    LastUpdateInstant,
    LastLoginInstant,
    /// `registrations.applicationId`
    RegistrationApplication,
    /// `registrations.roles`
    RegistrationRole,
    /// `memberships.groupId`
    MembershipGroup,
    /// `data.<dotted path>`: the segments of the path.
    Data(Vec<String>),
}

/// How a field's values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text compared without regard to case (emails, usernames, names).
    Text,
    /// Text compared as written (phone numbers, roles, `data` values).
    Exact,
    Uuid,
    Bool,
    /// Epoch milliseconds.
    Instant,
}

impl Field {
    /// The field a query names, or `None` when search does not know it.
    pub fn named(name: &str) -> Option<Field> {
        Some(match name {
            "id" | "userId" => Field::Id,
            "email" => Field::Email,
            "username" => Field::Username,
            "firstName" => Field::FirstName,
            "lastName" => Field::LastName,
            "fullName" => Field::FullName,
            "mobilePhone" => Field::MobilePhone,
            "tenantId" => Field::TenantId,
            "active" => Field::Active,
            "verified" => Field::Verified,
            "connectorId" => Field::ConnectorId,
            "insertInstant" => Field::InsertInstant,
            "lastUpdateInstant" => Field::LastUpdateInstant,
            "lastLoginInstant" => Field::LastLoginInstant,
            "registrations.applicationId" => Field::RegistrationApplication,
            "registrations.roles" => Field::RegistrationRole,
            "memberships.groupId" => Field::MembershipGroup,
            _ => {
                let path = name.strip_prefix("data.")?;
                let segs: Vec<String> = path.split('.').map(str::to_string).collect();
                let ok = segs.iter().all(|s| {
                    !s.is_empty()
                        && s.chars()
                            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '$')
                });
                if !ok {
                    return None;
                }
                Field::Data(segs)
            }
        })
    }

    pub fn kind(&self) -> Kind {
        match self {
            Field::Email
            | Field::Username
            | Field::FirstName
            | Field::LastName
            | Field::FullName => Kind::Text,
            Field::MobilePhone | Field::RegistrationRole | Field::Data(_) => Kind::Exact,
            Field::Id
            | Field::TenantId
            | Field::ConnectorId
            | Field::RegistrationApplication
            | Field::MembershipGroup => Kind::Uuid,
            Field::Active | Field::Verified => Kind::Bool,
            Field::InsertInstant | Field::LastUpdateInstant | Field::LastLoginInstant => {
                Kind::Instant
            }
        }
    }

    /// Whether the field belongs to a registration (what an Elasticsearch `nested` query on
    /// `registrations` may test).
    pub fn of_registration(&self) -> bool {
        matches!(
            self,
            Field::RegistrationApplication | Field::RegistrationRole
        )
    }
}

/// A selection of users: the tree both query languages parse into and the store translates.
#[derive(Debug, Clone, PartialEq)]
pub enum Pred {
    /// Every user.
    All,
    /// The field equals the value (lower-cased for [`Kind::Text`], `true`/`false` for
    /// [`Kind::Bool`], the canonical UUID for [`Kind::Uuid`]).
    Eq(Field, String),
    /// The field equals one of the values.
    In(Field, Vec<String>),
    /// The field matches a pattern in which `*` stands for any run of characters.
    Like(Field, String),
    /// An instant field within bounds (inclusive; `None` is open).
    Range(Field, Option<i64>, Option<i64>),
    /// The field has a value.
    Exists(Field),
    /// One registration satisfies the inner predicate, which tests registration fields only.
    Registration(Box<Pred>),
    And(Vec<Pred>),
    Or(Vec<Pred>),
    Not(Box<Pred>),
}

/// What a value is wrong about, for the 400 naming the term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// The term (or query part) at fault, as written.
    pub term: String,
    pub why: String,
}

impl QueryError {
    pub fn new(term: impl Into<String>, why: impl Into<String>) -> Self {
        QueryError {
            term: term.into(),
            why: why.into(),
        }
    }

    /// The 400 naming the term, under `field` (`search.queryString`, `search.query`).
    pub fn into_error(self, field: &str) -> Error {
        Error::field(
            field,
            &format!("[invalid]{field}"),
            format!("The term [{}] {}.", self.term, self.why),
        )
    }
}

/// The value `raw` given for `field`, checked and put in the form [`Pred::Eq`] compares.
pub fn value_of(field: &Field, raw: &str, term: &str) -> std::result::Result<String, QueryError> {
    no_nul(raw, term)?;
    match field.kind() {
        Kind::Text => Ok(raw.to_lowercase()),
        Kind::Exact => Ok(raw.to_string()),
        Kind::Uuid => Uuid::parse_str(raw)
            .map(|u| u.to_string())
            .map_err(|_| QueryError::new(term, format!("has [{raw}], which is not a UUID"))),
        Kind::Bool => match raw.to_ascii_lowercase().as_str() {
            "true" => Ok("true".into()),
            "false" => Ok("false".into()),
            _ => Err(QueryError::new(
                term,
                "compares a flag with something other than true or false",
            )),
        },
        Kind::Instant => instant(raw).map(|i| i.to_string()).ok_or_else(|| {
            QueryError::new(
                term,
                format!("has [{raw}], which is neither epoch milliseconds nor an ISO-8601 instant"),
            )
        }),
    }
}

/// The predicate testing `field` against one value as a query writes it: `*` alone means the
/// field has a value, `*` inside a value is a wildcard (text fields only), instants compare
/// as a one-millisecond range.
pub fn term_pred(
    field: Field,
    raw: &str,
    term: &str,
    wildcards: bool,
) -> std::result::Result<Pred, QueryError> {
    if wildcards && raw == "*" {
        return Ok(Pred::Exists(field));
    }
    if wildcards && raw.contains('*') {
        return match field.kind() {
            Kind::Text => Ok(Pred::Like(field, raw.to_lowercase())),
            Kind::Exact => Ok(Pred::Like(field, raw.to_string())),
            _ => Err(QueryError::new(
                term,
                "puts a wildcard in a value that is not text",
            )),
        };
    }
    if field.kind() == Kind::Instant {
        let v = value_of(&field, raw, term)?.parse().ok();
        return Ok(Pred::Range(field, v, v));
    }
    let v = value_of(&field, raw, term)?;
    Ok(Pred::Eq(field, v))
}

/// Databases store no NUL character in text: a value holding one matches nothing and would
/// fail the statement.
fn no_nul(raw: &str, term: &str) -> std::result::Result<(), QueryError> {
    if raw.contains('\0') {
        return Err(QueryError::new(
            term.replace('\0', "\\0"),
            "holds a NUL character",
        ));
    }
    Ok(())
}

/// How many terms `p` holds (an `In` counts each value).
pub fn terms(p: &Pred) -> usize {
    match p {
        Pred::All => 0,
        Pred::In(_, vs) => vs.len(),
        Pred::Eq(..) | Pred::Like(..) | Pred::Range(..) | Pred::Exists(_) => 1,
        Pred::Registration(p) | Pred::Not(p) => terms(p),
        Pred::And(ps) | Pred::Or(ps) => ps.iter().map(terms).sum(),
    }
}

/// Parses a query language and checks its size: at most [`MAX_TERMS`] terms and [`MAX_IDS`]
/// listed values; errors name `field`.
pub fn bounded(p: std::result::Result<Pred, QueryError>, field: &str) -> Result<Pred> {
    let p = p.map_err(|e| e.into_error(field))?;
    let n = terms(&p) - in_values(&p);
    if terms(&p) > MAX_IDS {
        return Err(invalid(
            field,
            format!("The query lists more than {MAX_IDS} values."),
        ));
    }
    if n > MAX_TERMS {
        return Err(invalid(
            field,
            format!(
                "The query holds {n} terms; at most {MAX_TERMS} (list ids in search.ids instead)."
            ),
        ));
    }
    Ok(p)
}

/// The values of `In` predicates, which bind as one list and need no bound of their own below
/// [`MAX_IDS`].
fn in_values(p: &Pred) -> usize {
    match p {
        Pred::In(_, vs) => vs.len().saturating_sub(1),
        Pred::Registration(p) | Pred::Not(p) => in_values(p),
        Pred::And(ps) | Pred::Or(ps) => ps.iter().map(in_values).sum(),
        _ => 0,
    }
}

/// Epoch milliseconds, or an ISO-8601 date or date-time (`2024-05-01`, `2024-05-01T10:00:00Z`,
/// with fractions of a second and a `±hh:mm` offset; no offset means UTC).
pub fn instant(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms = days_from_civil(y, m, d) * 86_400_000;
    let mut rest = &s[10..];
    if rest.is_empty() {
        return Some(ms);
    }
    if !rest.starts_with('T') && !rest.starts_with('t') && !rest.starts_with(' ') {
        return None;
    }
    rest = &rest[1..];
    let hm = |r: &str| -> Option<(i64, i64)> {
        let h = r.get(0..2)?.parse::<i64>().ok()?;
        if r.as_bytes().get(2) != Some(&b':') {
            return None;
        }
        let mi = r.get(3..5)?.parse::<i64>().ok()?;
        (h < 24 && mi < 60).then_some((h, mi))
    };
    let (h, mi) = hm(rest)?;
    ms += (h * 60 + mi) * 60_000;
    rest = &rest[5..];
    if let Some(r) = rest.strip_prefix(':') {
        let sec = r.get(0..2)?.parse::<i64>().ok().filter(|s| *s < 61)?;
        ms += sec * 1000;
        rest = &r[2..];
        if let Some(r) = rest.strip_prefix('.') {
            let digits: String = r.chars().take_while(char::is_ascii_digit).collect();
            if digits.is_empty() {
                return None;
            }
            let frac: String = digits.chars().chain("000".chars()).take(3).collect();
            ms += frac.parse::<i64>().ok()?;
            rest = &r[digits.len()..];
        }
    }
    match rest {
        "" | "Z" | "z" => Some(ms),
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => -1,
                b'-' => 1,
                _ => return None,
            };
            let (oh, om) = hm(&rest[1..]).filter(|_| rest.len() == 6)?;
            Some(ms + sign * (oh * 60 + om) * 60_000)
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A field users can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortKey {
    #[serde(rename = "id")]
    Id,
    #[serde(rename = "email")]
    Email,
    #[serde(rename = "username")]
    Username,
    #[serde(rename = "firstName")]
    FirstName,
    #[serde(rename = "lastName")]
    LastName,
    #[serde(rename = "fullName")]
    FullName,
    #[serde(rename = "insertInstant")]
    InsertInstant,
    #[serde(rename = "lastUpdateInstant")]
    LastUpdateInstant,
    #[serde(rename = "lastLoginInstant")]
    LastLoginInstant,
}

impl SortKey {
    fn named(name: &str) -> Option<SortKey> {
        serde_json::from_value(Value::String(name.to_string())).ok()
    }

    /// Whether the key's values are instants (integers) rather than text.
    pub fn is_instant(self) -> bool {
        matches!(
            self,
            SortKey::InsertInstant | SortKey::LastUpdateInstant | SortKey::LastLoginInstant
        )
    }
}

/// One sort field, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sort {
    pub key: SortKey,
    pub desc: bool,
    /// Users without a value come first (`missing: "_first"`); else last.
    pub missing_first: bool,
}

/// A sort key value of the last user of a page: text, an instant, or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyValue {
    Int(i64),
    Text(String),
    Null,
}

/// Where a page ends: the sort key values and id of its last user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct After {
    pub keys: Vec<KeyValue>,
    pub id: Uuid,
}

/// What the store searches for: users matching `filter`, in `sort` order then by id, after
/// `after` or from `start_row`, at most `limit` of them.
#[derive(Debug, Clone)]
pub struct UserQuery {
    /// The tenant searched, or every tenant.
    pub tenant: Option<Uuid>,
    pub filter: Pred,
    pub sort: Vec<Sort>,
    pub after: Option<After>,
    pub start_row: u64,
    pub limit: u64,
    /// Whether to count every match (the first page of a search does; an export does not).
    pub count: bool,
}

/// The store's answer: the page's users (with registrations, memberships and credential),
/// the exact total when counted, and where the page ended.
#[derive(Debug, Clone, Default)]
pub struct UserPage {
    pub total: Option<u64>,
    pub users: Vec<StoredUser>,
    pub last: Option<After>,
    /// Whether more users follow the page.
    pub more: bool,
}

/// A sort field as FusionAuth's request spells it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SortField {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

/// FusionAuth's `search` object.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchCriteria {
    /// Lucene-style query: `email:*@example.com AND NOT active:false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_string: Option<String>,
    /// Elasticsearch query DSL, as a JSON string or object.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_results: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_row: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_fields: Option<Vec<SortField>>,
    /// Accepted for FusionAuth's clients: totals are always exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accurate_total: Option<bool>,
    /// The cursor a previous answer gave: the search continues after its last user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_results: Option<String>,
}

/// FusionAuth's search request body.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SearchRequest {
    #[serde(default)]
    pub search: SearchCriteria,
}

/// What a cursor carries: the search it continues (so a client sends the cursor alone) and
/// where the last page ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cursor {
    #[serde(rename = "q", default, skip_serializing_if = "Option::is_none")]
    query_string: Option<String>,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    query: Option<Value>,
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    ids: Option<Vec<Uuid>>,
    #[serde(rename = "s", default)]
    sort: Vec<Sort>,
    #[serde(rename = "a")]
    after: After,
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::field(field, &format!("[invalid]{field}"), message)
}

/// A search request checked and turned into a store query (without its tenant).
#[derive(Debug, Clone)]
pub struct Search {
    pub criteria: SearchCriteria,
    pub query: UserQuery,
}

impl Search {
    /// Checks `criteria`: every error is a 400 naming the `search.*` field at fault.
    pub fn parse(criteria: SearchCriteria) -> Result<Search> {
        let mut c = criteria;
        let mut after = None;
        let mut sort = None;
        if let Some(token) = c.next_results.as_deref().filter(|t| !t.is_empty()) {
            let cursor = decode_cursor(token)?;
            check_cursor(&cursor)?;
            c.query_string = cursor.query_string;
            c.query = cursor.query;
            c.ids = cursor.ids;
            sort = Some(cursor.sort);
            after = Some(cursor.after);
        }
        let limit = match c.number_of_results {
            None => DEFAULT_RESULTS,
            Some(n) if (0..=MAX_RESULTS as i64).contains(&n) => n as u64,
            Some(n) => {
                return Err(invalid(
                    "search.numberOfResults",
                    format!("numberOfResults is [{n}]; give 0 to {MAX_RESULTS}, and page on with startRow or nextResults."),
                ))
            }
        };
        let start_row = match c.start_row {
            None => 0,
            Some(n) if n >= 0 => n as u64,
            Some(n) => {
                return Err(invalid(
                    "search.startRow",
                    format!("startRow is [{n}]; it counts from 0."),
                ))
            }
        };
        let sort = match sort {
            Some(s) => s,
            None => sort_of(c.sort_fields.as_deref().unwrap_or_default())?,
        };
        let filter = filter_of(&c)?;
        Ok(Search {
            query: UserQuery {
                tenant: None,
                filter,
                sort,
                start_row: if after.is_some() { 0 } else { start_row },
                after,
                limit,
                count: true,
            },
            criteria: c,
        })
    }

    /// The cursor continuing this search after `last`.
    pub fn cursor(&self, last: After) -> String {
        let c = Cursor {
            query_string: self.criteria.query_string.clone(),
            query: self.criteria.query.clone(),
            ids: self.criteria.ids.clone(),
            sort: self.query.sort.clone(),
            after: last,
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&c).expect("cursors serialize"))
    }
}

fn decode_cursor(token: &str) -> Result<Cursor> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            invalid(
                "search.nextResults",
                "nextResults is not a cursor this server gave; send the value of a previous answer's nextResults unchanged.",
            )
        })
}

/// A cursor's keys fit its sort: one per sort field, of the field's type (a tampered cursor
/// must not reach the database as a comparison of text with a number).
fn check_cursor(c: &Cursor) -> Result<()> {
    let fits = c.sort.len() <= MAX_SORT_FIELDS
        && c.after.keys.len() == c.sort.len()
        && c.sort.iter().zip(&c.after.keys).all(|(s, k)| match k {
            KeyValue::Null => true,
            KeyValue::Int(_) => s.key.is_instant(),
            KeyValue::Text(t) => !s.key.is_instant() && !t.contains('\0'),
        });
    if fits {
        Ok(())
    } else {
        Err(invalid(
            "search.nextResults",
            "nextResults is not a cursor this server gave; send the value of a previous answer's nextResults unchanged.",
        ))
    }
}

/// The sort of `fields`: each a known name, `asc` or `desc`, `_first` or `_last`.
fn sort_of(fields: &[SortField]) -> Result<Vec<Sort>> {
    if fields.len() > MAX_SORT_FIELDS {
        return Err(invalid(
            "search.sortFields",
            format!("At most {MAX_SORT_FIELDS} sort fields."),
        ));
    }
    fields
        .iter()
        .map(|f| {
            let key = SortKey::named(&f.name).ok_or_else(|| {
                invalid(
                    "search.sortFields",
                    format!("Users cannot be sorted by [{}]; use id, email, username, firstName, lastName, fullName, insertInstant, lastUpdateInstant or lastLoginInstant.", f.name),
                )
            })?;
            let desc = match f.order.as_deref().map(str::to_ascii_lowercase).as_deref() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(o) => {
                    return Err(invalid(
                        "search.sortFields",
                        format!("The order [{o}] of [{}] is neither asc nor desc.", f.name),
                    ))
                }
            };
            let missing_first = match f.missing.as_deref() {
                None | Some("_last") => false,
                Some("_first") => true,
                Some(m) => {
                    return Err(invalid(
                        "search.sortFields",
                        format!("The missing [{m}] of [{}] is neither _first nor _last.", f.name),
                    ))
                }
            };
            Ok(Sort {
                key,
                desc,
                missing_first,
            })
        })
        .collect()
}

/// The conjunction of the criteria's queryString, query and ids; at least one is required.
fn filter_of(c: &SearchCriteria) -> Result<Pred> {
    let mut parts = Vec::new();
    if let Some(q) = c.query_string.as_deref() {
        if q.trim().is_empty() {
            return Err(invalid(
                "search.queryString",
                "queryString is empty; give * for every user.",
            ));
        }
        parts.push(bounded(query_string::parse(q), "search.queryString")?);
    }
    if let Some(q) = &c.query {
        parts.push(bounded(es::parse(q), "search.query")?);
    }
    if let Some(ids) = &c.ids {
        if ids.len() > MAX_IDS {
            return Err(invalid(
                "search.ids",
                format!("At most {MAX_IDS} ids per search."),
            ));
        }
        parts.push(Pred::In(
            Field::Id,
            ids.iter().map(Uuid::to_string).collect(),
        ));
    }
    match parts.len() {
        0 => Err(Error::field(
            "search",
            "[missing]search",
            "Say which users to find: search.queryString (* for all), search.query or search.ids.",
        )),
        1 => Ok(parts.pop().expect("one part")),
        _ => Ok(Pred::And(parts)),
    }
}

/// FusionAuth's search answer.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchAnswer {
    pub total: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::User>))]
    pub users: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_results: Option<String>,
}

impl Identity {
    /// The tenant a search of `scope` covers: the caller's, or every tenant for a key that is
    /// not locked to one and names none.
    fn search_tenant(scope: Scope) -> Option<Uuid> {
        scope.tenant
    }

    /// One page of the users `search` selects in the caller's tenant.
    pub async fn search_users(&self, scope: Scope, mut search: Search) -> Result<SearchAnswer> {
        search.query.tenant = Self::search_tenant(scope);
        let page = self.store().search_users(&search.query).await?;
        let next_results = match page.last {
            Some(last) if page.more => Some(search.cursor(last)),
            _ => None,
        };
        Ok(SearchAnswer {
            total: page.total.unwrap_or_default(),
            users: page.users.iter().map(|u| u.user.redacted()).collect(),
            next_results,
        })
    }

    /// A page of an export: the users after `after`, unsorted beyond their ids, with their
    /// credentials (the caller decides whether to show them).
    pub async fn export_page(
        &self,
        scope: Scope,
        filter: &Pred,
        after: Option<After>,
        limit: u64,
    ) -> Result<UserPage> {
        let q = UserQuery {
            tenant: Self::search_tenant(scope),
            filter: filter.clone(),
            sort: Vec::new(),
            after,
            start_row: 0,
            limit,
            count: false,
        };
        Ok(self.store().search_users(&q).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_parse_as_millis_or_iso_8601() {
        assert_eq!(instant("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(instant("1970-01-01"), Some(0));
        assert_eq!(instant("2024-05-01T10:00:00Z"), Some(1_714_557_600_000));
        assert_eq!(
            instant("2024-05-01T12:00:00.5+02:00"),
            Some(1_714_557_600_500)
        );
        assert_eq!(instant("2024-05-01T10:00"), Some(1_714_557_600_000));
        for bad in ["yesterday", "2024-13-01", "2024-05-01T25:00", "2024-05-01X"] {
            assert_eq!(instant(bad), None, "{bad}");
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let s = Search::parse(SearchCriteria {
            query_string: Some("email:*@x.com".into()),
            sort_fields: Some(vec![SortField {
                name: "email".into(),
                order: Some("desc".into()),
                missing: None,
            }]),
            ..Default::default()
        })
        .unwrap();
        let token = s.cursor(After {
            keys: vec![KeyValue::Text("a@x.com".into())],
            id: Uuid::nil(),
        });
        let next = Search::parse(SearchCriteria {
            next_results: Some(token),
            number_of_results: Some(5),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(next.query.filter, s.query.filter);
        assert_eq!(next.query.sort, s.query.sort);
        assert_eq!(next.query.after.unwrap().id, Uuid::nil());
        let tampered = Cursor {
            query_string: Some("*".into()),
            query: None,
            ids: None,
            sort: next.query.sort.clone(),
            after: After {
                keys: vec![KeyValue::Int(5)],
                id: Uuid::nil(),
            },
        };
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&tampered).unwrap());
        assert!(Search::parse(SearchCriteria {
            next_results: Some(token),
            ..Default::default()
        })
        .is_err());
        assert!(Search::parse(SearchCriteria {
            next_results: Some("nope".into()),
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn limits_and_sorts_are_checked() {
        let bad = |c: SearchCriteria| Search::parse(c).is_err();
        let all = || SearchCriteria {
            query_string: Some("*".into()),
            ..Default::default()
        };
        assert!(bad(SearchCriteria {
            number_of_results: Some(10_001),
            ..all()
        }));
        assert!(bad(SearchCriteria {
            start_row: Some(-1),
            ..all()
        }));
        assert!(bad(SearchCriteria {
            sort_fields: Some(vec![SortField {
                name: "password".into(),
                ..Default::default()
            }]),
            ..all()
        }));
        assert!(bad(SearchCriteria::default()));
        assert!(bad(SearchCriteria {
            query_string: Some(vec!["email:a"; MAX_TERMS + 1].join(" OR ")),
            ..Default::default()
        }));
        assert!(bad(SearchCriteria {
            query_string: Some("email:a\0b".into()),
            ..Default::default()
        }));
        assert!(!bad(SearchCriteria {
            query_string: Some(format!("insertInstant:>{}", i64::MAX)),
            ..Default::default()
        }));
        assert!(!bad(all()));
    }
}
