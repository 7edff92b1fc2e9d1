//! Email the identity flows send (forgot password), and the settings they are sent with.
//!
//! The domain decides *what* is sent and *when*; the `portcullis-mail` crate implements
//! [`Mailer`] over SMTP. Without it, [`NoMailer`] refuses, and the flows log that no email
//! could be sent.

use crate::model::Tenant;
use serde::Deserialize;

/// `tenant.emailConfiguration`, under FusionAuth's names, plus `forgotPasswordUrl` (ours): the
/// link a reset email carries, with `{changePasswordId}` replaced.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EmailSettings {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `NONE`, `SSL` (TLS from the first byte) or `TLS` (STARTTLS).
    pub security: String,
    pub default_from_email: String,
    pub default_from_name: Option<String>,
    pub forgot_password_url: Option<String>,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: 25,
            username: None,
            password: None,
            security: "NONE".into(),
            default_from_email: "no-reply@portcullis.local".into(),
            default_from_name: Some("Portcullis".into()),
            forgot_password_url: None,
        }
    }
}

impl std::fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl EmailSettings {
    pub fn of(tenant: &Tenant) -> Self {
        tenant
            .settings
            .get("emailConfiguration")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    /// The reset link for a change-password id.
    pub fn reset_link(&self, change_password_id: &str) -> String {
        self.reset_link_or(change_password_id, None)
    }

    /// The reset link for a change-password id: the tenant's `forgotPasswordUrl` when it names
    /// one (the tenant chose where its resets happen), else `fallback` (a template with
    /// `{changePasswordId}`, such as the hosted reset page), else a path of FusionAuth's form.
    pub fn reset_link_or(&self, change_password_id: &str, fallback: Option<&str>) -> String {
        match self
            .forgot_password_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .or(fallback)
        {
            Some(t) if t.contains("{changePasswordId}") => {
                t.replace("{changePasswordId}", change_password_id)
            }
            Some(t) => format!("{}/{change_password_id}", t.trim_end_matches('/')),
            None => format!("/password/change/{change_password_id}"),
        }
    }
}

/// One plain-text email.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[async_trait::async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Sends `email` through the tenant's server. The error is for logs.
    async fn send(&self, settings: &EmailSettings, email: &Email) -> Result<(), String>;
}

/// The stand-in without an SMTP implementation.
pub struct NoMailer;

#[async_trait::async_trait]
impl Mailer for NoMailer {
    async fn send(&self, _: &EmailSettings, _: &Email) -> Result<(), String> {
        Err("this server cannot send email (no mailer is configured)".into())
    }
}
