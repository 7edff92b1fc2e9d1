//! One module per resource. Every handler reads the same way: take the caller and the parsed
//! body, make one call into the identity service, wrap the answer in FusionAuth's JSON.

pub mod api_key;
pub mod application;
pub mod connector;
pub mod group;
pub mod import;
pub mod key;
pub mod login;
pub mod search;
pub mod status;
pub mod tenant;
pub mod theme;
pub mod two_factor;
pub mod user;
pub mod webhook;

use crate::error::{ApiError, ApiResult};
use axum::Json;
use portcullis_domain::Errors;
use serde::Serialize;
use serde_json::{Map, Value};

/// `{"<root>": value}` — FusionAuth wraps every entity in its name.
pub fn wrap(root: &str, value: impl Serialize) -> Json<Value> {
    let mut m = Map::new();
    m.insert(
        root.to_string(),
        serde_json::to_value(value).expect("answers serialize"),
    );
    Json(Value::Object(m))
}

/// FusionAuth's delete and replace options: `DELETE ...?hardDelete=true` deletes for real (without
/// it, users and applications are deactivated); `PUT ...?reactivate=true` (no body) reactivates.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleQuery {
    #[serde(default)]
    pub hard_delete: bool,
    #[serde(default)]
    pub reactivate: bool,
}

/// The object under `root` in a PATCH body.
pub fn patch_root<'a>(body: &'a Value, root: &str) -> ApiResult<&'a Value> {
    body.get(root).filter(|v| v.is_object()).ok_or_else(|| {
        ApiError::bad_request(Errors::default().field(
            root,
            &format!("[missing]{root}"),
            format!("The body must be a JSON object with a [{root}] object to merge."),
        ))
    })
}
