//! The entities of the identity model, in FusionAuth's JSON shape.
//!
//! One struct serves the wire and the store: the store keeps each entity as its JSON body beside a
//! few indexed columns. Fields that must never leave the server (the password, two-factor secrets)
//! are removed by [`User::redacted`], not by serde, so that the stored form keeps them.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Epoch milliseconds, as in every FusionAuth body.
pub type Millis = i64;
/// Free-form JSON object (`user.data`, `registration.data`, unknown tenant settings...).
pub type Json = serde_json::Map<String, Value>;

/// The id of a new stored entity (user, registration, membership, event, refresh token...):
/// a time-ordered UUID (version 7). Rows made one after another get neighbouring ids, so a bulk
/// load appends to the end of every index keyed by id instead of touching a random page of it
/// per row (SQLite took an import with random version 4 ids at about 60% of the speed). Its
/// first 48 bits tell when it was made, which the entity's `insertInstant` tells anyway; ids are
/// names, never secrets (secrets, like refresh tokens, are random bytes of their own).
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

/// Treats an explicit JSON `null` like a missing field: client libraries send nulls freely.
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn yes() -> bool {
    true
}

/// A password as typed by a person. Its `Debug` never shows it and it is never serialized.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A tenant. Its `Debug` shows the wire form ([`Tenant::redacted`]), so a tenant in a log line
/// carries no secret.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[cfg_attr(
        feature = "openapi",
        schema(
            required = true,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    #[serde(default, deserialize_with = "null_default")]
    pub data: Json,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insert_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = HashMap<String, serde_json::Value>))]
    /// Tenant settings this version does not interpret yet (FusionAuth has many); kept verbatim so
    /// a round trip through Portcullis loses nothing.
    #[serde(flatten)]
    pub settings: Json,
}

/// Tenant settings that are secrets, as (block, key): the SMTP password. Kept in the store, never
/// in an API answer; a save whose block leaves one out keeps the stored value, a save that sends
/// one replaces it (a save without the block at all drops the block, secret included).
pub const TENANT_SECRETS: [(&str, &str); 1] = [("emailConfiguration", "password")];

impl Tenant {
    /// The tenant without [`TENANT_SECRETS`]: the only form that leaves the server, in an
    /// answer or a log line.
    pub fn redacted(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("tenants serialize");
        for (block, key) in TENANT_SECRETS {
            if let Some(b) = v.get_mut(block).and_then(|b| b.as_object_mut()) {
                b.remove(key);
            }
        }
        v
    }

    /// Puts the stored secrets of `old` into a save whose blocks leave them out.
    pub fn keep_secrets(&mut self, old: &Tenant) {
        for (block, key) in TENANT_SECRETS {
            let Some(stored) = old.settings.get(block).and_then(|b| b.get(key)) else {
                continue;
            };
            if let Some(b) = self.settings.get_mut(block).and_then(|b| b.as_object_mut()) {
                b.entry(key).or_insert_with(|| stored.clone());
            }
        }
    }
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tenant({})", self.redacted())
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[cfg_attr(
        feature = "openapi",
        schema(
            required = true,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub is_default: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub is_super_role: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insert_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_instant: Option<Millis>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Uuid>,
    #[cfg_attr(
        feature = "openapi",
        schema(
            required = true,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub roles: Vec<Role>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    #[serde(default, deserialize_with = "null_default")]
    pub data: Json,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insert_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = HashMap<String, serde_json::Value>))]
    /// Application settings not interpreted yet (OAuth, JWT...), kept verbatim.
    #[serde(flatten)]
    pub settings: Json,
}

impl Default for Application {
    fn default() -> Self {
        Self {
            id: None,
            tenant_id: None,
            name: String::new(),
            active: true,
            roles: Vec::new(),
            data: Json::new(),
            insert_instant: None,
            last_update_instant: None,
            settings: Json::new(),
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Uuid>,
    #[cfg_attr(
        feature = "openapi",
        schema(
            required = true,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    #[serde(default, deserialize_with = "null_default")]
    pub data: Json,
    /// The application roles members of this group receive (FusionAuth's request `roleIds`).
    #[serde(default, deserialize_with = "null_default")]
    pub role_ids: Vec<Uuid>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insert_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_instant: Option<Millis>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    #[serde(default, deserialize_with = "null_default")]
    pub data: Json,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insert_instant: Option<Millis>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<Uuid>,
    #[serde(default, deserialize_with = "null_default")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    #[serde(default, deserialize_with = "null_default")]
    pub data: Json,
    #[serde(default, deserialize_with = "null_default")]
    pub preferred_languages: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_status: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insert_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_instant: Option<Millis>,
}

/// Two-factor methods and recovery codes (kept as JSON until the two-factor issue types them).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TwoFactor {
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    #[serde(default, deserialize_with = "null_default")]
    pub methods: Vec<Json>,
    #[serde(default, deserialize_with = "null_default")]
    pub recovery_codes: Vec<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Write-only: hashed before anything is stored, never serialized.
    #[serde(default, skip_serializing)]
    pub password: Option<Password>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// ISO-8601 calendar date (`YYYY-MM-DD`).
    #[cfg_attr(feature = "openapi", schema(format = Date))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile_phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub preferred_languages: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    #[serde(default, deserialize_with = "null_default")]
    pub data: Json,
    #[serde(default, deserialize_with = "null_default")]
    pub memberships: Vec<Membership>,
    #[serde(default, deserialize_with = "null_default")]
    pub registrations: Vec<Registration>,
    #[serde(default, deserialize_with = "null_default")]
    pub two_factor: TwoFactor,
    #[serde(default, deserialize_with = "null_default")]
    pub password_change_required: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insert_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_last_update_instant: Option<Millis>,
    /// The connector that is this user's system of record; `None` means Portcullis itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_status: Option<String>,
}

impl Default for User {
    fn default() -> Self {
        serde_json::from_value(Value::Object(Json::new())).expect("an empty user parses")
    }
}

impl User {
    /// The user without two-factor secrets and recovery codes: the only form that leaves the
    /// server, in an answer or a log line.
    pub fn redacted(&self) -> Value {
        let mut v = serde_json::to_value(self).expect("users serialize");
        if let Some(tf) = v.get_mut("twoFactor").and_then(Value::as_object_mut) {
            tf.remove("recoveryCodes");
            if let Some(methods) = tf.get_mut("methods").and_then(Value::as_array_mut) {
                for m in methods.iter_mut().filter_map(Value::as_object_mut) {
                    m.remove("secret");
                }
            }
        }
        v
    }
}

/// A user together with their stored password credential.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredUser {
    pub user: User,
    pub credential: Option<portcullis_hash::Credential>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyPermissions {
    /// Endpoint (e.g. `/api/user`) → allowed methods. Empty means every endpoint.
    #[serde(default, deserialize_with = "null_default")]
    pub endpoints: BTreeMap<String, Vec<String>>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// The secret. Present only in a create request and its answer; the store keeps a hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Uuid>,
    #[serde(default, deserialize_with = "null_default")]
    pub permissions: ApiKeyPermissions,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    #[serde(default, deserialize_with = "null_default")]
    pub meta_data: Json,
    #[serde(default, deserialize_with = "null_default")]
    pub key_manager: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insert_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_instant: Option<Millis>,
}

impl ApiKey {
    /// Whether this key may manage connectors, the global configuration of legacy systems: it is
    /// not locked to a tenant and may write `/api/connector`. Only such a key sets a tenant's
    /// `connectorPolicies`.
    pub fn manages_connectors(&self) -> bool {
        self.tenant_id.is_none()
            && ["POST", "PUT", "PATCH"]
                .iter()
                .any(|m| self.allows("/api/connector", m))
    }

    /// Whether this key may call `method` on `endpoint` (the route's static prefix, e.g.
    /// `/api/user/registration`).
    pub fn allows(&self, endpoint: &str, method: &str) -> bool {
        let eps = &self.permissions.endpoints;
        eps.is_empty()
            || eps
                .get(endpoint)
                .is_some_and(|ms| ms.iter().any(|m| m.eq_ignore_ascii_case(method)))
    }
}

/// The tenant a request acts in. `None` means every tenant (a global key without the
/// `X-FusionAuth-TenantId` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scope {
    pub tenant: Option<Uuid>,
}

impl Scope {
    pub const ALL: Scope = Scope { tenant: None };
    pub fn tenant(id: Uuid) -> Self {
        Scope { tenant: Some(id) }
    }
    /// Whether an entity of tenant `t` is visible in this scope.
    pub fn sees(&self, t: Option<Uuid>) -> bool {
        self.tenant.is_none() || self.tenant == t
    }
}
