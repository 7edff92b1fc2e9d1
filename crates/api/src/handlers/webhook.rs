//! `/api/webhook` (FusionAuth's Webhook API), its test request, and the delivery log
//! (`/api/webhook-attempt`: attempts by webhook, event type and status; retrying dead letters).
//! Answers never carry a webhook's password or header values (`Webhook::redacted`); the
//! Standard Webhooks secret is answered once, by the create. Also FusionAuth's Event Log
//! (`/api/system/event-log`), where dead-lettered attempts are recorded.

use super::{patch_root, wrap};
use crate::error::ApiResult;
use crate::extract::{Caller, JsonBody, PathId, QueryParams};
use crate::wire::{WebhookAnswer, WebhookBody, WebhookTestRequest};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use portcullis_domain::webhooks::{AttemptQuery, EventLogQuery};
use serde_json::{json, Value};
use uuid::Uuid;

pub async fn create(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Option<Uuid>>,
    JsonBody(req): JsonBody<WebhookBody>,
) -> ApiResult<Json<Value>> {
    let created = s.identity.create_webhook(c.scope, id, req.webhook).await?;
    Ok(Json(
        serde_json::to_value(WebhookAnswer {
            webhook: created.webhook.redacted(),
            secret: Some(created.secret),
        })
        .expect("answers serialize"),
    ))
}

pub async fn list(State(s): State<AppState>, c: Caller) -> ApiResult<Json<Value>> {
    let all: Vec<_> = s
        .identity
        .webhooks(c.scope)
        .await?
        .iter()
        .map(|w| w.redacted())
        .collect();
    Ok(wrap("webhooks", all))
}

pub async fn get(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<Json<Value>> {
    Ok(wrap(
        "webhook",
        s.identity.webhook(c.scope, id).await?.redacted(),
    ))
}

pub async fn replace(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    JsonBody(req): JsonBody<WebhookBody>,
) -> ApiResult<Json<Value>> {
    Ok(wrap(
        "webhook",
        s.identity
            .replace_webhook(c.scope, id, req.webhook)
            .await?
            .redacted(),
    ))
}

pub async fn patch(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let p = patch_root(&body, "webhook")?;
    Ok(wrap(
        "webhook",
        s.identity.patch_webhook(c.scope, id, p).await?.redacted(),
    ))
}

pub async fn delete(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<()> {
    Ok(s.identity.delete_webhook(c.scope, id).await?)
}

/// `POST /api/webhook/{webhookId}/test`: a sample event sent now; answers the receiver's status
/// and, to a caller not tied to one tenant, the start of its body (a receiver that gives no
/// answer is a 400 saying why).
pub async fn test(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    JsonBody(req): JsonBody<WebhookTestRequest>,
) -> ApiResult<Json<Value>> {
    let d = s.sessions.test_webhook(c.scope, id, &req.event).await?;
    // A caller acting in one tenant gets the status only: the body would let it read any
    // address this server can reach through a webhook URL of its choosing.
    if c.scope.tenant.is_some() {
        return Ok(Json(json!({"status": d.status})));
    }
    Ok(Json(json!({"status": d.status, "body": d.body})))
}

/// `GET /api/webhook-attempt?webhookId=&eventType=&status=&eventId=&limit=`, newest first.
pub async fn attempts(
    State(s): State<AppState>,
    c: Caller,
    QueryParams(q): QueryParams<AttemptQuery>,
) -> ApiResult<Json<Value>> {
    Ok(wrap(
        "attempts",
        s.identity.webhook_attempts(c.scope, &q).await?,
    ))
}

pub async fn attempt(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<Json<Value>> {
    Ok(wrap(
        "attempt",
        s.identity.webhook_attempt(c.scope, id).await?,
    ))
}

/// `POST /api/webhook-attempt/{attemptId}/retry`: a dead-lettered attempt is pending again now.
pub async fn retry(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<Json<Value>> {
    Ok(wrap(
        "attempt",
        s.identity.retry_webhook_attempt(c.scope, id).await?,
    ))
}

/// `POST /api/webhook/{webhookId}/retry`: every dead-lettered attempt of the webhook is pending
/// again now.
pub async fn retry_all(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<Json<Value>> {
    let n = s.identity.retry_webhook_dead_letters(c.scope, id).await?;
    Ok(Json(json!({ "retried": n })))
}

/// `GET /api/system/event-log?type=&numberOfResults=`: newest first.
pub async fn event_logs(
    State(s): State<AppState>,
    c: Caller,
    QueryParams(q): QueryParams<EventLogQuery>,
) -> ApiResult<Json<Value>> {
    let logs = s.identity.event_logs(c.scope, &q).await?;
    Ok(Json(json!({"total": logs.len(), "eventLogs": logs})))
}

pub async fn event_log(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<Json<Value>> {
    Ok(wrap("eventLog", s.identity.event_log(c.scope, id).await?))
}
