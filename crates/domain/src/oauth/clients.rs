//! Applications as OAuth clients: `application.oauthConfiguration` read and checked, the client
//! secret (generated or given, shown once, kept only as SHA-256 in `clientSecretHash`, never
//! answered), and client authentication (`client_secret_basic`, `client_secret_post`, or none
//! where the policy allows it).

use super::{same, OAuth, OAuthError};
use crate::model::*;
use crate::{secrets, Errors};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// The stored key of the client secret's SHA-256 inside `oauthConfiguration`.
const SECRET_HASH: &str = "clientSecretHash";
/// The shortest client secret an administrator may choose; generated ones are 43 characters.
const MIN_SECRET_CHARS: usize = 32;
/// The grants an application has when it names none (FusionAuth's default).
const DEFAULT_GRANTS: [&str; 2] = ["authorization_code", "refresh_token"];
const GRANTS: [&str; 4] = [
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "password",
];

/// When a client must prove PKCE (`proofKeyForCodeExchangePolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PkcePolicy {
    Required,
    #[default]
    NotRequired,
    NotRequiredWhenUsingClientAuthentication,
}

/// When a client must authenticate at the token endpoint (`clientAuthenticationPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuthPolicy {
    #[default]
    Required,
    NotRequired,
    NotRequiredWhenUsingPKCE,
}

/// `application.oauthConfiguration`, FusionAuth's shape.
#[derive(Debug, Clone, Default)]
pub struct OAuthConfig {
    pub authorized_redirect_urls: Vec<String>,
    pub authorized_origin_urls: Vec<String>,
    pub logout_url: Option<String>,
    pub enabled_grants: Vec<String>,
    pub pkce: PkcePolicy,
    pub client_auth: ClientAuthPolicy,
    /// `registrationConfiguration.enabled`: the login page offers self-service registration.
    pub self_registration: bool,
    secret_hash: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default, rename = "authorizedRedirectURLs")]
    authorized_redirect_urls: Vec<String>,
    #[serde(default, rename = "authorizedOriginURLs")]
    authorized_origin_urls: Vec<String>,
    #[serde(default, rename = "logoutURL")]
    logout_url: Option<String>,
    #[serde(default)]
    enabled_grants: Option<Vec<String>>,
    #[serde(default)]
    require_client_authentication: Option<bool>,
    #[serde(default)]
    client_authentication_policy: Option<String>,
    #[serde(default)]
    proof_key_for_code_exchange_policy: Option<String>,
    #[serde(default)]
    client_secret_hash: Option<String>,
}

impl OAuthConfig {
    /// The application's configuration; an application without one is a client with no
    /// redirect URI, so it can use only the grants that need none.
    pub fn of(app: &Application) -> Self {
        let raw: Raw = app
            .settings
            .get("oauthConfiguration")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let client_auth = match raw.client_authentication_policy.as_deref() {
            Some("NotRequired") => ClientAuthPolicy::NotRequired,
            Some("NotRequiredWhenUsingPKCE") => ClientAuthPolicy::NotRequiredWhenUsingPKCE,
            Some(_) => ClientAuthPolicy::Required,
            None if raw.require_client_authentication == Some(false) => {
                ClientAuthPolicy::NotRequired
            }
            None => ClientAuthPolicy::Required,
        };
        let pkce = match raw.proof_key_for_code_exchange_policy.as_deref() {
            Some("Required") => PkcePolicy::Required,
            Some("NotRequiredWhenUsingClientAuthentication") => {
                PkcePolicy::NotRequiredWhenUsingClientAuthentication
            }
            _ => PkcePolicy::NotRequired,
        };
        let self_registration = app
            .settings
            .get("registrationConfiguration")
            .and_then(|r| r.get("enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        OAuthConfig {
            authorized_redirect_urls: raw.authorized_redirect_urls,
            authorized_origin_urls: raw.authorized_origin_urls,
            logout_url: raw.logout_url.filter(|u| !u.is_empty()),
            enabled_grants: raw
                .enabled_grants
                .unwrap_or_else(|| DEFAULT_GRANTS.map(String::from).to_vec()),
            pkce,
            client_auth,
            self_registration,
            secret_hash: raw.client_secret_hash,
        }
    }

    pub fn grant_enabled(&self, grant: &str) -> bool {
        self.enabled_grants.iter().any(|g| g == grant)
    }

    /// Whether `uri` is one of the registered redirect URIs, character for character: no
    /// prefix, no pattern, no normalisation an attacker could steer.
    pub fn redirect_allowed(&self, uri: &str) -> bool {
        self.authorized_redirect_urls.iter().any(|u| u == uri)
    }

    /// Whether a `post_logout_redirect_uri` may be followed: the logout URL or a registered
    /// redirect URI, exactly.
    pub fn logout_redirect_allowed(&self, uri: &str) -> bool {
        self.logout_url.as_deref() == Some(uri) || self.redirect_allowed(uri)
    }
}

/// What the token request says about its client: from `Authorization: Basic` or from the body.
#[derive(Debug, Clone, Default)]
pub struct ClientAuth {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// A client that proved who it is (or that the policy let through without a secret).
pub(super) struct Client {
    pub app: Application,
    pub tenant: Tenant,
    pub config: OAuthConfig,
    /// Whether a secret was presented and matched.
    pub authenticated: bool,
}

/// Checks `oauthConfiguration` on an application create or update.
pub(crate) fn check(app: &Application, errors: &mut Errors) {
    let Some(c) = app.settings.get("oauthConfiguration") else {
        return;
    };
    if !c.is_object() {
        errors.add_field(
            "application.oauthConfiguration",
            "[invalid]application.oauthConfiguration",
            "The [oauthConfiguration] must be an object.",
        );
        return;
    }
    for (key, field) in [
        ("authorizedRedirectURLs", "authorizedRedirectURLs"),
        ("authorizedOriginURLs", "authorizedOriginURLs"),
    ] {
        let name = format!("application.oauthConfiguration.{field}");
        match c.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Array(urls)) => {
                for u in urls {
                    if !u
                        .as_str()
                        .is_some_and(|u| absolute_url(u, key == "authorizedRedirectURLs"))
                    {
                        errors.add_field(
                            &name,
                            &format!("[invalid]{name}"),
                            "Each URL must be an absolute http or https URL without a fragment.",
                        );
                        break;
                    }
                }
            }
            Some(_) => errors.add_field(
                &name,
                &format!("[invalid]{name}"),
                "Must be a list of URLs.",
            ),
        }
    }
    if let Some(u) = c.get("logoutURL").filter(|v| !v.is_null()) {
        if !u
            .as_str()
            .is_some_and(|u| u.is_empty() || absolute_url(u, true))
        {
            let name = "application.oauthConfiguration.logoutURL";
            errors.add_field(
                name,
                &format!("[invalid]{name}"),
                "The logout URL must be an absolute http or https URL without a fragment.",
            );
        }
    }
    if let Some(g) = c.get("enabledGrants").filter(|v| !v.is_null()) {
        let ok = g.as_array().is_some_and(|a| {
            a.iter()
                .all(|g| g.as_str().is_some_and(|g| GRANTS.contains(&g)))
        });
        if !ok {
            let name = "application.oauthConfiguration.enabledGrants";
            errors.add_field(
                name,
                &format!("[invalid]{name}"),
                format!("Grants are among {GRANTS:?}."),
            );
        }
    }
    for (key, allowed) in [
        (
            "proofKeyForCodeExchangePolicy",
            &[
                "Required",
                "NotRequired",
                "NotRequiredWhenUsingClientAuthentication",
            ][..],
        ),
        (
            "clientAuthenticationPolicy",
            &["Required", "NotRequired", "NotRequiredWhenUsingPKCE"][..],
        ),
    ] {
        if let Some(v) = c.get(key).filter(|v| !v.is_null()) {
            if !v.as_str().is_some_and(|v| allowed.contains(&v)) {
                let name = format!("application.oauthConfiguration.{key}");
                errors.add_field(
                    &name,
                    &format!("[invalid]{name}"),
                    format!("One of {allowed:?}."),
                );
            }
        }
    }
    if let Some(s) = c.get("clientSecret").filter(|v| !v.is_null()) {
        if s.as_str()
            .is_none_or(|s| s.chars().count() < MIN_SECRET_CHARS)
        {
            let name = "application.oauthConfiguration.clientSecret";
            errors.add_field(
                name,
                &format!("[tooShort]{name}"),
                format!("A client secret has at least {MIN_SECRET_CHARS} characters; leave it out to have one generated."),
            );
        }
    }
}

/// An absolute http(s) URL with a host and, for a redirect, no fragment (RFC 6749 §3.1.2).
fn absolute_url(u: &str, no_fragment: bool) -> bool {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    rest.is_some_and(|r| {
        !(r.is_empty()
            || r.starts_with('/')
            || u.chars().any(|c| c.is_whitespace() || c.is_control())
            || (no_fragment && u.contains('#')))
    })
}

fn oauth_block(app: &mut Application) -> &mut serde_json::Map<String, Value> {
    let entry = app
        .settings
        .entry("oauthConfiguration")
        .or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry.as_object_mut().expect("an object")
}

/// Prepares an application for storing: the secret it carries (given or, on create, generated)
/// becomes its SHA-256; a hash the caller sent is never taken; with no secret given, the one
/// stored before (`previous`) stays. Answers the plaintext secret when there is a new one, to
/// show once.
pub(crate) fn seal_secret(
    app: &mut Application,
    previous: Option<&Application>,
    generate: bool,
) -> Option<String> {
    let block = oauth_block(app);
    block.remove(SECRET_HASH);
    block.remove("clientId");
    let given = block
        .remove("clientSecret")
        .and_then(|v| v.as_str().map(str::to_string));
    let secret = given.or_else(|| generate.then(secrets::new_secret));
    let hash = match &secret {
        Some(s) => Some(secrets::stored_hash(s)),
        None => previous.and_then(|p| OAuthConfig::of(p).secret_hash),
    };
    if let Some(h) = hash {
        block.insert(SECRET_HASH.into(), json!(h));
    }
    secret
}

impl Application {
    /// The application as answered: `oauthConfiguration.clientId` filled in and the secret's
    /// hash left out (the plaintext secret appears only in the answer that set it).
    pub fn redacted(mut self) -> Application {
        let id = self.id;
        let block = oauth_block(&mut self);
        block.remove(SECRET_HASH);
        if let Some(id) = id {
            block.insert("clientId".into(), json!(id));
        }
        self
    }

    /// The answer that shows a new client secret, once.
    pub fn with_secret(self, secret: Option<String>) -> Application {
        let mut app = self.redacted();
        if let Some(s) = secret {
            oauth_block(&mut app).insert("clientSecret".into(), json!(s));
        }
        app
    }
}

impl OAuth {
    /// The active application `client_id` names, with its tenant and configuration.
    pub(super) async fn client(&self, client_id: &str) -> Result<Client, OAuthError> {
        let unknown = || OAuthError::new("invalid_client", "Client authentication failed.");
        let id = Uuid::parse_str(client_id).map_err(|_| unknown())?;
        let app = self
            .store()
            .application(Scope::ALL, id)
            .await?
            .filter(|a| a.active)
            .ok_or_else(unknown)?;
        let tenant = self
            .store()
            .tenant(app.tenant_id.expect("stored"))
            .await?
            .ok_or_else(unknown)?;
        Ok(Client {
            config: OAuthConfig::of(&app),
            app,
            tenant,
            authenticated: false,
        })
    }

    /// The client of a token, introspection or revocation request: its secret checked when one
    /// is sent (a wrong one is always `invalid_client`); without one, `authenticated` is false
    /// and the grant decides whether its policy allows that.
    pub(super) async fn authenticate_client(
        &self,
        auth: &ClientAuth,
        body_client_id: Option<&str>,
    ) -> Result<Client, OAuthError> {
        let id = match (auth.client_id.as_deref(), body_client_id) {
            (Some(a), Some(b)) if a != b => {
                return Err(OAuthError::new(
                    "invalid_request",
                    "The client_id differs from the authenticated client.",
                ))
            }
            (Some(a), _) => a,
            (None, Some(b)) => b,
            (None, None) => {
                return Err(OAuthError::new(
                    "invalid_client",
                    "Client authentication failed.",
                ))
            }
        };
        let mut client = self.client(id).await?;
        if let Some(secret) = auth.client_secret.as_deref() {
            let good = client
                .config
                .secret_hash
                .as_deref()
                .is_some_and(|h| same(h, &secrets::stored_hash(secret)));
            if !good {
                tracing::info!(client = %id, "client authentication failed");
                return Err(OAuthError::new(
                    "invalid_client",
                    "Client authentication failed.",
                ));
            }
            client.authenticated = true;
        }
        Ok(client)
    }

    /// `POST /api/application/{id}/oauth-configuration/client-secret` (ours): a new client
    /// secret, answered once; the old one stops working at once.
    pub async fn rotate_client_secret(
        &self,
        scope: Scope,
        application: Uuid,
    ) -> Result<(Uuid, String), crate::Error> {
        let identity = self.sessions.identity();
        let mut app = self
            .store()
            .application(scope, application)
            .await?
            .ok_or(crate::Error::NotFound)?;
        let secret = secrets::new_secret();
        oauth_block(&mut app).insert("clientSecret".into(), json!(secret));
        identity.store_application_update(app).await?;
        Ok((application, secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_match_exactly() {
        let mut app = Application::default();
        app.settings.insert(
            "oauthConfiguration".into(),
            json!({"authorizedRedirectURLs": ["https://app.example/cb"]}),
        );
        let c = OAuthConfig::of(&app);
        assert!(c.redirect_allowed("https://app.example/cb"));
        for bad in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://app.example/cb#x",
            "https://app.example/c",
            "https://APP.example/cb",
            "https://app.example/cb/../evil",
            "",
        ] {
            assert!(!c.redirect_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn urls_must_be_absolute() {
        assert!(absolute_url("http://127.0.0.1:3000/cb", true));
        assert!(!absolute_url("javascript:alert(1)", true));
        assert!(!absolute_url("//evil.example/", true));
        assert!(!absolute_url("https:///x", true));
        assert!(!absolute_url("https://a.example/#f", true));
    }

    #[test]
    fn a_secret_is_kept_as_its_hash_and_never_taken_from_the_caller() {
        let mut app = Application::default();
        app.settings.insert(
            "oauthConfiguration".into(),
            json!({"clientSecretHash": "attacker-chosen"}),
        );
        let secret = seal_secret(&mut app, None, true).unwrap();
        let c = OAuthConfig::of(&app);
        assert_eq!(
            c.secret_hash.as_deref(),
            Some(secrets::stored_hash(&secret).as_str())
        );
        let shown = app.clone().redacted();
        assert!(!serde_json::to_string(&shown)
            .unwrap()
            .contains(&secrets::stored_hash(&secret)));
        // An update without a secret keeps the stored one.
        let mut next = shown.clone();
        assert_eq!(seal_secret(&mut next, Some(&app), false), None);
        assert_eq!(OAuthConfig::of(&next).secret_hash, c.secret_hash);
    }
}
