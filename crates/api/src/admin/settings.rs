//! The admin pages that list the instance's configuration: tenants with their applications
//! (each linking to its edit page, which `admin::tenants` and `admin::applications` own),
//! groups, API keys, themes, import jobs with their progress, signing keys (with "rotate"), and
//! webhooks with their recent deliveries (with "retry" for a dead letter). They read through
//! the same `Identity` and `Sessions` calls as the API and show no secret: no client secret,
//! API key, key material, webhook signing secret or header value.

use super::users::instant;
use super::{csrf_form, form_expired, message, redirect, require_admin, unavailable, Signed};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use minijinja::context;
use portcullis_domain::webhooks::AttemptQuery;
use portcullis_domain::{Error, Scope};
use serde::Deserialize;
use std::collections::HashMap;
use uuid::Uuid;

/// One table of a records page.
struct Table {
    heading: String,
    note: Option<String>,
    columns: &'static [&'static str],
    rows: Vec<Row>,
    action: Option<&'static str>,
}

/// One row of a records table: its cells, the path its action button posts to, and the page
/// its first cell links to.
struct Row {
    cells: Vec<String>,
    action: Option<String>,
    link: Option<String>,
}

impl Row {
    fn new(cells: Vec<String>, action: Option<String>) -> Self {
        Row {
            cells,
            action,
            link: None,
        }
    }

    fn link(mut self, to: Option<String>) -> Self {
        self.link = to;
        self
    }
}

impl Table {
    fn value(self) -> minijinja::Value {
        let rows: Vec<minijinja::Value> = self
            .rows
            .into_iter()
            .map(|r| context! { cells => r.cells, action => r.action, link => r.link })
            .collect();
        context! {
            heading => self.heading, note => self.note, columns => self.columns,
            rows, action => self.action,
        }
    }
}

fn records(signed: &Signed, title: &str, notice: Option<&str>, tables: Vec<Table>) -> Response {
    let tables: Vec<minijinja::Value> = tables.into_iter().map(Table::value).collect();
    signed.page(
        StatusCode::OK,
        "records.html",
        context! { title, notice, tables },
    )
}

fn failed(e: Error, what: &str) -> Response {
    tracing::error!(error = ?e, what, "an admin page could not read the store");
    unavailable()
}

/// `GET /admin/tenants`: each tenant with its applications.
pub async fn tenants(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let signed = match require_admin(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let tenants = match s.identity.tenants(Scope::ALL).await {
        Ok(t) => t,
        Err(e) => return failed(e, "tenants"),
    };
    let applications = match s.identity.applications(Scope::ALL).await {
        Ok(a) => a,
        Err(e) => return failed(e, "applications"),
    };
    let mut tables = vec![Table {
        heading: "Tenants".into(),
        note: None,
        columns: &[
            "Name",
            "Id",
            "Connector policies",
            "Legacy users",
            "Created",
        ],
        rows: tenants
            .iter()
            .map(|t| {
                let policies = t
                    .settings
                    .get("connectorPolicies")
                    .and_then(|p| p.as_array())
                    .map_or(0, Vec::len);
                let legacy = t
                    .data
                    .get("legacyUserCount")
                    .map_or(String::new(), |v| v.to_string());
                Row::new(
                    vec![
                        t.name.clone(),
                        t.id.map(|i| i.to_string()).unwrap_or_default(),
                        policies.to_string(),
                        legacy,
                        instant(t.insert_instant).unwrap_or_default(),
                    ],
                    None,
                )
                .link(t.id.map(|i| format!("/admin/tenants/{i}")))
            })
            .collect(),
        action: None,
    }];
    for t in &tenants {
        tables.push(Table {
            heading: format!("Applications of {}", t.name),
            note: None,
            columns: &["Name", "Id", "Roles", "Redirect URIs", "Active"],
            rows: applications
                .iter()
                .filter(|a| a.tenant_id == t.id)
                .map(|a| {
                    let roles: Vec<&str> = a.roles.iter().map(|r| r.name.as_str()).collect();
                    let redirects: Vec<String> = a
                        .settings
                        .get("oauthConfiguration")
                        .and_then(|o| o.get("authorizedRedirectURLs"))
                        .and_then(|u| u.as_array())
                        .map(|u| {
                            u.iter()
                                .filter_map(|x| x.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default();
                    Row::new(
                        vec![
                            a.name.clone(),
                            a.id.map(|i| i.to_string()).unwrap_or_default(),
                            roles.join(", "),
                            redirects.join(" "),
                            if a.active { "yes" } else { "no" }.into(),
                        ],
                        None,
                    )
                    .link(a.id.map(|i| format!("/admin/applications/{i}")))
                })
                .collect(),
            action: None,
        });
    }
    records(&signed, "Tenants and applications", None, tables)
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

/// `GET /admin/keys`: every signing key, with "rotate" on each tenant's active key.
pub async fn keys(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DoneQuery>,
) -> Response {
    let signed = match require_admin(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let keys = match s.identity.store().signing_keys(None).await {
        Ok(k) => k,
        Err(e) => return failed(e.into(), "signing keys"),
    };
    let names = match tenant_names(&s).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let table = Table {
        heading: "Signing keys".into(),
        note: Some(
            "Rotating gives the tenant a new key; the old one keeps verifying until its tokens expire."
                .into(),
        ),
        columns: &["Tenant", "Key id", "Algorithm", "Status", "Created", "Dropped after"],
        rows: keys
            .iter()
            .map(|k| {
                let action = (k.status == "active")
                    .then(|| format!("/admin/keys/{}/rotate", k.tenant_id));
                Row::new(
                    vec![
                        tenant_cell(&names, Some(k.tenant_id)),
                        k.kid.clone(),
                        k.algorithm.clone(),
                        k.status.clone(),
                        instant(Some(k.insert_instant)).unwrap_or_default(),
                        instant(k.expires_instant).unwrap_or_default(),
                    ],
                    action,
                )
            })
            .collect(),
        action: Some("Rotate"),
    };
    let notice = (q.done.as_deref() == Some("rotated"))
        .then_some("The tenant signs with a new key from now on.");
    records(&signed, "Signing keys", notice, vec![table])
}

/// `POST /admin/keys/{tenantId}/rotate`.
pub async fn rotate_key(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let signed = match require_admin(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !csrf_form(&headers, &body) {
        return form_expired();
    }
    let Ok(tenant) = Uuid::parse_str(&tenant) else {
        return message(
            StatusCode::NOT_FOUND,
            "No such tenant",
            "No tenant has this id.",
            None,
        );
    };
    match s.sessions.tokens().rotate_key(tenant, None).await {
        Ok(_) => {
            tracing::info!(%tenant, admin = %signed.email, "a signing key was rotated on the admin pages");
            redirect("/admin/keys?done=rotated", Vec::new())
        }
        Err(Error::NotFound) => message(
            StatusCode::NOT_FOUND,
            "No such tenant",
            "No tenant has this id.",
            None,
        ),
        Err(e) => failed(e, "rotate"),
    }
}

/// `GET /admin/webhooks`: webhooks and the latest deliveries, with "retry" on dead letters.
pub async fn webhooks(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DoneQuery>,
) -> Response {
    let signed = match require_admin(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let hooks = match s.identity.webhooks(Scope::ALL).await {
        Ok(w) => w,
        Err(e) => return failed(e, "webhooks"),
    };
    let attempts = match s
        .identity
        .webhook_attempts(
            Scope::ALL,
            &AttemptQuery {
                limit: Some(50),
                ..AttemptQuery::default()
            },
        )
        .await
    {
        Ok(a) => a,
        Err(e) => return failed(e, "webhook attempts"),
    };
    let urls: HashMap<Uuid, String> = hooks
        .iter()
        .filter_map(|w| Some((w.id?, w.url.clone())))
        .collect();
    let hooks_table = Table {
        heading: "Webhooks".into(),
        note: None,
        columns: &["URL", "Events", "Tenants", "Timeouts (connect, read)"],
        rows: hooks
            .iter()
            .map(|w| {
                let events: Vec<&str> = w
                    .events_enabled
                    .iter()
                    .filter(|(_, on)| **on)
                    .map(|(k, _)| k.as_str())
                    .collect();
                let tenants = if w.global {
                    "all".to_string()
                } else {
                    w.tenant_ids
                        .iter()
                        .map(Uuid::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                Row::new(
                    vec![
                        w.url.clone(),
                        events.join(", "),
                        tenants,
                        format!("{} ms, {} ms", w.connect_timeout, w.read_timeout),
                    ],
                    None,
                )
            })
            .collect(),
        action: None,
    };
    let attempts_table = Table {
        heading: "Latest deliveries".into(),
        note: Some("The 50 newest; a failed one is dead-lettered and can be sent again.".into()),
        columns: &[
            "Event",
            "Webhook",
            "Status",
            "Attempts",
            "Receiver said",
            "Error",
            "Last try",
        ],
        rows: attempts
            .iter()
            .map(|a| {
                let status = format!("{:?}", a.status).to_lowercase();
                let action = (status == "failed")
                    .then(|| format!("/admin/webhooks/attempts/{}/retry", a.id));
                Row::new(
                    vec![
                        a.event_type.clone(),
                        urls.get(&a.webhook_id).cloned().unwrap_or_default(),
                        status,
                        a.attempts.to_string(),
                        a.last_status.map(|x| x.to_string()).unwrap_or_default(),
                        a.last_error.clone().unwrap_or_default(),
                        instant(a.last_attempt_instant).unwrap_or_default(),
                    ],
                    action,
                )
            })
            .collect(),
        action: Some("Retry"),
    };
    let notice = (q.done.as_deref() == Some("retried")).then_some("The delivery is pending again.");
    records(
        &signed,
        "Webhooks",
        notice,
        vec![hooks_table, attempts_table],
    )
}

/// `POST /admin/webhooks/attempts/{attemptId}/retry`.
pub async fn retry_attempt(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = require_admin(&s, &headers).await {
        return r;
    }
    if !csrf_form(&headers, &body) {
        return form_expired();
    }
    let not_found = || {
        message(
            StatusCode::NOT_FOUND,
            "No such delivery",
            "No delivery has this id.",
            Some(("/admin/webhooks", "Back to the webhooks")),
        )
    };
    let Ok(id) = Uuid::parse_str(&id) else {
        return not_found();
    };
    match s.identity.retry_webhook_attempt(Scope::ALL, id).await {
        Ok(_) => redirect("/admin/webhooks?done=retried", Vec::new()),
        Err(Error::NotFound) => not_found(),
        Err(Error::Invalid(_)) => message(
            StatusCode::BAD_REQUEST,
            "Not dead-lettered",
            "Only a failed delivery can be retried; a pending one is retried by itself.",
            Some(("/admin/webhooks", "Back to the webhooks")),
        ),
        Err(e) => failed(e, "retry"),
    }
}

/// A tenant's name for a table cell, or its id when the tenant is gone.
fn tenant_cell(names: &HashMap<Option<Uuid>, String>, id: Option<Uuid>) -> String {
    match id {
        None => "all".into(),
        Some(t) => names
            .get(&Some(t))
            .cloned()
            .unwrap_or_else(|| t.to_string()),
    }
}

async fn tenant_names(s: &AppState) -> Result<HashMap<Option<Uuid>, String>, Response> {
    match s.identity.tenants(Scope::ALL).await {
        Ok(t) => Ok(t.into_iter().map(|t| (t.id, t.name)).collect()),
        Err(e) => Err(failed(e, "tenants")),
    }
}

/// `GET /admin/groups`: every group with the roles its members receive.
pub async fn groups(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let signed = match require_admin(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let names = match tenant_names(&s).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let groups = match s.identity.groups(Scope::ALL).await {
        Ok(g) => g,
        Err(e) => return failed(e, "groups"),
    };
    let mut rows = Vec::with_capacity(groups.len());
    for g in &groups {
        let roles = match s.identity.group_roles(g).await {
            Ok(r) => r,
            Err(e) => return failed(e, "group roles"),
        };
        let roles: Vec<&str> = roles.values().flatten().map(|r| r.name.as_str()).collect();
        rows.push(Row::new(
            vec![
                g.name.clone(),
                g.id.map(|i| i.to_string()).unwrap_or_default(),
                tenant_cell(&names, g.tenant_id),
                roles.join(", "),
                instant(g.insert_instant).unwrap_or_default(),
            ],
            None,
        ));
    }
    let table = Table {
        heading: "Groups".into(),
        note: Some(
            "Members of a group receive its roles in the applications they are registered to."
                .into(),
        ),
        columns: &["Name", "Id", "Tenant", "Roles", "Created"],
        rows,
        action: None,
    };
    records(&signed, "Groups", None, vec![table])
}

/// `GET /admin/api-keys`: every API key's id, tenant and permissions; never the key itself,
/// which the store keeps only as a hash.
pub async fn api_keys(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let signed = match require_admin(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let names = match tenant_names(&s).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let keys = match s.identity.store().api_keys().await {
        Ok(k) => k,
        Err(e) => return failed(e.into(), "API keys"),
    };
    let table = Table {
        heading: "API keys".into(),
        note: Some(
            "A key's secret is shown once, when it is made; here only what it may do.".into(),
        ),
        columns: &[
            "Description",
            "Id",
            "Tenant",
            "Endpoints",
            "Key manager",
            "Created",
        ],
        rows: keys
            .iter()
            .map(|k| {
                let endpoints = if k.permissions.endpoints.is_empty() {
                    "every endpoint".to_string()
                } else {
                    k.permissions
                        .endpoints
                        .iter()
                        .map(|(path, methods)| format!("{path} ({})", methods.join(", ")))
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                let description = k
                    .meta_data
                    .get("attributes")
                    .and_then(|a| a.get("description"))
                    .and_then(|d| d.as_str())
                    .unwrap_or_default()
                    .to_string();
                Row::new(
                    vec![
                        description,
                        k.id.map(|i| i.to_string()).unwrap_or_default(),
                        tenant_cell(&names, k.tenant_id),
                        endpoints,
                        if k.key_manager { "yes" } else { "no" }.into(),
                        instant(k.insert_instant).unwrap_or_default(),
                    ],
                    None,
                )
            })
            .collect(),
        action: None,
    };
    records(&signed, "API keys", None, vec![table])
}

/// `GET /admin/themes`: the hosted pages' themes and what each one overrides.
pub async fn themes(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let signed = match require_admin(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let names = match tenant_names(&s).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let themes = match s.identity.themes(Scope::ALL).await {
        Ok(t) => t,
        Err(e) => return failed(e, "themes"),
    };
    let table = Table {
        heading: "Themes".into(),
        note: Some("A page a theme does not override uses the built-in template.".into()),
        columns: &[
            "Name",
            "Id",
            "Tenant",
            "Templates",
            "Stylesheet",
            "Locales",
            "Created",
        ],
        rows: themes
            .iter()
            .map(|t| {
                let templates: Vec<&str> = t.templates.keys().map(String::as_str).collect();
                let locales: Vec<&str> = t.localized_messages.keys().map(String::as_str).collect();
                Row::new(
                    vec![
                        t.name.clone(),
                        t.id.map(|i| i.to_string()).unwrap_or_default(),
                        tenant_cell(&names, t.tenant_id),
                        templates.join(", "),
                        if t.stylesheet.is_some() { "yes" } else { "no" }.into(),
                        locales.join(", "),
                        instant(t.insert_instant).unwrap_or_default(),
                    ],
                    None,
                )
            })
            .collect(),
        action: None,
    };
    records(&signed, "Themes", None, vec![table])
}

/// `GET /admin/import-jobs`: the 50 newest import jobs with their progress.
pub async fn import_jobs(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let signed = match require_admin(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let names = match tenant_names(&s).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let jobs = match s.identity.recent_import_jobs(Scope::ALL, 50).await {
        Ok(j) => j,
        Err(e) => return failed(e, "import jobs"),
    };
    let table = Table {
        heading: "Import jobs".into(),
        note: Some(
            "The 50 newest. A job writes all its users in one transaction: its users count when it succeeds."
                .into(),
        ),
        columns: &[
            "Id",
            "Tenant",
            "State",
            "Source",
            "Users written",
            "Errors",
            "Queued",
            "Finished",
        ],
        rows: jobs
            .iter()
            .map(|j| {
                let written = match j.users_total {
                    Some(total) => format!("{} of {total}", j.users_done),
                    None => j.users_done.to_string(),
                };
                let errors = j.errors.as_ref().map_or(0, |e| {
                    e.field_errors.values().map(Vec::len).sum::<usize>() + e.general_errors.len()
                });
                Row::new(
                    vec![
                        j.id.to_string(),
                        tenant_cell(&names, Some(j.tenant_id)),
                        j.state.as_str().into(),
                        j.file.clone().unwrap_or_else(|| "request body".into()),
                        written,
                        errors.to_string(),
                        instant(Some(j.insert_instant)).unwrap_or_default(),
                        instant(j.finish_instant).unwrap_or_default(),
                    ],
                    None,
                )
            })
            .collect(),
        action: None,
    };
    records(&signed, "Import jobs", None, vec![table])
}
