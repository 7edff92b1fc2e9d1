//! The route table: every endpoint with its methods and a one-line summary. It feeds the OpenAPI
//! document, and a test proves it matches the router exactly.

pub struct RouteDoc {
    pub path: &'static str,
    pub methods: &'static [&'static str],
    pub summary: &'static str,
    /// Whether the route needs an API key.
    pub authenticated: bool,
}

const fn r(
    path: &'static str,
    methods: &'static [&'static str],
    summary: &'static str,
) -> RouteDoc {
    RouteDoc {
        path,
        methods,
        summary,
        authenticated: true,
    }
}

const fn open(
    path: &'static str,
    methods: &'static [&'static str],
    summary: &'static str,
) -> RouteDoc {
    RouteDoc {
        path,
        methods,
        summary,
        authenticated: false,
    }
}

pub const ROUTES: &[RouteDoc] = &[
    open("/api/status", &["GET"], "Liveness and database readiness"),
    open("/api/openapi.json", &["GET"], "This OpenAPI document"),
    open("/metrics", &["GET"], "Prometheus metrics"),
    r("/api/tenant", &["GET", "POST"], "List tenants; create a tenant"),
    r("/api/tenant/{tenantId}", &["GET", "POST", "PUT", "PATCH", "DELETE"], "Retrieve, create with this id, replace, merge-patch or delete a tenant and everything in it"),
    r("/api/application", &["GET", "POST"], "List applications; create an application with roles"),
    r("/api/application/{applicationId}", &["GET", "POST", "PUT", "PATCH", "DELETE"], "Retrieve, create with this id, replace, merge-patch or delete an application"),
    r("/api/application/{applicationId}/role", &["POST"], "Add a role to an application"),
    r("/api/application/{applicationId}/role/{roleId}", &["POST", "PUT", "PATCH", "DELETE"], "Create with this id, replace, merge-patch or delete an application role"),
    r("/api/group", &["GET", "POST"], "List groups; create a group with application roles"),
    r("/api/group/member", &["POST", "DELETE"], "Add users to groups; remove memberships"),
    r("/api/group/{groupId}", &["GET", "POST", "PUT", "PATCH", "DELETE"], "Retrieve, create with this id, replace, merge-patch or delete a group"),
    r("/api/user", &["GET", "POST"], "Find a user by ?email=, ?username= or ?loginId=; create a user"),
    r("/api/user/{userId}", &["GET", "POST", "PUT", "PATCH", "DELETE"], "Retrieve, create with this id, replace, merge-patch or delete a user"),
    r("/api/user/import", &["POST"], "Import users with their registrations, memberships and password hashes, all or nothing; upsert: true updates users that exist"),
    r("/api/user/import/job", &["POST"], "Queue an import as a job (the import body, or {\"file\"} in the server's import directory); 202 with the job"),
    r("/api/user/import/job/{jobId}", &["GET"], "An import job's state, counts and errors"),
    r("/api/user/bulk", &["DELETE"], "Hard-delete the users a queryString (tenantId:, email:, data.key:) or userId parameters select; dryRun=true counts them"),
    r("/api/user/registration", &["POST"], "Create a user and a registration together"),
    r("/api/user/registration/{userId}", &["POST"], "Add a registration to an existing user (or create the user with this id)"),
    r("/api/user/registration/{userId}/{applicationId}", &["GET", "PUT", "PATCH", "DELETE"], "Retrieve, replace, merge-patch or delete a registration"),
    r("/api/login", &["POST"], "Log in with loginId and password: a JWT (and a refresh token when the application issues them)"),
    r("/api/user/change-password", &["POST"], "Change a password with loginId and currentPassword; revokes the user's refresh tokens"),
    r("/api/user/refresh-token/import", &["POST"], "Import refresh tokens from the old system (stored as SHA-256), all or nothing"),
    open("/api/user/forgot-password", &["POST"], "Start a password reset by loginId: always 200 {}, the email goes out if the user exists here or in a lookup connector; with sendForgotPasswordEmail=false and an API key, answers the changePasswordId"),
    open("/api/user/change-password/{changePasswordId}", &["POST"], "Change a password with the id a 203 login answered"),
    open("/api/jwt/validate", &["GET"], "Validate the JWT in Authorization: Bearer; answer its claims"),
    open("/api/jwt/refresh", &["POST", "DELETE"], "Exchange a refresh token for a new JWT (one-time use); DELETE (with an API key) revokes by ?token=, ?userId=, ?applicationId="),
    open("/api/jwt/public-key", &["GET"], "Public signing keys as PEM, by ?keyId= or ?applicationId=, or all"),
    open("/.well-known/jwks.json", &["GET"], "Public signing keys of every tenant as a JWK set"),
    r("/api/connector", &["GET", "POST"], "List connectors; create a Generic, RESTMigration or LDAP connector to a legacy user store"),
    r("/api/connector/{connectorId}", &["GET", "POST", "PUT", "PATCH", "DELETE"], "Retrieve, create with this id, replace, merge-patch or delete a connector"),
    r("/api/migration/status", &["GET"], "Slow-migration progress per tenant and connector: exact counts, share migrated (?legacyCount=), forecast (?goal=)"),
    r("/api/api-key", &["GET", "POST"], "List API keys; create an API key"),
    r("/api/api-key/{keyId}", &["GET", "POST", "PUT", "PATCH", "DELETE"], "Retrieve, create with this id, replace, merge-patch or delete an API key"),
    r("/api/key", &["GET"], "List the signing keys of the caller's tenants (public halves only)"),
    r("/api/key/generate", &["POST"], "Rotate a tenant's signing key ({\"key\": {\"algorithm\", \"tenantId\"?}}); the old key verifies until its tokens expire"),
    r("/api/key/{keyId}", &["GET", "DELETE"], "Retrieve a signing key; delete a retiring one (400 for the active key)"),
];
