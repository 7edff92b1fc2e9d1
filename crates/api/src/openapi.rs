//! The OpenAPI 3.1 document at `/api/openapi.json`, built from the route table: each operation
//! with its auth, query, request body and answers, and the schemas of those bodies (derived
//! from the Rust types with `utoipa`) under `components`.

use crate::routes::{table, Answer, Auth, Body, Op, Route};
use crate::ApiConfig;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use portcullis_domain::Errors;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// A `$ref` to the component named `name`.
fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_content(b: &Body, components: &mut Map<String, Value>) -> Value {
    let mut found = Vec::new();
    (b.collect)(&mut found);
    for (name, schema) in found {
        components
            .entry(name)
            .or_insert_with(|| serde_json::to_value(schema).expect("schemas serialize"));
    }
    json!({"application/json": {"schema": reference(&(b.name)())}})
}

fn answer(a: &Answer, components: &mut Map<String, Value>) -> Value {
    let mut r = json!({"description": a.description});
    if let Some(b) = &a.body {
        r["content"] = json_content(b, components);
    } else if let Some(media) = a.media {
        r["content"] = json!({ media: {"schema": {"type": "string"}} });
    }
    r
}

fn operation(route: &Route, op: &Op, components: &mut Map<String, Value>) -> Value {
    let mut params: Vec<Value> = route
        .params()
        .map(|name| {
            let schema = if route.name_params.contains(&name) {
                json!({"type": "string", "minLength": 1})
            } else {
                json!({"type": "string", "format": "uuid"})
            };
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect();
    for q in &op.query {
        let schema = match q.kind {
            "uuid" => json!({"type": "string", "format": "uuid"}),
            kind => json!({"type": kind}),
        };
        params.push(json!({"name": q.name, "in": "query", "required": false,
                           "description": q.description, "schema": schema}));
    }
    let mut responses = Map::new();
    for a in &op.answers {
        responses.insert(a.status.to_string(), answer(a, components));
    }
    if op.errors {
        let errors = crate::routes::body::<Errors>();
        let mut add =
            |status: u16, description: &'static str, body: Option<crate::routes::Body>| {
                responses.entry(status.to_string()).or_insert_with(|| {
                    let a = Answer {
                        status,
                        description,
                        body,
                        media: None,
                    };
                    answer(&a, components)
                });
            };
        add(
            400,
            "Invalid request: fieldErrors and generalErrors",
            Some(errors),
        );
        if op.auth != Auth::Open {
            add(
                401,
                "Missing, unknown or insufficient API key (no body)",
                None,
            );
        }
        add(404, "Not found in the caller's tenant (no body)", None);
        if op.request.is_some() {
            add(413, "Request body over the size limit", Some(errors));
        }
        add(500, "The server failed; nothing was changed", Some(errors));
        add(
            503,
            "Busy, or a legacy system failed; nothing was changed",
            Some(errors),
        );
        if op.method != axum::http::Method::GET {
            add(
                504,
                "The webhooks of a transactional event did not meet the tenant's transaction \
                 level ([WebhookTransactionException]); nothing was changed",
                Some(errors),
            );
        }
    }
    let operation_id = format!(
        "{}{}",
        op.method.as_str().to_lowercase(),
        route.path.replace(['/', '{', '}', '-', '.'], "_")
    );
    let mut o = json!({
        "summary": op.summary,
        "operationId": operation_id,
        "parameters": params,
        "responses": responses,
    });
    if let Some((b, required)) = &op.request {
        o["requestBody"] = json!({"required": required, "content": json_content(b, components)});
    }
    o["security"] = match op.auth {
        Auth::Open => json!([]),
        Auth::ApiKey => json!([{"apiKey": []}]),
        Auth::OptionalApiKey => json!([{}, {"apiKey": []}]),
    };
    o
}

/// Adds `user.password` to the `User` schema, write-only. The derive leaves it out because serde
/// never serializes it, yet every request that creates or replaces a user may send it.
fn add_user_password(components: &mut Map<String, Value>) {
    if let Some(props) = components
        .get_mut("User")
        .and_then(|u| u.get_mut("properties"))
        .and_then(Value::as_object_mut)
    {
        props.insert(
            "password".into(),
            json!({"type": ["string", "null"], "writeOnly": true,
                   "description": "The password as typed; never answered."}),
        );
    }
}

/// The document, built from the route table.
pub fn document() -> Value {
    let mut paths = Map::new();
    let mut components = Map::new();
    for route in table(&ApiConfig::default()) {
        if !route.documented {
            continue;
        }
        let mut ops = Map::new();
        for op in &route.ops {
            ops.insert(
                op.method.as_str().to_lowercase(),
                operation(&route, op, &mut components),
            );
        }
        paths.insert(route.path.to_string(), Value::Object(ops));
    }
    add_user_password(&mut components);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Portcullis",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Identity server with FusionAuth-compatible paths and JSON."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization"}
            },
            "schemas": components
        }
    })
}

/// The document's text, built once: the table does not change while the server runs.
pub async fn serve() -> impl IntoResponse {
    static TEXT: OnceLock<String> = OnceLock::new();
    let text = TEXT.get_or_init(|| document().to_string());
    ([(CONTENT_TYPE, "application/json")], text.as_str())
}
