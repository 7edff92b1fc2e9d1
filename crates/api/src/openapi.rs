//! The OpenAPI 3 document at `/api/openapi.json`, built from the route table.

use crate::routes::ROUTES;
use axum::Json;
use serde_json::{json, Map, Value};

pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                json!({"name": name, "in": "path", "required": true,
                       "schema": {"type": "string", "format": "uuid"}})
            })
            .collect();
        let mut ops = Map::new();
        for m in route.methods {
            let mut op = json!({
                "summary": route.summary,
                "operationId": format!("{}{}", m.to_lowercase(), route.path.replace(['/', '{', '}', '-', '.'], "_")),
                "parameters": params,
                "responses": {
                    "200": {"description": "Success", "content": {"application/json": {}}},
                    "400": {"description": "Invalid request: fieldErrors / generalErrors", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}},
                    "401": {"description": "Missing, unknown or insufficient API key (empty body)"},
                    "404": {"description": "Not found in the caller's tenant (empty body)"},
                    "413": {"description": "Request body over the size limit"}
                }
            });
            if matches!(*m, "POST" | "PUT" | "PATCH") {
                op["requestBody"] =
                    json!({"content": {"application/json": {"schema": {"type": "object"}}}});
            }
            if route.authenticated {
                op["security"] = json!([{"apiKey": []}]);
            }
            ops.insert(m.to_lowercase(), op);
        }
        paths.insert(route.path.to_string(), Value::Object(ops));
    }
    json!({
        "openapi": "3.0.3",
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
            "schemas": {
                "Errors": {
                    "type": "object",
                    "properties": {
                        "fieldErrors": {"type": "object", "additionalProperties": {"type": "array", "items": {"$ref": "#/components/schemas/Error"}}},
                        "generalErrors": {"type": "array", "items": {"$ref": "#/components/schemas/Error"}}
                    }
                },
                "Error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}
            }
        }
    })
}

pub async fn serve() -> Json<Value> {
    Json(document())
}
