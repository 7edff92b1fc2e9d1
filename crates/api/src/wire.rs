//! The JSON bodies of the API that are not entities: FusionAuth's envelopes (`{"user": {...}}`)
//! and the answers of login, tokens, keys and status, each with its schema for the OpenAPI
//! document. The entities inside them (and their schemas) are the domain's.

use portcullis_domain::{
    ApiKey, Application, Connector, Errors, Group, ImportJob, ImportRequest, ImportedRefreshToken,
    KeyView, Membership, Registration, Role, Tenant, Theme, User,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// `{"tenant": {...}}`: a tenant's request and answer (answers leave its secrets out).
#[derive(Deserialize, ToSchema)]
pub struct TenantBody {
    pub tenant: Tenant,
}

#[derive(Serialize, ToSchema)]
pub struct TenantsBody {
    pub tenants: Vec<Tenant>,
}

#[derive(Deserialize, ToSchema)]
pub struct ApplicationBody {
    pub application: Application,
}

#[derive(Serialize, ToSchema)]
pub struct ApplicationsBody {
    pub applications: Vec<Application>,
}

#[derive(Deserialize, ToSchema)]
pub struct RoleBody {
    pub role: Role,
}

/// A group request: FusionAuth sends the group's roles beside it, as `roleIds`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupRequest {
    pub group: Group,
    #[serde(default)]
    pub role_ids: Option<Vec<Uuid>>,
}

impl GroupRequest {
    /// The group with the `roleIds` sent beside it, when they were.
    pub fn into_group(self) -> Group {
        let mut g = self.group;
        if let Some(ids) = self.role_ids {
            g.role_ids = ids;
        }
        g
    }
}

/// A group as answers show it: the group with FusionAuth's `roles` map (application id → the
/// roles of that application the group gives).
#[derive(Serialize, ToSchema)]
pub struct GroupView {
    #[serde(flatten)]
    pub group: Group,
    pub roles: BTreeMap<Uuid, Vec<Role>>,
}

#[derive(Serialize, ToSchema)]
pub struct GroupBody {
    pub group: GroupView,
}

#[derive(Serialize, ToSchema)]
pub struct GroupsBody {
    pub groups: Vec<GroupView>,
}

/// `{"members": {"<groupId>": [{"userId": ...}]}}`: memberships to add, and the ones added.
#[derive(Deserialize, ToSchema)]
pub struct MembersBody {
    pub members: BTreeMap<Uuid, Vec<Membership>>,
}

/// `{"members": {"<groupId>": ["<userId>", ...]}}`: memberships to remove.
#[derive(Deserialize, ToSchema)]
pub struct MemberIdsBody {
    pub members: BTreeMap<Uuid, Vec<Uuid>>,
}

/// FusionAuth's user request and answer; the request's other top-level options
/// (`sendSetPasswordEmail`, `skipVerification`...) are accepted and have no effect.
#[derive(Deserialize, ToSchema)]
pub struct UserBody {
    pub user: User,
}

/// FusionAuth's *register* request: a registration, with the user to create beside it or for
/// the user the path names.
#[derive(Deserialize, ToSchema)]
pub struct RegisterBody {
    #[serde(default)]
    pub user: Option<User>,
    pub registration: Registration,
}

#[derive(Serialize, ToSchema)]
pub struct RegisteredBody {
    pub user: User,
    pub registration: Registration,
}

#[derive(Deserialize, ToSchema)]
pub struct RegistrationBody {
    pub registration: Registration,
}

/// An import job: the import's body, or `{"file": "/path"}` naming a file in the server's import
/// directory (not both).
#[derive(Deserialize, ToSchema)]
pub struct ImportJobRequest {
    #[serde(flatten)]
    pub import: ImportRequest,
    /// An absolute path inside the server's import directory.
    #[serde(default)]
    pub file: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct JobBody {
    pub job: ImportJob,
}

/// The answer of a login that checked the password (200, 202 not registered, 212 email not
/// verified): the user and, unless `noJWT`, its tokens.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_expiration_instant: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_id: Option<Uuid>,
    /// A two-factor login with `trustComputer`: send it as `twoFactorTrustId` to `/api/login`
    /// to skip the code step until it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub two_factor_trust_id: Option<String>,
    #[schema(value_type = User)]
    pub user: serde_json::Value,
}

/// One method a 242 lists: its id, kind and (for email) the address the code goes to.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TwoFactorMethodView {
    pub id: String,
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// 242: the password is right; complete the login with a code at `POST /api/two-factor/login`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TwoFactorRequiredBody {
    pub two_factor_id: String,
    pub methods: Vec<TwoFactorMethodView>,
    /// The user has no method and must enable one (`POST /api/user/two-factor/{userId}`) before
    /// this `twoFactorId` can complete the login.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub two_factor_enrolment_required: bool,
}

/// `GET /api/two-factor/secret`: a new authenticator secret.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TwoFactorSecretBody {
    pub secret: String,
    pub secret_base32_encoded: String,
}

/// `POST /api/user/two-factor/recovery-code/{userId}` takes no fields; a body, if any, is ignored.
#[derive(Deserialize, ToSchema)]
pub struct RecoveryCodesRequest {}

/// Recovery codes, answered once (enabling the first method, or new codes).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryCodesBody {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recovery_codes: Vec<String>,
}

/// 203: the password must be changed first, with this id.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordRequired {
    pub change_password_id: String,
    pub change_password_reason: String,
}

/// 423: FusionAuth's error body and the lock's end (epoch milliseconds).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LockedBody {
    #[serde(flatten)]
    pub errors: Errors,
    pub lock_expiration_instant: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshResponse {
    pub token: String,
    pub refresh_token: String,
    pub refresh_token_id: Uuid,
}

/// `GET /api/jwt/validate`: the token's claims.
#[derive(Serialize, ToSchema)]
pub struct ValidateResponse {
    #[schema(value_type = Object)]
    pub jwt: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportRefreshTokensRequest {
    #[serde(default)]
    pub refresh_tokens: Vec<ImportedRefreshToken>,
}

/// `{"publicKey": PEM}` for one key, `{"publicKeys": {kid: PEM}}` for all.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeys {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_keys: Option<BTreeMap<String, String>>,
}

/// A JWK set.
#[derive(Serialize, ToSchema)]
pub struct Jwks {
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
}

/// `{}`, or `{"changePasswordId"}` for a caller that sent `sendForgotPasswordEmail: false`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForgotPasswordResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_password_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyBody {
    pub api_key: ApiKey,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeysBody {
    pub api_keys: Vec<ApiKey>,
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct ThemeBody {
    pub theme: Theme,
}

#[derive(Serialize, ToSchema)]
pub struct ThemesBody {
    pub themes: Vec<Theme>,
}

#[derive(Deserialize, ToSchema)]
pub struct ConnectorBody {
    pub connector: Connector,
}

#[derive(Serialize, ToSchema)]
pub struct ConnectorsBody {
    pub connectors: Vec<Connector>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyBody {
    pub key: KeyView,
}

#[derive(Serialize, ToSchema)]
pub struct KeysBody {
    pub keys: Vec<KeyView>,
}

/// `POST /api/key/generate`: the algorithm of the new key (default: the current key's) and the
/// tenant, for a caller acting in every tenant.
#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenerateKeyRequest {
    #[serde(default)]
    pub key: GenerateKey,
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenerateKey {
    #[serde(default)]
    pub algorithm: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<Uuid>,
}

/// `/api/status`: 200 when the database answers, 503 when it does not.
#[derive(Serialize, ToSchema)]
pub struct StatusBody {
    pub status: &'static str,
    pub database: &'static str,
}

/// FusionAuth's `POST /api/logout` body.
#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct LogoutBody {
    /// Revoke every refresh token and SSO session of the user, not only this one.
    #[serde(default)]
    pub global: bool,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// A new OAuth client secret, answered once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientSecretBody {
    pub client_id: uuid::Uuid,
    pub client_secret: String,
}

/// The body of a client-secret rotation: nothing is needed, so it may be left out.
#[derive(Deserialize, ToSchema, Default)]
pub struct RotateClientSecretRequest {}

#[derive(Deserialize, ToSchema)]
pub struct WebhookBody {
    pub webhook: portcullis_domain::Webhook,
}

/// A webhook as answered; on create also its Standard Webhooks secret, shown this once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAnswer {
    pub webhook: portcullis_domain::Webhook,
    /// `whsec_...`: the key of the `webhook-signature` header, answered by the create only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhooksBody {
    pub webhooks: Vec<portcullis_domain::Webhook>,
}

/// `POST /api/webhook/{id}/test`: the event type to send a sample of.
#[derive(Deserialize, ToSchema)]
pub struct WebhookTestRequest {
    #[schema(min_length = 1)]
    pub event: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAttemptBody {
    pub attempt: portcullis_domain::webhooks::WebhookAttempt,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAttemptsBody {
    pub attempts: Vec<portcullis_domain::webhooks::WebhookAttempt>,
}

/// How many dead-lettered attempts were made pending again.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetriedBody {
    pub retried: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventLogBody {
    pub event_log: portcullis_domain::webhooks::EventLog,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventLogsBody {
    pub event_logs: Vec<portcullis_domain::webhooks::EventLog>,
    pub total: u64,
}

/// The body of a retry: nothing is needed, so it may be left out.
#[derive(Deserialize, ToSchema, Default)]
pub struct RetryRequest {}
