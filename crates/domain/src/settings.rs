//! Typed views of the tenant and application settings login reads, under FusionAuth's JSON names.
//! The settings themselves stay in the entities' `settings` map (kept verbatim); a missing or
//! malformed block reads as FusionAuth's defaults.

use crate::model::{Application, Json, Tenant};
use serde::de::DeserializeOwned;
use serde::Deserialize;

fn block<T: DeserializeOwned + Default>(settings: &Json, name: &str) -> T {
    settings
        .get(name)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// `tenant.passwordEncryptionConfiguration`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct PasswordEncryption {
    pub encryption_scheme: Option<String>,
    pub encryption_scheme_factor: Option<u32>,
    pub modify_encryption_scheme_on_login: bool,
}

impl PasswordEncryption {
    pub fn of(tenant: &Tenant) -> Self {
        block(&tenant.settings, "passwordEncryptionConfiguration")
    }

    pub fn scheme(&self) -> &str {
        self.encryption_scheme
            .as_deref()
            .unwrap_or(portcullis_hash::DEFAULT_SCHEME)
    }
}

/// `tenant.failedAuthenticationConfiguration`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FailedAuthentication {
    pub too_many_attempts: u64,
    pub reset_count_in_seconds: i64,
    pub action_duration: i64,
    pub action_duration_unit: String,
}

impl Default for FailedAuthentication {
    fn default() -> Self {
        Self {
            too_many_attempts: 5,
            reset_count_in_seconds: 60,
            action_duration: 3,
            action_duration_unit: "MINUTES".into(),
        }
    }
}

impl FailedAuthentication {
    /// The lock's length in milliseconds (FusionAuth's units; unknown units read as minutes).
    pub fn lock_millis(&self) -> i64 {
        let unit = match self.action_duration_unit.to_ascii_uppercase().as_str() {
            "SECONDS" => 1_000,
            "HOURS" => 3_600_000,
            "DAYS" => 86_400_000,
            "WEEKS" => 7 * 86_400_000,
            _ => 60_000,
        };
        self.action_duration.max(0).saturating_mul(unit)
    }
}

/// `tenant.jwtConfiguration`, and `application.jwtConfiguration` (which counts only when
/// `enabled`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct JwtSettings {
    pub enabled: bool,
    pub time_to_live_in_seconds: Option<i64>,
    pub refresh_token_time_to_live_in_minutes: Option<i64>,
    /// `OneTimeUse` (our default: rotation with reuse detection) or `Reusable`.
    pub refresh_token_usage_policy: Option<String>,
}

/// `application.loginConfiguration`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct LoginConfiguration {
    pub generate_refresh_tokens: bool,
}

/// `tenant.passwordValidationRules` (FusionAuth's names and defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PasswordRules {
    pub min_length: usize,
    pub max_length: usize,
    pub require_mixed_case: bool,
    pub require_non_alpha: bool,
    pub require_number: bool,
}

impl Default for PasswordRules {
    fn default() -> Self {
        Self {
            min_length: crate::validate::PASSWORD_MIN,
            max_length: crate::validate::PASSWORD_MAX,
            require_mixed_case: false,
            require_non_alpha: false,
            require_number: false,
        }
    }
}

impl PasswordRules {
    pub fn of(tenant: &Tenant) -> Self {
        block(&tenant.settings, "passwordValidationRules")
    }

    /// Adds FusionAuth's error codes (`[tooShort]password`, `[singleCase]password`...) for every
    /// rule `p` breaks.
    pub fn check(&self, p: &str, field: &str, errors: &mut crate::Errors) {
        let n = p.chars().count();
        let mut fail = |code: &str, message: String| {
            errors.add_field(field, &format!("[{code}]{field}"), message)
        };
        if n < self.min_length {
            fail(
                "tooShort",
                format!(
                    "The password must be at least {} characters long.",
                    self.min_length
                ),
            );
        }
        if n > self.max_length {
            fail(
                "tooLong",
                format!(
                    "The password must be at most {} characters long.",
                    self.max_length
                ),
            );
        }
        if self.require_mixed_case
            && !(p.chars().any(char::is_uppercase) && p.chars().any(char::is_lowercase))
        {
            fail(
                "singleCase",
                "The password must contain upper and lower case letters.".into(),
            );
        }
        if self.require_non_alpha && p.chars().all(char::is_alphabetic) {
            fail(
                "onlyAlpha",
                "The password must contain a character that is not a letter.".into(),
            );
        }
        if self.require_number && !p.chars().any(|c| c.is_ascii_digit()) {
            fail(
                "requireNumber",
                "The password must contain a number.".into(),
            );
        }
    }
}

/// `tenant.jwtConfiguration.refreshTokenRevocationPolicy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RevocationPolicy {
    pub on_password_changed: bool,
}

impl Default for RevocationPolicy {
    fn default() -> Self {
        Self {
            on_password_changed: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct TenantJwtRevocation {
    refresh_token_revocation_policy: RevocationPolicy,
}

/// `tenant.emailConfiguration` (only what login reads).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct EmailConfiguration {
    verify_email: bool,
}

/// The settings of one login, application overrides applied.
#[derive(Debug, Clone)]
pub struct LoginSettings {
    pub passwords: PasswordEncryption,
    pub failed: FailedAuthentication,
    pub access_ttl_secs: i64,
    pub refresh_ttl_millis: i64,
    pub one_time_refresh: bool,
    pub generate_refresh_tokens: bool,
    pub issuer: String,
    /// `tenant.emailConfiguration.verifyEmail`: a login with an unverified email answers 212.
    pub verify_email: bool,
    pub rules: PasswordRules,
    /// Revoke the user's refresh tokens when the password changes (default: yes).
    pub revoke_on_password_change: bool,
}

impl LoginSettings {
    pub fn of(tenant: &Tenant, app: Option<&Application>) -> Self {
        let s = &tenant.settings;
        let tj: JwtSettings = block(s, "jwtConfiguration");
        let aj: JwtSettings = app
            .map(|a| block(&a.settings, "jwtConfiguration"))
            .filter(|j: &JwtSettings| j.enabled)
            .unwrap_or_default();
        let ttl = aj
            .time_to_live_in_seconds
            .or(tj.time_to_live_in_seconds)
            .filter(|t| *t > 0)
            .unwrap_or(3600);
        let refresh_minutes = aj
            .refresh_token_time_to_live_in_minutes
            .or(tj.refresh_token_time_to_live_in_minutes)
            .filter(|t| *t > 0)
            .unwrap_or(43_200);
        let policy = aj
            .refresh_token_usage_policy
            .or(tj.refresh_token_usage_policy);
        LoginSettings {
            passwords: block(s, "passwordEncryptionConfiguration"),
            failed: block(s, "failedAuthenticationConfiguration"),
            access_ttl_secs: ttl,
            refresh_ttl_millis: refresh_minutes.saturating_mul(60_000),
            one_time_refresh: !policy.is_some_and(|p| p.eq_ignore_ascii_case("Reusable")),
            generate_refresh_tokens: app
                .map(|a| block::<LoginConfiguration>(&a.settings, "loginConfiguration"))
                .is_some_and(|l| l.generate_refresh_tokens),
            rules: PasswordRules::of(tenant),
            verify_email: block::<EmailConfiguration>(s, "emailConfiguration").verify_email,
            revoke_on_password_change: block::<TenantJwtRevocation>(s, "jwtConfiguration")
                .refresh_token_revocation_policy
                .on_password_changed,
            issuer: s
                .get("issuer")
                .and_then(|v| v.as_str())
                .filter(|v| !v.is_empty())
                .unwrap_or("portcullis")
                .to_string(),
        }
    }
}
