//! `/api/user/search` (FusionAuth's User Search: POST with `{"search": {...}}`, GET with the
//! same criteria as query parameters) and `/api/user/export` (ours: every matching user as
//! NDJSON, read page by page with the keyset cursor so memory stays bounded).

use crate::error::{ApiError, ApiResult};
use crate::extract::{uuid, Caller, JsonBody, QueryParams};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use portcullis_domain::search::{
    After, Search, SearchAnswer, SearchCriteria, SearchRequest, SortField,
};
use portcullis_domain::{Errors, Identity, Scope, StoredUser};
use serde_json::Value;

/// Users per page an export reads.
const EXPORT_PAGE: u64 = 500;

/// `POST /api/user/search`.
pub async fn post(
    State(s): State<AppState>,
    c: Caller,
    JsonBody(req): JsonBody<SearchRequest>,
) -> ApiResult<Json<SearchAnswer>> {
    let search = Search::parse(req.search)?;
    Ok(Json(s.identity.search_users(c.scope, search).await?))
}

/// `GET /api/user/search?queryString=...&numberOfResults=...`.
pub async fn get(
    State(s): State<AppState>,
    c: Caller,
    QueryParams(pairs): QueryParams<Vec<(String, String)>>,
) -> ApiResult<Json<SearchAnswer>> {
    let (criteria, _) = criteria_of(pairs)?;
    let search = Search::parse(criteria)?;
    Ok(Json(s.identity.search_users(c.scope, search).await?))
}

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(Errors::default().field(field, &format!("[invalid]{field}"), message))
}

fn int(field: &str, v: &str) -> ApiResult<i64> {
    v.trim()
        .parse()
        .map_err(|_| bad(field, format!("[{v}] is not an integer.")))
}

fn flag(field: &str, v: &str) -> ApiResult<bool> {
    v.trim()
        .parse()
        .map_err(|_| bad(field, format!("[{v}] is not true or false.")))
}

/// The search criteria of GET query parameters (each with or without FusionAuth's `search.`
/// prefix; `sortFields[0].name=email`), and `includeCredentials`.
fn criteria_of(pairs: Vec<(String, String)>) -> ApiResult<(SearchCriteria, bool)> {
    let mut c = SearchCriteria::default();
    let mut credentials = false;
    let mut sorts: Vec<SortField> = Vec::new();
    for (k, v) in pairs {
        let key = k.strip_prefix("search.").unwrap_or(&k);
        match key {
            "queryString" => c.query_string = Some(v),
            "query" => c.query = Some(Value::String(v)),
            "ids" | "userId" | "id" => {
                let ids = c.ids.get_or_insert_with(Vec::new);
                for one in v.split(',').filter(|x| !x.trim().is_empty()) {
                    ids.push(uuid(one.trim(), "search.ids")?);
                }
            }
            "numberOfResults" => c.number_of_results = Some(int("search.numberOfResults", &v)?),
            "startRow" => c.start_row = Some(int("search.startRow", &v)?),
            "accurateTotal" => c.accurate_total = Some(flag("search.accurateTotal", &v)?),
            "nextResults" => c.next_results = Some(v),
            "includeCredentials" => credentials = flag("includeCredentials", &v)?,
            "sortFields" => {
                // `sortFields=email:desc,insertInstant` as a shorthand.
                for part in v.split(',').filter(|p| !p.is_empty()) {
                    let (name, order) = part.split_once(':').unwrap_or((part, "asc"));
                    sorts.push(SortField {
                        name: name.to_string(),
                        order: Some(order.to_string()),
                        missing: None,
                    });
                }
            }
            k if k.starts_with("sortFields[") => {
                let rest = &k["sortFields[".len()..];
                let (i, prop) = rest
                    .split_once("].")
                    .and_then(|(i, p)| Some((i.parse::<usize>().ok()?, p)))
                    .filter(|(i, _)| *i < 16)
                    .ok_or_else(|| {
                        bad("search.sortFields", format!("[{k}] is not of the form sortFields[N].name, .order or .missing (N below 16)."))
                    })?;
                if sorts.len() <= i {
                    sorts.resize(i + 1, SortField::default());
                }
                match prop {
                    "name" => sorts[i].name = v,
                    "order" => sorts[i].order = Some(v),
                    "missing" => sorts[i].missing = Some(v),
                    _ => {
                        return Err(bad(
                            "search.sortFields",
                            format!(
                                "[{k}] is not of the form sortFields[N].name, .order or .missing."
                            ),
                        ))
                    }
                }
            }
            _ => {}
        }
    }
    if !sorts.is_empty() {
        c.sort_fields = Some(sorts);
    }
    Ok((c, credentials))
}

/// Whether the caller's key may see password hashes: not locked to a tenant and with no
/// endpoint restrictions (a superuser key).
fn may_export_credentials(c: &Caller) -> bool {
    c.key.tenant_id.is_none() && c.key.permissions.endpoints.is_empty()
}

/// `GET /api/user/export?queryString=...&includeCredentials=true`.
pub async fn export_get(
    State(s): State<AppState>,
    c: Caller,
    QueryParams(pairs): QueryParams<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let (criteria, credentials) = criteria_of(pairs)?;
    export(s, c, criteria, credentials).await
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportQuery {
    #[serde(default)]
    include_credentials: Option<String>,
}

/// `POST /api/user/export` with the search body.
pub async fn export_post(
    State(s): State<AppState>,
    c: Caller,
    QueryParams(q): QueryParams<ExportQuery>,
    JsonBody(req): JsonBody<SearchRequest>,
) -> ApiResult<Response> {
    let credentials = match q.include_credentials.as_deref() {
        Some(v) => flag("includeCredentials", v)?,
        None => false,
    };
    export(s, c, req.search, credentials).await
}

/// One NDJSON line: the user as `GET /api/user/{id}` answers it, with (when asked) the
/// credential in FusionAuth's import fields, so an export loads back through the import.
fn line(u: &StoredUser, credentials: bool) -> Vec<u8> {
    let mut v = u.user.redacted();
    if let (true, Some(cred), Some(m)) = (credentials, &u.credential, v.as_object_mut()) {
        m.insert("encryptionScheme".into(), cred.scheme.clone().into());
        m.insert("factor".into(), cred.factor.into());
        m.insert("salt".into(), cred.salt.clone().into());
        m.insert("password".into(), cred.hash.clone().into());
    }
    let mut out = serde_json::to_vec(&v).expect("users serialize");
    out.push(b'\n');
    out
}

async fn export(
    s: AppState,
    c: Caller,
    criteria: SearchCriteria,
    credentials: bool,
) -> ApiResult<Response> {
    if credentials && !may_export_credentials(&c) {
        return Err(ApiError::general(
            StatusCode::FORBIDDEN,
            "[forbidden]includeCredentials",
            "includeCredentials=true needs a superuser API key (no tenant, no endpoint restrictions).",
        ));
    }
    let search = Search::parse(criteria)?;
    let filter = search.query.filter.clone();
    // The first page before the answer starts, so a failing store is an error status.
    let first = s
        .identity
        .export_page(c.scope, &filter, None, EXPORT_PAGE)
        .await?;
    struct State {
        identity: Identity,
        scope: Scope,
        filter: portcullis_domain::search::Pred,
        next: Option<After>,
        page: Option<portcullis_domain::search::UserPage>,
        credentials: bool,
    }
    let state = State {
        identity: s.identity.clone(),
        scope: c.scope,
        filter,
        next: None,
        page: Some(first),
        credentials,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        let page = match st.page.take() {
            Some(p) => p,
            None => {
                let after = st.next.take()?;
                match st
                    .identity
                    .export_page(st.scope, &st.filter, Some(after), EXPORT_PAGE)
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "user export stopped");
                        return Some((Err(std::io::Error::other(e.to_string())), st));
                    }
                }
            }
        };
        st.next = if page.more { page.last.clone() } else { None };
        let mut bytes = Vec::new();
        for u in &page.users {
            bytes.extend(line(u, st.credentials));
        }
        if bytes.is_empty() && st.next.is_none() {
            return None;
        }
        Some((Ok::<_, std::io::Error>(Bytes::from(bytes)), st))
    });
    Ok((
        [(CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}
