//! FusionAuth's `search.query`: the common subset of Elasticsearch's query DSL, as a JSON
//! object or a string holding one — `bool` (`must`, `filter`, `should`, `must_not`), `match`,
//! `match_phrase`, `term`, `terms`, `range`, `wildcard`, `prefix`, `exists`, `match_all`,
//! `ids`, `query_string`, and `nested` on `registrations`. Anything else is an error naming it.

use super::{query_string, term_pred, value_of, Field, Kind, Pred, QueryError};
use serde_json::{Map, Value};

/// Deepest nesting accepted: the translation recurses.
const MAX_DEPTH: usize = 64;

/// The predicate of an Elasticsearch query (a JSON object, or a string holding one).
pub fn parse(q: &Value) -> Result<Pred, QueryError> {
    match q {
        Value::String(s) => {
            let v: Value = serde_json::from_str(s)
                .map_err(|e| QueryError::new(short(s), format!("is not JSON ({e})")))?;
            node(&v, 0, false)
        }
        v => node(v, 0, false),
    }
}

fn short(s: &str) -> String {
    s.chars().take(80).collect()
}

fn one_key(v: &Value, what: &str) -> Result<(String, Value), QueryError> {
    match v.as_object() {
        Some(m) if m.len() == 1 => {
            let (k, v) = m.iter().next().expect("one key");
            Ok((k.clone(), v.clone()))
        }
        _ => Err(QueryError::new(
            short(&v.to_string()),
            format!("is not {what} (an object with exactly one key)"),
        )),
    }
}

/// The field `name` names: registration fields only inside a `nested` query on
/// `registrations`, where they may drop the `registrations.` prefix.
fn field(name: &str, nested: bool) -> Result<Field, QueryError> {
    let full = if nested && !name.starts_with("registrations.") {
        format!("registrations.{name}")
    } else {
        name.to_string()
    };
    let f = Field::named(&full)
        .or_else(|| Field::named(name).filter(|_| !nested))
        .ok_or_else(|| {
            QueryError::new(
                name,
                format!("names the field [{name}], which search does not know"),
            )
        })?;
    if nested && !f.of_registration() {
        return Err(QueryError::new(
            name,
            "is not a registration field; a nested query on registrations tests applicationId and roles",
        ));
    }
    Ok(f)
}

/// A scalar query value as text.
fn scalar(v: &Value, term: &str) -> Result<String, QueryError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(QueryError::new(
            term,
            "compares with something other than a string, number or boolean",
        )),
    }
}

/// The value of a leaf query: `{"field": value}` or `{"field": {"<key>": value, ...}}`.
fn leaf(body: &Value, key: &str, what: &str) -> Result<(String, Value), QueryError> {
    let (name, v) = one_key(body, what)?;
    let v = match v {
        Value::Object(m) => m
            .get(key)
            .cloned()
            .ok_or_else(|| QueryError::new(&name, format!("has no [{key}]")))?,
        v => v,
    };
    Ok((name, v))
}

fn list(v: Option<&Value>, depth: usize, nested: bool) -> Result<Vec<Pred>, QueryError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(|q| node(q, depth, nested)).collect(),
        Some(q) => Ok(vec![node(q, depth, nested)?]),
    }
}

fn node(q: &Value, depth: usize, nested: bool) -> Result<Pred, QueryError> {
    if depth > MAX_DEPTH {
        return Err(QueryError::new("query", "nests deeper than 64 levels"));
    }
    let d = depth + 1;
    let (kind, body) = one_key(q, "a query")?;
    let term = format!("{kind}: {}", short(&body.to_string()));
    match kind.as_str() {
        "match_all" => Ok(Pred::All),
        "bool" => {
            let m: &Map<String, Value> = body
                .as_object()
                .ok_or_else(|| QueryError::new(&term, "is not an object"))?;
            for k in m.keys() {
                if !["must", "filter", "should", "must_not", "minimum_should_match", "boost"]
                    .contains(&k.as_str())
                {
                    return Err(QueryError::new(format!("bool.{k}"), "is not supported"));
                }
            }
            let mut all = list(m.get("must"), d, nested)?;
            all.extend(list(m.get("filter"), d, nested)?);
            let should = list(m.get("should"), d, nested)?;
            let must_not = list(m.get("must_not"), d, nested)?;
            let min = match m.get("minimum_should_match") {
                None => None,
                Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= 1) => n.as_u64(),
                Some(v) => {
                    return Err(QueryError::new(
                        format!("minimum_should_match: {v}"),
                        "is not supported (0 or 1 only)",
                    ))
                }
            };
            // As Elasticsearch: `should` is required when nothing else is, or when
            // `minimum_should_match` says so.
            let should_required = min.map_or(all.is_empty() && must_not.is_empty(), |n| n == 1);
            if !should.is_empty() && should_required {
                all.push(Pred::Or(should));
            }
            all.extend(must_not.into_iter().map(|p| Pred::Not(Box::new(p))));
            Ok(match all.len() {
                0 => Pred::All,
                1 => all.pop().expect("one"),
                _ => Pred::And(all),
            })
        }
        "match" | "match_phrase" | "term" => {
            let key = if kind == "term" { "value" } else { "query" };
            let (name, v) = leaf(&body, key, &kind)?;
            let f = field(&name, nested)?;
            let raw = scalar(&v, &term)?;
            term_pred(f, &raw, &term, false)
        }
        "terms" => {
            let m = body
                .as_object()
                .filter(|m| m.len() == 1)
                .ok_or_else(|| QueryError::new(&term, "is not an object naming one field"))?;
            let (name, vals) = m.iter().next().expect("one key");
            let f = field(name, nested)?;
            let vals = vals
                .as_array()
                .ok_or_else(|| QueryError::new(&term, "does not list its values"))?;
            if f.kind() == Kind::Instant {
                let preds = vals
                    .iter()
                    .map(|v| term_pred(f.clone(), &scalar(v, &term)?, &term, false))
                    .collect::<Result<Vec<_>, _>>()?;
                return Ok(Pred::Or(preds));
            }
            let vals = vals
                .iter()
                .map(|v| value_of(&f, &scalar(v, &term)?, &term))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Pred::In(f, vals))
        }
        "ids" => {
            let vals = body
                .get("values")
                .and_then(Value::as_array)
                .ok_or_else(|| QueryError::new(&term, "does not list its values"))?;
            let vals = vals
                .iter()
                .map(|v| value_of(&Field::Id, &scalar(v, &term)?, &term))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Pred::In(Field::Id, vals))
        }
        "wildcard" | "prefix" => {
            let (name, v) = leaf(&body, "value", &kind)?;
            let f = field(&name, nested)?;
            let mut raw = scalar(&v, &term)?;
            if kind == "prefix" {
                raw = raw.replace('*', "") + "*";
            }
            match f.kind() {
                Kind::Text | Kind::Exact => term_pred(f, &raw, &term, true),
                _ => Err(QueryError::new(&term, "puts a wildcard in a value that is not text")),
            }
        }
        "exists" => {
            let name = body
                .get("field")
                .and_then(Value::as_str)
                .ok_or_else(|| QueryError::new(&term, "does not name its field"))?;
            Ok(Pred::Exists(field(name, nested)?))
        }
        "range" => {
            let (name, v) = one_key(&body, "a range")?;
            let f = field(&name, nested)?;
            if f.kind() != Kind::Instant {
                return Err(QueryError::new(
                    &term,
                    "ranges over a field that is not insertInstant, lastUpdateInstant or lastLoginInstant",
                ));
            }
            let m = v
                .as_object()
                .ok_or_else(|| QueryError::new(&term, "is not an object of gt, gte, lt, lte"))?;
            let (mut lo, mut hi) = (None::<i64>, None::<i64>);
            for (op, bound) in m {
                let raw = scalar(bound, &term)?;
                let t = super::instant(&raw).ok_or_else(|| {
                    QueryError::new(&term, format!("has [{raw}], which is neither epoch milliseconds nor an ISO-8601 instant"))
                })?;
                match op.as_str() {
                    "gt" => lo = Some(lo.unwrap_or(i64::MIN).max(t.saturating_add(1))),
                    "gte" => lo = Some(lo.map_or(t, |l| l.max(t))),
                    "lt" => hi = Some(hi.unwrap_or(i64::MAX).min(t.saturating_sub(1))),
                    "lte" => hi = Some(hi.map_or(t, |h| h.min(t))),
                    "format" | "boost" | "time_zone" => {}
                    o => return Err(QueryError::new(format!("range.{o}"), "is not supported")),
                }
            }
            Ok(Pred::Range(f, lo, hi))
        }
        "nested" => {
            if nested {
                return Err(QueryError::new(&term, "nests a nested query"));
            }
            let path = body.get("path").and_then(Value::as_str);
            if path != Some("registrations") {
                return Err(QueryError::new(
                    &term,
                    "is a nested query on something other than registrations",
                ));
            }
            let inner = body
                .get("query")
                .ok_or_else(|| QueryError::new(&term, "has no query"))?;
            Ok(Pred::Registration(Box::new(node(inner, d, true)?)))
        }
        "query_string" => {
            if nested {
                return Err(QueryError::new(&term, "is not supported inside a nested query"));
            }
            let q = body
                .get("query")
                .and_then(Value::as_str)
                .ok_or_else(|| QueryError::new(&term, "has no query"))?;
            query_string::parse(q)
        }
        other => Err(QueryError::new(
            other,
            "is an Elasticsearch query search does not support; use bool, match, term, terms, range, wildcard, prefix, exists, ids, match_all, query_string or nested on registrations",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bool_queries_translate() {
        let app = "6f2c3c1e-6a4e-4d8e-9d3e-1c2b3a4d5e6f";
        let q = json!({"bool": {
            "must": [{"match": {"email": "A@X.com"}}],
            "must_not": {"term": {"active": false}},
            "filter": [{"nested": {"path": "registrations", "query": {"bool": {"must": [
                {"match": {"registrations.applicationId": app}},
                {"match": {"registrations.roles": "admin"}}]}}}}]
        }});
        assert_eq!(
            parse(&q).unwrap(),
            Pred::And(vec![
                Pred::Eq(Field::Email, "a@x.com".into()),
                Pred::Registration(Box::new(Pred::And(vec![
                    Pred::Eq(Field::RegistrationApplication, app.into()),
                    Pred::Eq(Field::RegistrationRole, "admin".into()),
                ]))),
                Pred::Not(Box::new(Pred::Eq(Field::Active, "false".into()))),
            ])
        );
        let s = parse(&Value::String(r#"{"bool":{"should":[{"wildcard":{"email":{"value":"*@x.com"}}},{"range":{"insertInstant":{"gte":5}}}]}}"#.into())).unwrap();
        assert_eq!(
            s,
            Pred::Or(vec![
                Pred::Like(Field::Email, "*@x.com".into()),
                Pred::Range(Field::InsertInstant, Some(5), None)
            ])
        );
    }

    #[test]
    fn unsupported_queries_are_named() {
        for (q, term) in [
            (json!({"fuzzy": {"email": "x"}}), "fuzzy"),
            (
                json!({"bool": {"must": [], "boost_mode": 1}}),
                "bool.boost_mode",
            ),
            (json!({"match": {"password": "x"}}), "password"),
            (
                json!({"nested": {"path": "registrations", "query": {"match": {"email": "x"}}}}),
                "email",
            ),
        ] {
            assert_eq!(parse(&q).expect_err(&q.to_string()).term, term);
        }
        assert!(parse(&Value::String("{nope".into())).is_err());
    }
}
