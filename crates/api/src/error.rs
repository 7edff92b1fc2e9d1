//! The one place domain errors become HTTP answers: status code plus FusionAuth's error body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use portcullis_domain::{Error, Errors};

/// An HTTP error answer. 401 and 404 have empty bodies, as FusionAuth's do.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Option<Errors>,
    /// Seconds for the `Retry-After` header of an answer that asks to come back later.
    pub retry_after: Option<u32>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn bad_request(errors: Errors) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            body: Some(errors),
            retry_after: None,
        }
    }
    pub fn general(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: Some(Errors::default().general(code, message)),
            retry_after: None,
        }
    }
    pub fn unauthorized() -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            body: None,
            retry_after: None,
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(errors) => ApiError::bad_request(errors),
            Error::NotFound => ApiError {
                status: StatusCode::NOT_FOUND,
                body: None,
                retry_after: None,
            },
            Error::Unauthorized => ApiError::unauthorized(),
            Error::Busy(m) => ApiError::general(StatusCode::SERVICE_UNAVAILABLE, "[Busy]", m),
            Error::Overloaded {
                message,
                retry_after_secs,
            } => ApiError {
                retry_after: Some(retry_after_secs),
                ..ApiError::general(StatusCode::SERVICE_UNAVAILABLE, "[Busy]", message)
            },
            Error::Legacy { connector, failure } => {
                tracing::warn!(connector = %connector, kind = failure.kind.as_str(), error = %failure.message, "legacy system failed");
                ApiError::general(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "[LegacySystemFailed]",
                    format!(
                        "The legacy system behind connector [{connector}] failed ({}): {}. Nothing was changed; try again later.",
                        failure.kind.as_str(),
                        failure.message
                    ),
                )
            }
            Error::TwoFactorKey(m) => {
                tracing::error!(error = %m, "two-factor secret cannot be opened");
                ApiError::general(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "[TwoFactorKeyError]",
                    format!("The two-factor secret cannot be used: {m}"),
                )
            }
            Error::WebhookTransaction(m) => ApiError::general(
                StatusCode::GATEWAY_TIMEOUT,
                "[WebhookTransactionException]",
                m,
            ),
            Error::Store(m) => {
                tracing::error!(error = %m, "storage failure");
                ApiError::general(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "[InternalError]",
                    "The server could not complete the request; nothing was changed. See the server log.",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = match self.body {
            Some(b) => (self.status, Json(b)).into_response(),
            None => self.status.into_response(),
        };
        if let Some(secs) = self.retry_after {
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        r
    }
}
