//! Extractors: the authenticated caller, JSON bodies and query strings with precise errors, and
//! ids from the path ([`PathId`], one JSON 400 for a malformed id on every route).

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::extract::{
    FromRequest, FromRequestParts, OptionalFromRequestParts, Path, Query, RawPathParams, Request,
};
use axum::http::request::Parts;
use axum::http::StatusCode;
use bytes::Bytes;
use portcullis_domain::{ApiKey, Errors, Scope};
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// Who is calling: the API key that authenticated the request and the tenant it acts in. Put in
/// the request by the auth layer; every handler under `/api` takes it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: ApiKey,
    pub scope: Scope,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> ApiResult<Self> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }
}

/// The caller of a route whose API key is optional: `None` when the request carried none.
impl<S: Send + Sync> OptionalFromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> ApiResult<Option<Self>> {
        Ok(parts.extensions.get::<Caller>().cloned())
    }
}

fn too_large(state: &AppState) -> ApiError {
    ApiError::general(
        StatusCode::PAYLOAD_TOO_LARGE,
        "[RequestTooLarge]",
        format!(
            "The request body is over this endpoint's size limit ({} bytes; {} for /api/user/import and /api/user/import/job). Split the file into smaller batches (up to 100,000 users each) and send them one by one, or queue a larger file as a job: POST /api/user/import/job with {{\"file\": \"/path/on/the/server.json\"}}.",
            state.config.max_body_bytes, state.config.max_import_bytes
        ),
    )
}

/// The body's bytes within the route's limit: over it is a 413 with a JSON error that says what
/// to do, never a bare text answer.
async fn body_bytes(req: Request, state: &AppState) -> ApiResult<Bytes> {
    Bytes::from_request(req, state).await.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(state)
        } else {
            ApiError::general(StatusCode::BAD_REQUEST, "[invalidRequest]", rej.body_text())
        }
    })
}

/// An import request's body, kept in the chunks it arrived in (so the import frees them as it
/// parses), with its share of the node's import budget, held until the request ends. The share
/// is taken before the body is read: a request the node cannot hold now is a 503 with
/// `Retry-After` before its bytes take any memory.
pub struct ImportJson {
    pub body: portcullis_domain::import::ImportBody,
    pub share: Vec<portcullis_domain::import::BudgetShare>,
}

/// The share an import without a `Content-Length` takes at first, and again each time its body
/// outgrows what it holds.
const UNDECLARED_STEP: usize = 8 * 1024 * 1024;

impl FromRequest<AppState> for ImportJson {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &AppState) -> ApiResult<Self> {
        use futures_util::StreamExt;
        let limit = state.config.max_import_bytes;
        let declared = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut chunks = req.into_body().into_data_stream();
        if declared.is_some_and(|n| n > limit) {
            // Read up to the limit before answering, as a limited body read does: a client
            // still sending its body then reads the 413 instead of a broken connection.
            let mut read = 0;
            while let Some(Ok(chunk)) = chunks.next().await {
                read += chunk.len();
                if read > limit {
                    break;
                }
            }
            return Err(too_large(state));
        }
        let budget = state.identity.import_budget();
        let mut held = declared.unwrap_or(UNDECLARED_STEP);
        let mut share = vec![budget.take(held).await?];
        let mut body = portcullis_domain::import::ImportBody::new();
        if let Some(hook) = budget.release_hook() {
            body.on_freed(hook);
        }
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::general(StatusCode::BAD_REQUEST, "[invalidRequest]", e.to_string())
            })?;
            if body.len() + chunk.len() > limit {
                return Err(too_large(state));
            }
            body.push(chunk);
            if body.len() > held {
                share.push(budget.take(UNDECLARED_STEP).await?);
                held += UNDECLARED_STEP;
            }
        }
        Ok(ImportJson { body, share })
    }
}

/// A JSON body. Malformed JSON is a 400 naming the line and column; a body over the limit is a
/// 413 with a JSON error, never a bare text answer.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &AppState) -> ApiResult<Self> {
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The raw body, with the same limit answer as [`JsonBody`], for handlers that parse it in
/// more than one way.
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &AppState) -> ApiResult<Self> {
        body_bytes(req, state).await.map(RawBody)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "The JSON does not have the expected shape",
            _ => "Unable to parse the request body as JSON",
        };
        ApiError::bad_request(Errors::default().general(
            "[invalidJSON]",
            // serde_json's message already ends with "at line L column C".
            format!("{what}: {e}."),
        ))
    })
}

/// Parses an id as a UUID: a malformed one is a 400 naming it in `fieldErrors`, on every route
/// and for ids in query strings alike.
pub fn uuid(segment: &str, name: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(segment).map_err(|_| {
        ApiError::bad_request(Errors::default().field(
            name,
            &format!("[invalid]{name}"),
            format!("[{segment}] is not a valid UUID."),
        ))
    })
}

/// The ids of the request's path, parsed by their names in the route template: `PathId<Uuid>`
/// for `/api/user/{userId}`, `PathId<(Uuid, Uuid)>` for `.../{userId}/{applicationId}`,
/// `PathId<Option<Uuid>>` for a handler serving `POST /api/user` and `POST /api/user/{userId}`.
/// A malformed id is the 400 of [`uuid()`], whatever the route.
pub struct PathId<T>(pub T);

/// What a [`PathId`] can hold, built from the path's `(name, value)` pairs.
pub trait FromPathIds: Sized {
    fn from_path_ids(params: &[(&str, &str)]) -> ApiResult<Self>;
}

impl FromPathIds for Uuid {
    fn from_path_ids(params: &[(&str, &str)]) -> ApiResult<Self> {
        match params {
            [(name, value)] => uuid(value, name),
            _ => Err(route_mismatch(params)),
        }
    }
}

impl FromPathIds for Option<Uuid> {
    fn from_path_ids(params: &[(&str, &str)]) -> ApiResult<Self> {
        match params {
            [] => Ok(None),
            [(name, value)] => uuid(value, name).map(Some),
            _ => Err(route_mismatch(params)),
        }
    }
}

impl FromPathIds for (Uuid, Uuid) {
    fn from_path_ids(params: &[(&str, &str)]) -> ApiResult<Self> {
        match params {
            [(n1, v1), (n2, v2)] => Ok((uuid(v1, n1)?, uuid(v2, n2)?)),
            _ => Err(route_mismatch(params)),
        }
    }
}

/// A handler asked for more or fewer ids than its route names: a wiring mistake, answered as a
/// server error rather than guessed around.
fn route_mismatch(params: &[(&str, &str)]) -> ApiError {
    tracing::error!(params = ?params, "a handler's path ids do not match its route");
    ApiError::general(
        StatusCode::INTERNAL_SERVER_ERROR,
        "[InternalError]",
        "The server could not complete the request; nothing was changed. See the server log.",
    )
}

impl<S: Send + Sync, T: FromPathIds> FromRequestParts<S> for PathId<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rej| ApiError::general(rej.status(), "[invalid]path", rej.body_text()))?;
        let params: Vec<(&str, &str)> = raw.iter().collect();
        T::from_path_ids(&params).map(PathId)
    }
}

/// A path segment that is a name, not a UUID (a signing key's `kid`, a change-password id),
/// with the same JSON 400 as [`PathId`] for a segment that is not UTF-8.
pub struct PathName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathName {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let Path(name) = <Path<String> as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map_err(|rej| {
                ApiError::bad_request(Errors::default().general("[invalid]path", rej.body_text()))
            })?;
        Ok(PathName(name))
    }
}

/// Query parameters with a JSON 400 (`[invalid]query`) for a value of the wrong type, as every
/// other input error.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| QueryParams(q))
            .map_err(|rej| {
                ApiError::bad_request(Errors::default().general("[invalid]query", rej.body_text()))
            })
    }
}
