//! The admin page for connectors: each connector with its legacy system, and "try a sign-in",
//! which asks the legacy system about a login and shows the outcome and how long it took. The
//! try goes through the same `LegacySystems` as a first login but migrates, counts and keeps
//! nothing; the password is neither shown nor logged.

use super::{form_expired, require_admin, unavailable};
use crate::pages::csrf_holds;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use minijinja::context;
use portcullis_domain::migration::connectors::LegacyLogin;
use portcullis_domain::{Password, Scope};
use serde::Deserialize;
use std::time::Instant;
use uuid::Uuid;

/// The settings that name a connector's legacy system, by type.
const URL_SETTINGS: [&str; 2] = ["authenticationURL", "baseURL"];

async fn render(s: &AppState, headers: &HeaderMap, tried: Option<minijinja::Value>) -> Response {
    let signed = match require_admin(s, headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let connectors = match s.identity.connectors(Scope::ALL).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = ?e, "the admin connectors page could not read connectors");
            return unavailable();
        }
    };
    let shown: Vec<minijinja::Value> = connectors
        .iter()
        .map(|c| {
            let url = URL_SETTINGS
                .iter()
                .find_map(|k| c.settings.get(*k).and_then(|v| v.as_str()))
                .map(String::from);
            context! { id => c.id.map(|i| i.to_string()), name => c.name.clone(), kind => c.kind.clone(), url }
        })
        .collect();
    signed.page(
        StatusCode::OK,
        "connectors.html",
        context! { title => "Connectors", connectors => shown, tried },
    )
}

/// `GET /admin/connectors`.
pub async fn connectors(State(s): State<AppState>, headers: HeaderMap) -> Response {
    render(&s, &headers, None).await
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TryForm {
    csrf: Option<String>,
    login_id: Option<String>,
    password: Option<String>,
}

/// `POST /admin/connectors/{connectorId}/try`.
pub async fn try_sign_in(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = require_admin(&s, &headers).await {
        return r;
    }
    let form: TryForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !csrf_holds(&headers, form.csrf.as_deref()) {
        return form_expired();
    }
    let connector = match Uuid::parse_str(&id) {
        Ok(id) => s.identity.connector(Scope::ALL, id).await.ok(),
        Err(_) => None,
    };
    let Some(connector) = connector else {
        return super::message(
            StatusCode::NOT_FOUND,
            "No such connector",
            "No connector has this id.",
            Some(("/admin/connectors", "Back to the connectors")),
        );
    };
    let login_id = form.login_id.unwrap_or_default();
    let password = Password(form.password.unwrap_or_default());
    let started = Instant::now();
    let answer = s
        .identity
        .legacy()
        .authenticate(
            &connector,
            &LegacyLogin {
                login_id: login_id.trim(),
                password: &password,
                application_id: None,
                ip_address: None,
            },
        )
        .await;
    let millis = started.elapsed().as_millis();
    let (ok, outcome, detail) = match answer {
        Ok(Some(found)) => (
            true,
            "The legacy system knows this user and password".to_string(),
            Some(format!(
                "It answers email {}, username {}.",
                found.user.email.as_deref().unwrap_or("(none)"),
                found.user.username.as_deref().unwrap_or("(none)")
            )),
        ),
        Ok(None) => (
            true,
            "Unknown user or wrong password".to_string(),
            Some("The legacy system answered; the contract does not tell the two apart.".into()),
        ),
        Err(e) => (
            false,
            format!("The legacy system failed: {:?}", e.kind),
            Some(e.message),
        ),
    };
    tracing::info!(connector = ?connector.id, ok, millis = millis as u64, "an admin tried a sign-in on a connector");
    let tried = context! {
        connector => connector.id.map(|i| i.to_string()), ok, outcome, detail, millis => millis as u64,
    };
    render(&s, &headers, Some(tried)).await
}
