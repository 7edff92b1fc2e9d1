//! The route table: every endpoint once, as a path with its operations — method, handler,
//! summary, auth (open, API key, or an optional API key) and the schemas of its query, request
//! and answers. The router ([`crate::router`]), the auth layer on each operation and the OpenAPI
//! document ([`crate::openapi`]) are all built from it, so adding a route is one entry here.

use crate::handlers::{
    api_key, application, connector, group, import, key, login, search, status, tenant, theme,
    two_factor, user, webhook,
};
use crate::wire::*;
use crate::{admin, oauth, pages};
use crate::{openapi, ApiConfig, AppState};
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter, MethodRouter};
use portcullis_domain::migration::forgot::ForgotPasswordRequest;
use portcullis_domain::migration::MigrationStatus;
use portcullis_domain::search::{SearchAnswer, SearchRequest};
use portcullis_domain::sessions::{EnableTwoFactorRequest, SendCodeRequest, TwoFactorLoginRequest};
use portcullis_domain::{
    BulkDeleteOutcome, ChangePasswordRequest, ImportRequest, ImportSummary, LoginRequest,
};
use std::borrow::Cow;
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone: the request carries a JWT, a refresh token or a change-password id instead, or
    /// the answer is public.
    Open,
    /// An API key with permission for the endpoint and method (the auth layer checks it first).
    ApiKey,
    /// An API key when the request sends one (checked as for [`Auth::ApiKey`]); without one the
    /// operation answers anonymous callers in its own way.
    OptionalApiKey,
}

/// A named schema and the schemas it refers to, for the document's `components`.
#[derive(Clone, Copy)]
pub struct Body {
    pub name: fn() -> Cow<'static, str>,
    pub collect: fn(&mut Vec<(String, RefOr<Schema>)>),
}

fn collect<T: ToSchema>(out: &mut Vec<(String, RefOr<Schema>)>) {
    out.push((T::name().into_owned(), T::schema()));
    T::schemas(out);
}

/// The schema of `T`, derived from the Rust type.
pub fn body<T: ToSchema>() -> Body {
    Body {
        name: T::name,
        collect: collect::<T>,
    }
}

/// One answer of an operation: status, description and body schema (`None`: no JSON body).
#[derive(Clone)]
pub struct Answer {
    pub status: u16,
    pub description: &'static str,
    pub body: Option<Body>,
    /// A body of this media type (`text/plain`, `application/x-ndjson`) instead, a string.
    pub media: Option<&'static str>,
}

/// A query parameter: name, JSON schema type (`string`, `boolean`, `integer`, `number`, or
/// `uuid` for a string in UUID format) and what it does.
#[derive(Clone, Copy)]
pub struct QueryParam {
    pub name: &'static str,
    pub kind: &'static str,
    pub description: &'static str,
}

/// One method of a path.
pub struct Op {
    pub method: Method,
    pub summary: &'static str,
    pub auth: Auth,
    /// The JSON body and whether it is required.
    pub request: Option<(Body, bool)>,
    pub query: Vec<QueryParam>,
    pub answers: Vec<Answer>,
    /// Whether the operation answers FusionAuth's error bodies (400 and up); off for the
    /// operations that only report (status, metrics, this document).
    pub errors: bool,
    pub(crate) handler: MethodRouter<AppState>,
}

/// A path of the API.
pub struct Route {
    pub path: &'static str,
    pub ops: Vec<Op>,
    /// The body limit of this path when it is not the server's default (the import's).
    pub body_limit: Option<usize>,
    /// The path parameters that are names, not UUIDs (a signing key's `kid`, a change-password
    /// id); every other parameter is a UUID.
    pub name_params: &'static [&'static str],
    /// Whether the path is in the OpenAPI document. The OAuth 2.0 / OpenID Connect endpoints
    /// and the hosted pages are not: their contract is the RFCs' (form bodies, redirects, HTML),
    /// published by OpenID discovery instead.
    pub documented: bool,
}

impl Route {
    fn new(path: &'static str, ops: Vec<Op>) -> Self {
        Route {
            path,
            ops,
            body_limit: None,
            name_params: &[],
            documented: true,
        }
    }

    /// A protocol endpoint or page, left out of the OpenAPI document (see [`Route::documented`]).
    fn protocol(path: &'static str, ops: Vec<Op>) -> Self {
        let mut r = Route::new(path, ops);
        r.documented = false;
        r
    }

    fn name_params(mut self, names: &'static [&'static str]) -> Self {
        self.name_params = names;
        self
    }

    fn body_limit(mut self, limit: usize) -> Self {
        self.body_limit = Some(limit);
        self
    }

    /// The names of the path's parameters, in order.
    pub fn params(&self) -> impl Iterator<Item = &'static str> {
        self.path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
    }
}

/// An operation calling `handler`, for API keys, with no body and no answer declared yet.
fn op<H, T>(method: Method, handler: H, summary: &'static str) -> Op
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("a method the router filters");
    Op {
        method,
        summary,
        auth: Auth::ApiKey,
        request: None,
        query: Vec::new(),
        answers: Vec::new(),
        errors: true,
        handler: on(filter, handler),
    }
}

impl Op {
    fn open(mut self) -> Self {
        self.auth = Auth::Open;
        self
    }
    fn optional_key(mut self) -> Self {
        self.auth = Auth::OptionalApiKey;
        self
    }
    /// A required JSON body of schema `T`.
    fn body<T: ToSchema>(mut self) -> Self {
        self.request = Some((body::<T>(), true));
        self
    }
    /// A JSON body of schema `T` that may be left out.
    fn optional_body<T: ToSchema>(mut self) -> Self {
        self.request = Some((body::<T>(), false));
        self
    }
    fn query(mut self, name: &'static str, kind: &'static str, description: &'static str) -> Self {
        self.query.push(QueryParam {
            name,
            kind,
            description,
        });
        self
    }
    /// Answers `status` with a JSON body of schema `T`.
    fn answers<T: ToSchema>(mut self, status: u16, description: &'static str) -> Self {
        self.answers.push(Answer {
            status,
            description,
            body: Some(body::<T>()),
            media: None,
        });
        self
    }
    /// 200 with a JSON body of schema `T`.
    fn ok<T: ToSchema>(self) -> Self {
        self.answers::<T>(200, "Success")
    }
    /// Answers `status` with no body.
    fn empty(mut self, status: u16, description: &'static str) -> Self {
        self.answers.push(Answer {
            status,
            description,
            body: None,
            media: None,
        });
        self
    }
    /// Answers `status` with a `text/plain` body.
    fn text(mut self, status: u16, description: &'static str) -> Self {
        self.answers.push(Answer {
            status,
            description,
            body: None,
            media: Some("text/plain"),
        });
        self
    }
    /// Answers 200 with a stream of `application/x-ndjson` lines.
    fn ndjson(mut self, description: &'static str) -> Self {
        self.answers.push(Answer {
            status: 200,
            description,
            body: None,
            media: Some("application/x-ndjson"),
        });
        self
    }
    /// The operation answers no error body of its own (see [`Op::errors`]).
    fn no_errors(mut self) -> Self {
        self.errors = false;
        self
    }
}

/// The query parameters of a GET search (and export).
fn search_query(op: Op) -> Op {
    op.query("queryString", "string", "field:value terms with AND, OR, NOT, wildcards and ranges (docs/search.md); * for every user")
        .query("query", "string", "an Elasticsearch query (JSON) of the supported subset")
        .query("ids", "uuid", "a user id (repeatable, or comma-separated)")
        .query("numberOfResults", "integer", "users per page (default 25, at most 10000)")
        .query("startRow", "integer", "skip this many users")
        .query("sortFields", "string", "name:order pairs, comma-separated (or sortFields[N].name/.order/.missing)")
        .query("nextResults", "string", "the cursor a previous answer gave: the next page")
        .query("accurateTotal", "boolean", "accepted; totals are always exact")
}

const HARD_DELETE: &str =
    "true deletes for good; without it users and applications are deactivated";
const REACTIVATE: &str = "true (and no body) reactivates the deactivated entity";

/// Every route of the API. `config` sets the import's body limit.
pub fn table(config: &ApiConfig) -> Vec<Route> {
    use Method as M;
    let import_limit = config.max_import_bytes;
    vec![
        // --- operations ------------------------------------------------------------------
        Route::new("/api/status", vec![
            op(M::GET, status::status, "Liveness and database readiness").open().no_errors()
                .ok::<StatusBody>()
                .answers::<StatusBody>(503, "The database does not answer"),
        ]),
        Route::new("/api/openapi.json", vec![
            op(M::GET, openapi::serve, "This OpenAPI document").open().no_errors()
                .answers::<serde_json::Value>(200, "The document"),
        ]),
        Route::new("/metrics", vec![
            op(M::GET, crate::metrics::render, "Prometheus metrics").open().no_errors()
                .text(200, "The metrics in Prometheus' text format"),
        ]),
        // --- tenants ---------------------------------------------------------------------
        Route::new("/api/tenant", vec![
            op(M::GET, tenant::list, "List tenants").ok::<TenantsBody>(),
            op(M::POST, tenant::create, "Create a tenant").body::<TenantBody>().ok::<TenantBody>(),
        ]),
        Route::new("/api/tenant/{tenantId}", vec![
            op(M::GET, tenant::get, "Retrieve a tenant").ok::<TenantBody>(),
            op(M::POST, tenant::create, "Create a tenant with this id").body::<TenantBody>().ok::<TenantBody>(),
            op(M::PUT, tenant::replace, "Replace a tenant").body::<TenantBody>().ok::<TenantBody>(),
            op(M::PATCH, tenant::patch, "Merge-patch a tenant").body::<TenantBody>().ok::<TenantBody>(),
            op(M::DELETE, tenant::delete, "Delete a tenant and everything in it").empty(200, "Deleted"),
        ]),
        // --- applications and roles ------------------------------------------------------
        Route::new("/api/application", vec![
            op(M::GET, application::list, "List active applications (?inactive=true: the deactivated ones)")
                .query("inactive", "boolean", "true lists the deactivated applications")
                .ok::<ApplicationsBody>(),
            op(M::POST, application::create, "Create an application with roles")
                .body::<ApplicationBody>().ok::<ApplicationBody>(),
        ]),
        Route::new("/api/application/{applicationId}", vec![
            op(M::GET, application::get, "Retrieve an application").ok::<ApplicationBody>(),
            op(M::POST, application::create, "Create an application with this id")
                .body::<ApplicationBody>().ok::<ApplicationBody>(),
            op(M::PUT, application::replace, "Replace an application, or reactivate it")
                .query("reactivate", "boolean", REACTIVATE)
                .optional_body::<ApplicationBody>().ok::<ApplicationBody>(),
            op(M::PATCH, application::patch, "Merge-patch an application")
                .body::<ApplicationBody>().ok::<ApplicationBody>(),
            op(M::DELETE, application::delete, "Deactivate an application, or delete it with its registrations")
                .query("hardDelete", "boolean", HARD_DELETE).empty(200, "Deactivated or deleted"),
        ]),
        Route::new("/api/application/{applicationId}/oauth-configuration/client-secret", vec![
            op(M::POST, oauth::rotate_secret, "Generate a new OAuth client secret (answered once; the old one stops working)")
                .optional_body::<RotateClientSecretRequest>().ok::<ClientSecretBody>(),
        ]),
        Route::new("/api/application/{applicationId}/role", vec![
            op(M::POST, application::create_role, "Add a role to an application")
                .body::<RoleBody>().ok::<RoleBody>(),
        ]),
        Route::new("/api/application/{applicationId}/role/{roleId}", vec![
            op(M::POST, application::create_role_with_id, "Add a role with this id to an application")
                .body::<RoleBody>().ok::<RoleBody>(),
            op(M::PUT, application::replace_role, "Replace an application role").body::<RoleBody>().ok::<RoleBody>(),
            op(M::PATCH, application::patch_role, "Merge-patch an application role").body::<RoleBody>().ok::<RoleBody>(),
            op(M::DELETE, application::delete_role, "Delete an application role").empty(200, "Deleted"),
        ]),
        // --- groups ----------------------------------------------------------------------
        Route::new("/api/group", vec![
            op(M::GET, group::list, "List groups").ok::<GroupsBody>(),
            op(M::POST, group::create, "Create a group with application roles (roleIds)")
                .body::<GroupRequest>().ok::<GroupBody>(),
        ]),
        Route::new("/api/group/member", vec![
            op(M::POST, group::add_members, "Add users to groups, all or nothing")
                .body::<MembersBody>().ok::<MembersBody>(),
            op(M::DELETE, group::remove_members, "Remove memberships by ?groupId=&userId=, ?memberId=, or a body")
                .query("groupId", "uuid", "with userId: the membership of this user in this group")
                .query("userId", "uuid", "with groupId")
                .query("memberId", "uuid", "the membership's id")
                .optional_body::<MemberIdsBody>().empty(200, "Removed"),
        ]),
        Route::new("/api/group/{groupId}", vec![
            op(M::GET, group::get, "Retrieve a group").ok::<GroupBody>(),
            op(M::POST, group::create, "Create a group with this id").body::<GroupRequest>().ok::<GroupBody>(),
            op(M::PUT, group::replace, "Replace a group").body::<GroupRequest>().ok::<GroupBody>(),
            op(M::PATCH, group::patch, "Merge-patch a group").body::<GroupRequest>().ok::<GroupBody>(),
            op(M::DELETE, group::delete, "Delete a group and its memberships (the users stay)").empty(200, "Deleted"),
        ]),
        // --- users and registrations -----------------------------------------------------
        Route::new("/api/user", vec![
            op(M::GET, user::find, "Find a user by ?email=, ?username= or ?loginId=")
                .query("email", "string", "the user's email")
                .query("username", "string", "the user's username")
                .query("loginId", "string", "an email or a username")
                .ok::<UserBody>(),
            op(M::POST, user::create, "Create a user").body::<UserBody>().ok::<UserBody>(),
        ]),
        Route::new("/api/user/search", vec![
            search_query(op(M::GET, search::get, "Search users by queryString, query or ids; page with startRow or nextResults"))
                .ok::<SearchAnswer>(),
            op(M::POST, search::post, "Search users: FusionAuth's {\"search\": {queryString | query | ids, numberOfResults, startRow, sortFields, nextResults}}")
                .body::<SearchRequest>().ok::<SearchAnswer>(),
        ]),
        Route::new("/api/user/export", vec![
            search_query(op(M::GET, search::export_get, "Every user a search selects, as NDJSON (one user per line)"))
                .query("includeCredentials", "boolean", "true adds password hashes (superuser keys only; else 403)")
                .ndjson("One user JSON per line").empty(403, "includeCredentials without a superuser key"),
            op(M::POST, search::export_post, "Every user a search body selects, as NDJSON (one user per line)")
                .query("includeCredentials", "boolean", "true adds password hashes (superuser keys only; else 403)")
                .body::<SearchRequest>()
                .ndjson("One user JSON per line").empty(403, "includeCredentials without a superuser key"),
        ]),
        Route::new("/api/user/{userId}", vec![
            op(M::GET, user::get, "Retrieve a user").ok::<UserBody>(),
            op(M::POST, user::create, "Create a user with this id").body::<UserBody>().ok::<UserBody>(),
            op(M::PUT, user::replace, "Replace a user's profile, or reactivate the user")
                .query("reactivate", "boolean", REACTIVATE)
                .optional_body::<UserBody>().ok::<UserBody>(),
            op(M::PATCH, user::patch, "Merge-patch a user").body::<UserBody>().ok::<UserBody>(),
            op(M::DELETE, user::delete, "Deactivate a user, or delete them with their registrations and memberships")
                .query("hardDelete", "boolean", HARD_DELETE).empty(200, "Deactivated or deleted"),
        ]),
        Route::new("/api/user/import", vec![
            op(M::POST, import::import, "Import users with their registrations, memberships and password hashes, all or nothing; upsert: true updates users that exist")
                .body::<ImportRequest>()
                .answers::<ImportSummary>(200, "Imported: with upsert, the counts of created and updated users; without it an empty body, as FusionAuth answers"),
        ]).body_limit(import_limit),
        Route::new("/api/user/import/job", vec![
            op(M::POST, import::queue_job, "Queue an import as a job (the import body, or {\"file\"} in the server's import directory)")
                .body::<ImportJobRequest>().answers::<JobBody>(202, "The queued job"),
        ]).body_limit(import_limit),
        Route::new("/api/user/import/job/{jobId}", vec![
            op(M::GET, import::get_job, "An import job's state, counts and errors").ok::<JobBody>(),
        ]),
        Route::new("/api/user/bulk", vec![
            op(M::DELETE, import::bulk_delete, "Hard-delete the users a queryString or userId parameters select; dryRun=true counts them")
                .query("queryString", "string", "the user search's query language (docs/search.md), e.g. tenantId:<uuid> AND email:*@legacy.example")
                .query("userId", "uuid", "a user to delete (repeatable, or comma-separated)")
                .query("dryRun", "boolean", "true only counts")
                .query("hardDelete", "boolean", "must be true unless dryRun")
                .ok::<BulkDeleteOutcome>(),
        ]),
        Route::new("/api/user/registration", vec![
            op(M::POST, user::register, "Create a user and a registration together")
                .body::<RegisterBody>().ok::<RegisteredBody>(),
        ]),
        Route::new("/api/user/registration/{userId}", vec![
            op(M::POST, user::register_with_user_id, "Add a registration to an existing user (or create the user with this id)")
                .body::<RegisterBody>().ok::<RegisteredBody>(),
        ]),
        Route::new("/api/user/registration/{userId}/{applicationId}", vec![
            op(M::GET, user::get_registration, "Retrieve a registration").ok::<RegistrationBody>(),
            op(M::PUT, user::replace_registration, "Replace a registration")
                .body::<RegistrationBody>().ok::<RegistrationBody>(),
            op(M::PATCH, user::patch_registration, "Merge-patch a registration")
                .body::<RegistrationBody>().ok::<RegistrationBody>(),
            op(M::DELETE, user::delete_registration, "Delete a registration").empty(200, "Deleted"),
        ]),
        // --- login, passwords and tokens -------------------------------------------------
        Route::new("/api/login", vec![
            op(M::POST, login::login, "Log in with loginId and password: a JWT (and a refresh token when the application issues them)")
                .body::<LoginRequest>()
                .ok::<LoginResponse>()
                .answers::<LoginResponse>(202, "The user is not registered for the application")
                .answers::<ChangePasswordRequired>(203, "The password must be changed first")
                .answers::<LoginResponse>(212, "The email is not verified and the tenant verifies emails")
                .answers::<TwoFactorRequiredBody>(242, "A second factor is needed: complete the login at /api/two-factor/login")
                .empty(409, "The user is deactivated")
                .empty(410, "The account has expired")
                .answers::<LockedBody>(423, "Locked after too many failed attempts"),
        ]),
        // --- two-factor ------------------------------------------------------------------
        Route::new("/api/two-factor/secret", vec![
            op(M::GET, two_factor::secret, "A new authenticator secret (base64 and base32) to enable with a code")
                .ok::<TwoFactorSecretBody>(),
        ]),
        Route::new("/api/two-factor/login", vec![
            op(M::POST, two_factor::login, "Complete a 242 login with a TOTP, emailed or recovery code")
                .body::<TwoFactorLoginRequest>()
                .ok::<LoginResponse>()
                .answers::<LoginResponse>(202, "The user is not registered for the application")
                .answers::<ChangePasswordRequired>(203, "The password must be changed first")
                .answers::<LoginResponse>(212, "The email is not verified and the tenant verifies emails")
                .empty(404, "The twoFactorId is unknown or expired")
                .empty(409, "The user is deactivated")
                .empty(410, "The account has expired")
                .empty(421, "The code is wrong, used already or expired")
                .answers::<LockedBody>(423, "Locked after too many failed attempts"),
        ]),
        Route::new("/api/two-factor/send", vec![
            op(M::POST, two_factor::send_for_enrolment, "Email a code that enables an email method (userId, method: email, email)")
                .body::<SendCodeRequest>().empty(200, "Sent"),
        ]),
        Route::new("/api/two-factor/send/{twoFactorId}", vec![
            op(M::POST, two_factor::send_for_login, "Email a code for a pending login through one of the user's email methods (methodId)")
                .body::<SendCodeRequest>().empty(200, "Sent").empty(404, "The twoFactorId is unknown or expired"),
        ]).name_params(&["twoFactorId"]),
        Route::new("/api/user/two-factor/{userId}", vec![
            op(M::POST, two_factor::enable, "Enable an authenticator or email method with a code it made; the first method answers the recovery codes once")
                .body::<EnableTwoFactorRequest>()
                .ok::<RecoveryCodesBody>()
                .empty(421, "The code is wrong, used already or expired"),
            op(M::DELETE, two_factor::disable, "Disable a method with a code or a recovery code")
                .query("methodId", "string", "the method to disable")
                .query("code", "string", "a code of the user's methods, or a recovery code")
                .empty(200, "Disabled")
                .empty(421, "The code is wrong, used already or expired")
                .answers::<LockedBody>(423, "Locked after too many failed attempts"),
        ]),
        Route::new("/api/user/two-factor/recovery-code/{userId}", vec![
            op(M::POST, two_factor::recovery_codes, "New recovery codes (answered once; the old ones stop working)")
                .optional_body::<RecoveryCodesRequest>().ok::<RecoveryCodesBody>(),
        ]),
        Route::new("/api/user/change-password", vec![
            op(M::POST, login::change_password, "Change a password with loginId and currentPassword; revokes the user's refresh tokens")
                .body::<ChangePasswordRequest>()
                .empty(200, "Changed")
                .answers::<LockedBody>(423, "Locked after too many failed attempts"),
        ]),
        Route::new("/api/user/refresh-token/import", vec![
            op(M::POST, login::import_refresh_tokens, "Import refresh tokens from the old system (stored as SHA-256), all or nothing")
                .body::<ImportRefreshTokensRequest>().empty(200, "Imported"),
        ]),
        Route::new("/api/user/forgot-password", vec![
            op(M::POST, login::forgot_password, "Start a password reset by loginId: always 200 {}, the email goes out if the user exists here or in a lookup connector; with sendForgotPasswordEmail=false and an API key, answers the changePasswordId")
                .optional_key()
                .body::<ForgotPasswordRequest>().ok::<ForgotPasswordResponse>(),
        ]),
        Route::new("/api/user/change-password/{changePasswordId}", vec![
            op(M::POST, login::change_password_by_id, "Change a password with the id a 203 login answered")
                .open().body::<ChangePasswordRequest>().empty(200, "Changed"),
        ]).name_params(&["changePasswordId"]),
        Route::new("/api/jwt/validate", vec![
            op(M::GET, login::validate, "Validate the JWT in Authorization: Bearer; answer its claims")
                .open().ok::<ValidateResponse>(),
        ]),
        Route::new("/api/jwt/refresh", vec![
            op(M::POST, login::refresh, "Exchange a refresh token for a new JWT (one-time use)")
                .open().body::<RefreshRequest>().ok::<RefreshResponse>(),
            op(M::DELETE, login::revoke, "Revoke refresh tokens by ?token=, ?userId= or ?applicationId=")
                .query("token", "string", "one refresh token")
                .query("userId", "uuid", "every token of this user")
                .query("applicationId", "uuid", "every token for this application")
                .empty(200, "Revoked"),
        ]),
        Route::new("/api/jwt/public-key", vec![
            op(M::GET, login::public_key, "Public signing keys as PEM, by ?keyId= or ?applicationId=, or all")
                .open()
                .query("keyId", "string", "the key's id")
                .query("kid", "string", "the key's id, as the client libraries send it")
                .query("applicationId", "uuid", "the key that signs this application's tokens")
                .ok::<PublicKeys>(),
        ]),
        Route::new("/.well-known/jwks.json", vec![
            op(M::GET, login::jwks, "Public signing keys of every tenant as a JWK set").open().ok::<Jwks>(),
        ]),
        Route::new("/api/logout", vec![
            op(M::POST, oauth::api_logout, "Log out: revoke the refresh token sent (all of the user's with global), end the browser's SSO session")
                .open().body::<LogoutBody>().empty(200, "Logged out"),
        ]),
        // --- OAuth 2.0 / OpenID Connect (RFC contracts, not in the OpenAPI document) ------
        Route::protocol("/.well-known/openid-configuration", vec![
            op(M::GET, oauth::discovery, "OpenID Provider metadata of the only (or default) tenant").open(),
        ]),
        Route::protocol("/.well-known/openid-configuration/{tenantId}", vec![
            op(M::GET, oauth::discovery_tenant, "OpenID Provider metadata of a tenant").open(),
        ]),
        Route::protocol("/oauth2/authorize", vec![
            op(M::GET, pages::authorize, "Authorization request: the login page, or back to the client with a code").open(),
            op(M::POST, pages::authorize_post, "The login form").open(),
        ]),
        Route::protocol("/oauth2/two-factor", vec![
            op(M::POST, pages::two_factor_post, "The two-factor code step of a login").open(),
        ]),
        Route::protocol("/oauth2/two-factor/enrol", vec![
            op(M::POST, pages::two_factor_enrol_post, "Two-factor enrolment during a login").open(),
        ]),
        Route::protocol("/oauth2/change-password", vec![
            op(M::POST, pages::change_password_post, "The change-password step of a login").open(),
        ]),
        Route::protocol("/oauth2/register", vec![
            op(M::GET, pages::register, "Self-service registration page (when the application enables it)").open(),
            op(M::POST, pages::register_post, "The registration form: creates the user and signs them in").open(),
        ]),
        Route::protocol("/oauth2/forgot", vec![
            op(M::GET, pages::forgot, "Forgot-password page").open(),
            op(M::POST, pages::forgot_post, "The forgot-password form: queues the reset email").open(),
        ]),
        Route::protocol("/oauth2/reset-password", vec![
            op(M::GET, pages::reset_password, "The reset page a forgot-password email links to").open(),
            op(M::POST, pages::reset_password_post, "The reset form: sets the new password").open(),
        ]),
        Route::protocol("/oauth2/token", vec![
            op(M::POST, oauth::token, "Token endpoint: authorization_code, refresh_token, client_credentials, password").open(),
        ]),
        Route::protocol("/oauth2/userinfo", vec![
            op(M::GET, oauth::userinfo, "Claims of the access token's user").open(),
            op(M::POST, oauth::userinfo, "Claims of the access token's user").open(),
        ]),
        Route::protocol("/oauth2/introspect", vec![
            op(M::POST, oauth::introspect, "Token introspection (RFC 7662)").open(),
        ]),
        Route::protocol("/oauth2/revoke", vec![
            op(M::POST, oauth::revoke, "Token revocation (RFC 7009)").open(),
        ]),
        Route::protocol("/oauth2/logout", vec![
            op(M::GET, pages::logout, "RP-initiated logout").open(),
            op(M::POST, pages::logout, "RP-initiated logout").open(),
        ]),
        Route::protocol("/oauth2/jwks", vec![
            op(M::GET, login::jwks, "Public signing keys (alias of /.well-known/jwks.json)").open(),
        ]),
        // --- the admin web UI (pages, not in the OpenAPI document) ---------------------------
        Route::protocol("/admin", vec![
            op(M::GET, admin::dashboard, "Admin UI: the migration dashboard").open(),
        ]),
        Route::protocol("/admin/login", vec![
            op(M::GET, admin::login, "Admin UI: sign in through the hosted login page").open(),
        ]),
        Route::protocol("/admin/callback", vec![
            op(M::GET, admin::callback, "Admin UI: the hosted login's answer").open(),
        ]),
        Route::protocol("/admin/logout", vec![
            op(M::POST, admin::logout, "Admin UI: sign out").open(),
        ]),
        Route::protocol("/admin/connectors", vec![
            op(M::GET, admin::connectors, "Admin UI: connectors").open(),
        ]),
        Route::protocol("/admin/connectors/{connectorId}/try", vec![
            op(M::POST, admin::try_sign_in, "Admin UI: try a sign-in against a connector's legacy system").open(),
        ]),
        Route::protocol("/admin/tenants", vec![
            op(M::GET, admin::tenants, "Admin UI: tenants and their applications").open(),
        ]),
        Route::protocol("/admin/tenants/{tenantId}", vec![
            op(M::GET, admin::tenant, "Admin UI: a tenant's name, password rules and connector policies").open(),
            op(M::POST, admin::save_tenant, "Admin UI: save a tenant").open(),
        ]),
        Route::protocol("/admin/applications/{applicationId}", vec![
            op(M::GET, admin::application, "Admin UI: an application's name, OAuth settings and roles").open(),
            op(M::POST, admin::save_application, "Admin UI: save an application's name and OAuth settings").open(),
        ]),
        Route::protocol("/admin/applications/{applicationId}/roles", vec![
            op(M::POST, admin::add_role, "Admin UI: add a role to an application").open(),
        ]),
        Route::protocol("/admin/applications/{applicationId}/roles/{roleId}/delete", vec![
            op(M::POST, admin::remove_role, "Admin UI: remove a role from an application").open(),
        ]),
        Route::protocol("/admin/groups", vec![
            op(M::GET, admin::groups, "Admin UI: groups and their roles").open(),
        ]),
        Route::protocol("/admin/api-keys", vec![
            op(M::GET, admin::api_keys, "Admin UI: API keys and their permissions").open(),
        ]),
        Route::protocol("/admin/themes", vec![
            op(M::GET, admin::themes, "Admin UI: the hosted pages' themes").open(),
        ]),
        Route::protocol("/admin/import-jobs", vec![
            op(M::GET, admin::import_jobs, "Admin UI: import jobs and their progress").open(),
        ]),
        Route::protocol("/admin/keys", vec![
            op(M::GET, admin::keys, "Admin UI: signing keys").open(),
        ]),
        Route::protocol("/admin/keys/{tenantId}/rotate", vec![
            op(M::POST, admin::rotate_key, "Admin UI: rotate a tenant's signing key").open(),
        ]),
        Route::protocol("/admin/webhooks", vec![
            op(M::GET, admin::webhooks, "Admin UI: webhooks and their latest deliveries").open(),
        ]),
        Route::protocol("/admin/webhooks/attempts/{attemptId}/retry", vec![
            op(M::POST, admin::retry_attempt, "Admin UI: send a dead-lettered delivery again").open(),
        ]),
        Route::protocol("/admin/users", vec![
            op(M::GET, admin::users, "Admin UI: find users").open(),
        ]),
        Route::protocol("/admin/users/new", vec![
            op(M::GET, admin::new_user, "Admin UI: the form that creates a user").open(),
            op(M::POST, admin::create_user, "Admin UI: create a user").open(),
        ]),
        Route::protocol("/admin/users/{userId}", vec![
            op(M::GET, admin::user, "Admin UI: a user").open(),
        ]),
        Route::protocol("/admin/users/{userId}/{action}", vec![
            op(M::POST, admin::user_action, "Admin UI: deactivate, reactivate, revoke tokens, send a reset, delete").open(),
        ]),
        // --- themes of the hosted pages ----------------------------------------------------
        Route::new("/api/theme", vec![
            op(M::GET, theme::list, "List the themes of the hosted pages").ok::<ThemesBody>(),
            op(M::POST, theme::create, "Create a theme: templates (compiled on save), stylesheet, messages per locale")
                .body::<ThemeBody>().ok::<ThemeBody>(),
        ]),
        Route::new("/api/theme/{themeId}", vec![
            op(M::GET, theme::get, "Retrieve a theme").ok::<ThemeBody>(),
            op(M::POST, theme::create, "Create a theme with this id").body::<ThemeBody>().ok::<ThemeBody>(),
            op(M::PUT, theme::replace, "Replace a theme").body::<ThemeBody>().ok::<ThemeBody>(),
            op(M::PATCH, theme::patch, "Merge-patch a theme").body::<ThemeBody>().ok::<ThemeBody>(),
            op(M::DELETE, theme::delete, "Delete a theme no tenant uses").empty(200, "Deleted"),
        ]),
        // --- slow migration --------------------------------------------------------------
        Route::new("/api/connector", vec![
            op(M::GET, connector::list, "List connectors").ok::<ConnectorsBody>(),
            op(M::POST, connector::create, "Create a Generic, RESTMigration or LDAP connector to a legacy user store")
                .body::<ConnectorBody>().ok::<ConnectorBody>(),
        ]),
        Route::new("/api/connector/{connectorId}", vec![
            op(M::GET, connector::get, "Retrieve a connector").ok::<ConnectorBody>(),
            op(M::POST, connector::create, "Create a connector with this id").body::<ConnectorBody>().ok::<ConnectorBody>(),
            op(M::PUT, connector::replace, "Replace a connector").body::<ConnectorBody>().ok::<ConnectorBody>(),
            op(M::PATCH, connector::patch, "Merge-patch a connector").body::<ConnectorBody>().ok::<ConnectorBody>(),
            op(M::DELETE, connector::delete, "Delete a connector no tenant's policy names").empty(200, "Deleted"),
        ]),
        Route::new("/api/migration/status", vec![
            op(M::GET, connector::status, "Slow-migration progress per tenant and connector: exact counts, share migrated, forecast")
                .query("legacyCount", "integer", "users in the legacy system (default: tenant.data.legacyUserCount)")
                .query("goal", "number", "the share to forecast (default 0.9)")
                .ok::<MigrationStatus>(),
        ]),
        // --- webhooks --------------------------------------------------------------------
        Route::new("/api/webhook", vec![
            op(M::GET, webhook::list, "List webhooks").ok::<WebhooksBody>(),
            op(M::POST, webhook::create, "Create a webhook; the answer shows its Standard Webhooks secret once")
                .body::<WebhookBody>().ok::<WebhookAnswer>(),
        ]),
        Route::new("/api/webhook/{webhookId}", vec![
            op(M::GET, webhook::get, "Retrieve a webhook").ok::<WebhookAnswer>(),
            op(M::POST, webhook::create, "Create a webhook with this id").body::<WebhookBody>().ok::<WebhookAnswer>(),
            op(M::PUT, webhook::replace, "Replace a webhook").body::<WebhookBody>().ok::<WebhookAnswer>(),
            op(M::PATCH, webhook::patch, "Merge-patch a webhook").body::<WebhookBody>().ok::<WebhookAnswer>(),
            op(M::DELETE, webhook::delete, "Delete a webhook and its delivery log").empty(200, "Deleted"),
        ]),
        Route::new("/api/webhook/{webhookId}/test", vec![
            op(M::POST, webhook::test, "Send a sample event of a type now; answers the receiver's status and body")
                .body::<WebhookTestRequest>().ok::<portcullis_domain::webhooks::Delivered>(),
        ]),
        Route::new("/api/webhook/{webhookId}/retry", vec![
            op(M::POST, webhook::retry_all, "Make every dead-lettered attempt of the webhook pending again")
                .optional_body::<RetryRequest>().ok::<RetriedBody>(),
        ]),
        Route::new("/api/webhook-attempt", vec![
            op(M::GET, webhook::attempts, "The delivery log: attempts, newest first")
                .query("webhookId", "uuid", "only this webhook's")
                .query("eventType", "string", "only events of this type")
                .query("status", "string", "pending, succeeded or failed (dead-lettered)")
                .query("eventId", "uuid", "only this event's")
                .query("limit", "integer", "at most this many (default 100, at most 1000)")
                .ok::<WebhookAttemptsBody>(),
        ]),
        Route::new("/api/webhook-attempt/{attemptId}", vec![
            op(M::GET, webhook::attempt, "Retrieve a delivery attempt").ok::<WebhookAttemptBody>(),
        ]),
        Route::new("/api/webhook-attempt/{attemptId}/retry", vec![
            op(M::POST, webhook::retry, "Make a dead-lettered attempt pending again now")
                .optional_body::<RetryRequest>().ok::<WebhookAttemptBody>(),
        ]),
        Route::new("/api/system/event-log", vec![
            op(M::GET, webhook::event_logs, "FusionAuth's Event Log, newest first: dead-lettered webhook attempts")
                .query("type", "string", "Error, Information or Debug")
                .query("numberOfResults", "integer", "at most this many (default 25, at most 1000)")
                .ok::<EventLogsBody>(),
        ]),
        Route::new("/api/system/event-log/{eventLogId}", vec![
            op(M::GET, webhook::event_log, "Retrieve an Event Log entry").ok::<EventLogBody>(),
        ]),
        // --- API keys and signing keys ---------------------------------------------------
        Route::new("/api/api-key", vec![
            op(M::GET, api_key::list, "List API keys").ok::<ApiKeysBody>(),
            op(M::POST, api_key::create, "Create an API key").body::<ApiKeyBody>().ok::<ApiKeyBody>(),
        ]),
        Route::new("/api/api-key/{keyId}", vec![
            op(M::GET, api_key::get, "Retrieve an API key").ok::<ApiKeyBody>(),
            op(M::POST, api_key::create, "Create an API key with this id").body::<ApiKeyBody>().ok::<ApiKeyBody>(),
            op(M::PUT, api_key::replace, "Replace an API key").body::<ApiKeyBody>().ok::<ApiKeyBody>(),
            op(M::PATCH, api_key::patch, "Merge-patch an API key").body::<ApiKeyBody>().ok::<ApiKeyBody>(),
            op(M::DELETE, api_key::delete, "Delete an API key").empty(200, "Deleted"),
        ]),
        Route::new("/api/key", vec![
            op(M::GET, key::list, "List the signing keys of the caller's tenants (public halves only)").ok::<KeysBody>(),
        ]),
        Route::new("/api/key/generate", vec![
            op(M::POST, key::generate, "Rotate a tenant's signing key; the old key verifies until its tokens expire")
                .body::<GenerateKeyRequest>().ok::<KeyBody>(),
        ]),
        Route::new("/api/key/{keyId}", vec![
            op(M::GET, key::get, "Retrieve a signing key").ok::<KeyBody>(),
            op(M::DELETE, key::delete, "Delete a retiring signing key (400 for the active key)").empty(200, "Deleted"),
        ]).name_params(&["keyId"]),
    ]
}
