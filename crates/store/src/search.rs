//! The SQL of user search: the domain's predicate tree ([`Pred`]) as a `WHERE` condition over
//! `users` for either dialect, every value a bound parameter; the sort and keyset cursor of a
//! page; and the page itself, read with its users' registrations and memberships.
//!
//! Under a `NOT`, a leaf whose `expr` can be NULL is `expr IS NOT NULL AND <comparison>`, so it
//! is never NULL and `NOT` selects exactly the users the leaf does not (a user without a
//! `connectorId` matches `NOT connectorId:<id>`). Outside any `NOT` the comparison stands alone:
//! there, AND and OR treat a NULL leaf as a false one, and the JSON is read once a row, not twice. Emails, usernames, tenants and insert instants compare on
//! their columns (indexed); the other fields read the JSON body, `lastLoginInstant` and
//! `lastUpdateInstant` through expression indexes (migration `0012_search`).

use super::{bulk, Arg, Dialect, SqlStore};
use portcullis_domain::search::{
    After, Field, KeyValue, Kind, Pred, Sort, SortKey, UserPage, UserQuery,
};
use portcullis_domain::{StoreResult, StoredUser, User};
use std::collections::HashMap;
use uuid::Uuid;

/// Ids per statement when the page's registrations and memberships are read.
const CHILD_CHUNK: usize = 500;

/// A condition under construction: its parameters, numbered from `$1` after `args`.
pub(crate) struct Cond {
    dialect: Dialect,
    pub(crate) args: Vec<Arg>,
    /// Whether the node being written is under an odd number of `NOT`s.
    negated: bool,
    /// The placeholder of the search's tenant, when it has one.
    tenant: Option<String>,
}

/// Where a leaf is evaluated: on a `users` row, or on a row `r` of `registrations` (inside a
/// `nested` query).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    User,
    Registration,
}

/// How a leaf compares its expression.
enum Cmp<'a> {
    Eq(&'a str),
    In(&'a [String]),
    Like(&'a str),
    Range(Option<i64>, Option<i64>),
    Exists,
}

impl Cond {
    pub(crate) fn new(dialect: Dialect, args: Vec<Arg>) -> Self {
        Cond {
            dialect,
            args,
            negated: false,
            tenant: None,
        }
    }

    fn arg(&mut self, a: impl Into<Arg>) -> String {
        self.args.push(a.into());
        format!("${}", self.args.len())
    }

    /// The condition of `p` on a `users` row (the table named `users`, not aliased).
    pub(crate) fn pred(&mut self, p: &Pred) -> String {
        self.node(p, Ctx::User)
    }

    fn node(&mut self, p: &Pred, ctx: Ctx) -> String {
        match p {
            Pred::All => "1 = 1".into(),
            Pred::And(ps) | Pred::Or(ps) if ps.is_empty() => if matches!(p, Pred::And(_)) {
                "1 = 1"
            } else {
                "1 = 0"
            }
            .into(),
            Pred::And(ps) => self.join(ps, ctx, " AND "),
            Pred::Or(ps) => self.join(ps, ctx, " OR "),
            Pred::Not(p) => {
                self.negated = !self.negated;
                let c = self.node(p, ctx);
                self.negated = !self.negated;
                format!("NOT ({c})")
            }
            Pred::Registration(inner) => {
                // EXISTS is never NULL: inside it, the subquery's condition starts un-negated.
                let outer = std::mem::replace(&mut self.negated, false);
                let c = self.node(inner, Ctx::Registration);
                self.negated = outer;
                format!("EXISTS (SELECT 1 FROM registrations r WHERE r.user_id = users.id AND {c})")
            }
            Pred::Eq(f, v) => self.leaf(f, Cmp::Eq(v), ctx),
            Pred::In(f, vs) => self.leaf(f, Cmp::In(vs), ctx),
            Pred::Like(f, v) => self.leaf(f, Cmp::Like(v), ctx),
            Pred::Range(f, lo, hi) => self.leaf(f, Cmp::Range(*lo, *hi), ctx),
            Pred::Exists(f) => self.leaf(f, Cmp::Exists, ctx),
        }
    }

    fn join(&mut self, ps: &[Pred], ctx: Ctx, op: &str) -> String {
        let parts: Vec<String> = ps
            .iter()
            .map(|p| format!("({})", self.node(p, ctx)))
            .collect();
        parts.join(op)
    }

    fn leaf(&mut self, f: &Field, cmp: Cmp<'_>, ctx: Ctx) -> String {
        match f {
            Field::RegistrationApplication | Field::RegistrationRole if ctx == Ctx::User => {
                let c = self.leaf(f, cmp, Ctx::Registration);
                format!("EXISTS (SELECT 1 FROM registrations r WHERE r.user_id = users.id AND {c})")
            }
            Field::RegistrationApplication => self.compare("r.application_id", false, f, cmp),
            Field::RegistrationRole => {
                let (from, value) = match self.dialect {
                    Dialect::Sqlite => ("json_each(r.body, '$.roles') e", "e.value"),
                    Dialect::Postgres => (
                        "jsonb_array_elements_text(CAST(r.body AS JSONB) -> 'roles') e(v)",
                        "e.v",
                    ),
                };
                let c = match cmp {
                    Cmp::Exists => "1 = 1".to_string(),
                    cmp => self.compare(value, false, f, cmp),
                };
                format!("EXISTS (SELECT 1 FROM {from} WHERE {c})")
            }
            Field::MembershipGroup => {
                let c = match cmp {
                    Cmp::Exists => "1 = 1".to_string(),
                    cmp => self.compare("m.group_id", false, f, cmp),
                };
                format!("EXISTS (SELECT 1 FROM group_members m WHERE m.user_id = users.id AND {c})")
            }
            _ => {
                let (expr, nullable) = self.expr(f);
                // An instant's range keeps its `IS NOT NULL` outside a NOT too: with it,
                // PostgreSQL's planner expects fewer rows and reads the expression index, where
                // without it a scan casts every user's JSON.
                let two_valued = self.negated || f.kind() == Kind::Instant;
                self.compare(&expr, nullable && two_valued, f, cmp)
            }
        }
    }

    /// The SQL of a user field and whether it can be NULL.
    fn expr(&mut self, f: &Field) -> (String, bool) {
        let text = |key: &str| match self.dialect {
            Dialect::Sqlite => format!("json_extract(users.body, '$.{key}')"),
            Dialect::Postgres => format!("(CAST(users.body AS JSONB) ->> '{key}')"),
        };
        match f {
            Field::Id => ("users.id".into(), false),
            Field::TenantId => ("users.tenant_id".into(), false),
            Field::InsertInstant => ("users.insert_instant".into(), false),
            Field::Email => ("users.email_lower".into(), true),
            Field::Username => ("users.username_lower".into(), true),
            Field::FirstName => (format!("LOWER({})", text("firstName")), true),
            Field::LastName => (format!("LOWER({})", text("lastName")), true),
            Field::FullName => (format!("LOWER({})", text("fullName")), true),
            Field::MobilePhone => (text("mobilePhone"), true),
            Field::ConnectorId => (text("connectorId"), true),
            Field::Active | Field::Verified => {
                let key = if *f == Field::Active {
                    "active"
                } else {
                    "verified"
                };
                match self.dialect {
                    Dialect::Sqlite => (format!("json_type(users.body, '$.{key}')"), true),
                    Dialect::Postgres => (text(key), true),
                }
            }
            Field::LastUpdateInstant => (instant_expr(self.dialect, "lastUpdateInstant"), true),
            Field::LastLoginInstant => (instant_expr(self.dialect, "lastLoginInstant"), true),
            Field::Data(path) => {
                let e = match self.dialect {
                    Dialect::Sqlite => {
                        // Each segment quoted: keys may hold `-` and `$`.
                        let quoted: String = path.iter().map(|s| format!(".\"{s}\"")).collect();
                        let p = self.arg(format!("$.\"data\"{quoted}"));
                        format!("(CASE json_type(users.body, {p}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'null' THEN NULL ELSE CAST(json_extract(users.body, {p}) AS TEXT) END)")
                    }
                    Dialect::Postgres => {
                        let p = self.arg(format!("data.{}", path.join(".")));
                        format!("(CAST(users.body AS JSONB) #>> string_to_array({p}, '.'))")
                    }
                };
                (e, true)
            }
            Field::RegistrationApplication | Field::RegistrationRole | Field::MembershipGroup => {
                unreachable!("registration and membership fields are compared in their own tables")
            }
        }
    }

    /// For a pattern that starts with text on an email or username column, the range of that
    /// start (`>= 'ab' AND < 'ac'`) in code-point order, which the columns' indexes serve: a
    /// LIKE alone reads every row (SQLite's LIKE ignores ASCII case, PostgreSQL's needs the C
    /// collation, and neither plans a bound pattern's start). The LIKE stays beside it and
    /// decides; the range only narrows what it reads.
    fn prefix_range(&mut self, expr: &str, pattern: &str) -> Option<String> {
        if expr != "users.email_lower" && expr != "users.username_lower" {
            return None;
        }
        let prefix: String = pattern.chars().take_while(|c| *c != '*').collect();
        let last = prefix.chars().last()?;
        let next = char::from_u32(last as u32 + 1)?;
        let mut upper = prefix[..prefix.len() - last.len_utf8()].to_string();
        upper.push(next);
        // On PostgreSQL the columns' C-collated indexes (migration `0014`): code-point order
        // whatever the database's collation.
        let (lo, hi) = (self.arg(prefix), self.arg(upper));
        Some(match self.dialect {
            // SQLite's indexes of the two columns lead with the tenant, and SQLite reads each
            // side of an OR by index only when that side names the tenant itself; every user
            // has a tenant, so over all of them the tenant is any tenant.
            Dialect::Sqlite => {
                let tenant = match &self.tenant {
                    Some(t) => format!("users.tenant_id = {t}"),
                    None => "users.tenant_id IN (SELECT id FROM tenants)".into(),
                };
                format!("{tenant} AND {expr} >= {lo} AND {expr} < {hi}")
            }
            Dialect::Postgres => {
                let col = format!("({expr} COLLATE \"C\")");
                format!("{col} >= {lo} AND {col} < {hi}")
            }
        })
    }

    fn compare(&mut self, expr: &str, nullable: bool, f: &Field, cmp: Cmp<'_>) -> String {
        let instant = f.kind() == Kind::Instant;
        let c = match cmp {
            Cmp::Exists => return format!("{expr} IS NOT NULL"),
            Cmp::Eq(v) => {
                let p = if instant {
                    self.arg(v.parse::<i64>().unwrap_or_default())
                } else {
                    self.arg(v.to_string())
                };
                format!("{expr} = {p}")
            }
            Cmp::In([]) => return "1 = 0".into(),
            Cmp::In(vs) => {
                let ps: Vec<String> = vs.iter().map(|v| self.arg(v.clone())).collect();
                format!("{expr} IN ({})", ps.join(", "))
            }
            Cmp::Like(pattern) => {
                if self.dialect == Dialect::Sqlite && f.kind() == Kind::Exact {
                    // SQLite's LIKE ignores case; GLOB does not, as PostgreSQL's LIKE.
                    let p = self.arg(glob(pattern));
                    format!("{expr} GLOB {p}")
                } else {
                    let p = self.arg(like(pattern));
                    let like = format!("{expr} LIKE {p} ESCAPE '\\'");
                    match self.prefix_range(expr, pattern) {
                        Some(range) => format!("{range} AND {like}"),
                        None => like,
                    }
                }
            }
            Cmp::Range(lo, hi) => {
                let mut parts = Vec::new();
                if let Some(lo) = lo {
                    parts.push(format!("{expr} >= {}", self.arg(lo)));
                }
                if let Some(hi) = hi {
                    parts.push(format!("{expr} <= {}", self.arg(hi)));
                }
                if parts.is_empty() {
                    return format!("{expr} IS NOT NULL");
                }
                parts.join(" AND ")
            }
        };
        if nullable {
            format!("({expr} IS NOT NULL AND {c})")
        } else {
            format!("({c})")
        }
    }
}

fn instant_expr(dialect: Dialect, key: &str) -> String {
    match dialect {
        Dialect::Sqlite => format!("json_extract(users.body, '$.{key}')"),
        Dialect::Postgres => format!("CAST(CAST(users.body AS JSONB) ->> '{key}' AS BIGINT)"),
    }
}

/// A `*` pattern as a LIKE pattern (escape `\`).
fn like(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '*' => out.push('%'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A `*` pattern as a GLOB pattern (SQLite's case-sensitive match).
fn glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '?' | '[' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

/// The SQL of a sort key.
fn sort_expr(dialect: Dialect, key: SortKey) -> String {
    let text = |k: &str| match dialect {
        Dialect::Sqlite => format!("LOWER(json_extract(users.body, '$.{k}'))"),
        Dialect::Postgres => format!("LOWER(CAST(users.body AS JSONB) ->> '{k}')"),
    };
    match key {
        SortKey::Id => "users.id".into(),
        SortKey::Email => "users.email_lower".into(),
        SortKey::Username => "users.username_lower".into(),
        SortKey::FirstName => text("firstName"),
        SortKey::LastName => text("lastName"),
        SortKey::FullName => text("fullName"),
        SortKey::InsertInstant => "users.insert_instant".into(),
        SortKey::LastUpdateInstant => instant_expr(dialect, "lastUpdateInstant"),
        SortKey::LastLoginInstant => instant_expr(dialect, "lastLoginInstant"),
    }
}

impl Cond {
    /// The condition selecting the rows after `after` in `sort` order (then by id).
    fn after(&mut self, sort: &[Sort], after: &After) -> String {
        let mut ors = Vec::new();
        let mut equal: Vec<String> = Vec::new();
        for (i, s) in sort.iter().enumerate() {
            let k = sort_expr(self.dialect, s.key);
            let v = after.keys.get(i).cloned().unwrap_or(KeyValue::Null);
            let (beyond, same) = match v {
                KeyValue::Null => (
                    s.missing_first.then(|| format!("{k} IS NOT NULL")),
                    format!("{k} IS NULL"),
                ),
                v => {
                    let p = match v {
                        KeyValue::Int(n) => self.arg(n),
                        KeyValue::Text(t) => self.arg(t),
                        KeyValue::Null => unreachable!(),
                    };
                    let op = if s.desc { "<" } else { ">" };
                    let beyond = if s.missing_first {
                        format!("{k} {op} {p}")
                    } else {
                        format!("({k} {op} {p} OR {k} IS NULL)")
                    };
                    (Some(beyond), format!("{k} = {p}"))
                }
            };
            if let Some(b) = beyond {
                let mut conj = equal.clone();
                conj.push(b);
                ors.push(format!("({})", conj.join(" AND ")));
            }
            equal.push(same);
        }
        let id = self.arg(after.id.to_string());
        equal.push(format!("users.id > {id}"));
        ors.push(format!("({})", equal.join(" AND ")));
        ors.join(" OR ")
    }
}

fn order_by(dialect: Dialect, sort: &[Sort]) -> String {
    let mut parts: Vec<String> = sort
        .iter()
        .map(|s| {
            format!(
                "{} {} NULLS {}",
                sort_expr(dialect, s.key),
                if s.desc { "DESC" } else { "ASC" },
                if s.missing_first { "FIRST" } else { "LAST" }
            )
        })
        .collect();
    parts.push("users.id ASC".into());
    parts.join(", ")
}

impl SqlStore {
    pub(crate) async fn search_users_page(&self, q: &UserQuery) -> StoreResult<UserPage> {
        let mut c = Cond::new(self.dialect, Vec::new());
        // The tenant is written only when there is one: `$n IS NULL OR tenant_id = $n` would
        // keep SQLite's planner, which plans before it sees the value, off the tenant's indexes.
        let tenant = q.tenant.map(|t| c.arg(t.to_string()));
        c.tenant = tenant.clone();
        let filter = c.pred(&q.filter);
        let base = match tenant {
            Some(t) => format!("users.tenant_id = {t} AND ({filter})"),
            None => format!("({filter})"),
        };
        let total = if q.count {
            let rows = self
                .db
                .read(
                    &format!("SELECT COUNT(*) AS n FROM users WHERE {base}"),
                    &c.args,
                )
                .await?;
            Some(match rows.first() {
                Some(r) => r.get::<i64>("n")? as u64,
                None => 0,
            })
        } else {
            None
        };
        if q.limit == 0 {
            return Ok(UserPage {
                total,
                ..UserPage::default()
            });
        }
        let mut cond = base;
        if let Some(after) = &q.after {
            cond = format!("{cond} AND ({})", c.after(&q.sort, after));
        }
        let keys: String = q
            .sort
            .iter()
            .enumerate()
            .map(|(i, s)| format!(", {} AS k{i}", sort_expr(self.dialect, s.key)))
            .collect();
        let sql = format!(
            "SELECT users.id AS id, users.body AS body, users.pw_scheme AS pw_scheme, \
             users.pw_factor AS pw_factor, users.pw_salt AS pw_salt, users.pw_hash AS pw_hash{keys} \
             FROM users WHERE {cond} ORDER BY {} LIMIT {} OFFSET {}",
            order_by(self.dialect, &q.sort),
            q.limit + 1,
            q.start_row
        );
        let mut rows = self.db.read(&sql, &c.args).await?;
        let more = rows.len() as u64 > q.limit;
        rows.truncate(q.limit as usize);
        let mut users = Vec::with_capacity(rows.len());
        let mut last = None;
        for row in &rows {
            let mut u: User = super::body(row)?;
            u.registrations.clear();
            u.memberships.clear();
            let id: String = row.get("id")?;
            let mut key_values = Vec::with_capacity(q.sort.len());
            for (i, s) in q.sort.iter().enumerate() {
                let col = format!("k{i}");
                key_values.push(if s.key.is_instant() {
                    row.get::<Option<i64>>(&col)?
                        .map_or(KeyValue::Null, KeyValue::Int)
                } else {
                    row.get::<Option<String>>(&col)?
                        .map_or(KeyValue::Null, KeyValue::Text)
                });
            }
            last = Some(After {
                keys: key_values,
                id: Uuid::parse_str(&id).map_err(super::backend)?,
            });
            users.push(StoredUser {
                credential: bulk::credential_of(row)?,
                user: u,
            });
        }
        self.fill_children(&mut users).await?;
        Ok(UserPage {
            total,
            users,
            last,
            more,
        })
    }

    /// Reads the registrations and memberships of `users`, a few hundred users per statement.
    async fn fill_children(&self, users: &mut [StoredUser]) -> StoreResult<()> {
        let index: HashMap<String, usize> = users
            .iter()
            .enumerate()
            .filter_map(|(i, u)| u.user.id.map(|id| (id.to_string(), i)))
            .collect();
        let ids: Vec<String> = index.keys().cloned().collect();
        for chunk in ids.chunks(CHILD_CHUNK) {
            let list = bulk::in_list(chunk.len(), 1);
            let args: Vec<Arg> = chunk.iter().map(|i| Arg::from(i.clone())).collect();
            let sql = format!(
                "SELECT CAST(1 AS BIGINT) AS part, user_id, id, body FROM registrations WHERE user_id IN ({list}) \
                 UNION ALL SELECT CAST(2 AS BIGINT), user_id, id, body FROM group_members WHERE user_id IN ({list}) \
                 ORDER BY 1, 2, 3"
            );
            for row in self.db.read(&sql, &args).await? {
                let user_id: String = row.get("user_id")?;
                let Some(&i) = index.get(&user_id) else {
                    continue;
                };
                match row.get::<i64>("part")? {
                    1 => users[i].user.registrations.push(super::body(&row)?),
                    _ => users[i].user.memberships.push(super::body(&row)?),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_escape_what_they_do_not_mean() {
        assert_eq!(like("*a_b%c*"), "%a\\_b\\%c%");
        assert_eq!(glob("a?[*"), "a[?][[]*");
    }

    #[test]
    fn values_are_parameters_never_inlined() {
        let mut c = Cond::new(Dialect::Postgres, Vec::new());
        let sql = c.pred(&Pred::And(vec![
            Pred::Eq(Field::Email, "x' OR 1=1 --".into()),
            Pred::Eq(Field::Data(vec!["a".into()]), "y".into()),
        ]));
        assert!(!sql.contains("OR 1=1"), "{sql}");
        assert_eq!(c.args.len(), 3);
    }
}
