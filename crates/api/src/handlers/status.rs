//! `/api/status`: liveness plus database readiness, for load balancers and orchestrators.

use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

/// 200 when the database answers, 503 when it does not.
pub async fn status(State(s): State<AppState>) -> (StatusCode, Json<Value>) {
    match s.identity.store().ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": "ok"})),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "database not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "database": "unreachable"})),
            )
        }
    }
}
