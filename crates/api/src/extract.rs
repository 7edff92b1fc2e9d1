//! Extractors: the authenticated caller, JSON bodies with precise errors, and ids from the path.

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
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

/// The body's bytes within the route's limit: over it is a 413 with a JSON error that says what
/// to do, never a bare text answer.
async fn body_bytes(req: Request, state: &AppState) -> ApiResult<Bytes> {
    Bytes::from_request(req, state).await.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::general(
                StatusCode::PAYLOAD_TOO_LARGE,
                "[RequestTooLarge]",
                format!(
                    "The request body is over this endpoint's size limit ({} bytes; {} for /api/user/import and /api/user/import/job). Split the file into smaller batches (up to 100,000 users each) and send them one by one, or queue a larger file as a job: POST /api/user/import/job with {{\"file\": \"/path/on/the/server.json\"}}.",
                    state.config.max_body_bytes, state.config.max_import_bytes
                ),
            )
        } else {
            ApiError::general(StatusCode::BAD_REQUEST, "[invalidRequest]", rej.body_text())
        }
    })
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

/// Parses a path segment as a UUID: a malformed id is a 400, not a 404.
pub fn uuid(segment: &str, name: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(segment).map_err(|_| {
        ApiError::bad_request(Errors::default().field(
            name,
            &format!("[invalid]{name}"),
            format!("[{segment}] is not a valid UUID."),
        ))
    })
}

/// The id a create request names in its path (`POST /api/x/{id}`), or `None` for `POST /api/x`:
/// one handler serves both routes.
pub fn optional_uuid(
    path: Option<axum::extract::Path<String>>,
    name: &str,
) -> ApiResult<Option<Uuid>> {
    path.map(|axum::extract::Path(segment)| uuid(&segment, name))
        .transpose()
}
