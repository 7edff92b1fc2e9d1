//! `/api/status`: liveness plus database readiness, for load balancers and orchestrators.

use crate::wire::StatusBody;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

/// 200 when the database answers, 503 when it does not.
pub async fn status(State(s): State<AppState>) -> (StatusCode, Json<StatusBody>) {
    match s.identity.store().ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(StatusBody {
                status: "ok",
                database: "ok",
            }),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "database not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(StatusBody {
                    status: "unavailable",
                    database: "unreachable",
                }),
            )
        }
    }
}
