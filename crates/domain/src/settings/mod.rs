//! Typed views of the tenant and application settings login reads, under FusionAuth's JSON names,
//! and their checks on save. The settings themselves stay in the entities' `settings` map (kept
//! verbatim); a missing or malformed block reads as FusionAuth's defaults.
//!
//! Every duration and count read here has a range ([`check_tenant`], [`check_application`]
//! refuse a value outside it on save), and reading clamps to the same range: a value that
//! reached the store another way (an old row, a direct write) still locks, still issues tokens
//! that validate, and never overflows the time arithmetic built on it.

use crate::model::{Application, Json, Millis, Tenant};
use crate::Errors;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::ops::RangeInclusive;

mod check;
pub use check::{check_application, check_tenant};

const MINUTE_MILLIS: i64 = 60_000;
const DAY_MILLIS: i64 = 86_400_000;

/// `failedAuthenticationConfiguration.tooManyAttempts`: at least one (zero would never lock).
pub const TOO_MANY_ATTEMPTS: RangeInclusive<i64> = 1..=1_000;
/// `failedAuthenticationConfiguration.resetCountInSeconds`: up to a year.
pub const RESET_COUNT_SECONDS: RangeInclusive<i64> = 1..=31_536_000;
/// The longest lock `actionDuration` × `actionDurationUnit` may give: ten years (3650 days).
pub const MAX_LOCK_MILLIS: i64 = 3_650 * DAY_MILLIS;
/// `jwtConfiguration.timeToLiveInSeconds`: up to a year.
pub const ACCESS_TTL_SECONDS: RangeInclusive<i64> = 1..=31_536_000;
/// `jwtConfiguration.refreshTokenTimeToLiveInMinutes`: up to ten years (3650 days).
pub const REFRESH_TTL_MINUTES: RangeInclusive<i64> = 1..=5_256_000;
/// `externalIdentifierConfiguration.changePasswordIdTimeToLiveInSeconds`: up to a week.
pub const CHANGE_PASSWORD_ID_TTL_SECONDS: RangeInclusive<i64> = 1..=604_800;
/// `externalIdentifierConfiguration.twoFactorIdTimeToLiveInSeconds`: up to a day.
pub const TWO_FACTOR_ID_TTL_SECONDS: RangeInclusive<i64> = 1..=86_400;
/// `externalIdentifierConfiguration.twoFactorTrustIdTimeToLiveInSeconds`: up to a year.
pub const TWO_FACTOR_TRUST_TTL_SECONDS: RangeInclusive<i64> = 1..=31_536_000;
/// `externalIdentifierConfiguration.twoFactorOneTimeCodeIdTimeToLiveInSeconds`: up to an hour.
pub const TWO_FACTOR_CODE_TTL_SECONDS: RangeInclusive<i64> = 1..=3_600;
/// `passwordValidationRules.minLength`.
pub const PASSWORD_MIN_LENGTH: RangeInclusive<i64> = 1..=256;
/// `passwordValidationRules.maxLength` (and at least `minLength`).
pub const PASSWORD_MAX_LENGTH: RangeInclusive<i64> = 1..=1_024;
/// `passwordEncryptionConfiguration.maximumImportedHashCostFactor` (ours): how many times the
/// cost of the tenant's own scheme an imported hash may cost to verify.
pub const IMPORT_COST_FACTOR: RangeInclusive<i64> = 1..=100_000;
/// Its default: an imported hash may cost ten times a login with the tenant's scheme.
pub const DEFAULT_IMPORT_COST_FACTOR: u64 = 10;

/// The lock units FusionAuth's `ExpiryUnit` names (and `SECONDS`), in milliseconds.
const LOCK_UNITS: [(&str, i64); 7] = [
    ("SECONDS", 1_000),
    ("MINUTES", MINUTE_MILLIS),
    ("HOURS", 60 * MINUTE_MILLIS),
    ("DAYS", DAY_MILLIS),
    ("WEEKS", 7 * DAY_MILLIS),
    ("MONTHS", 30 * DAY_MILLIS),
    ("YEARS", 365 * DAY_MILLIS),
];

const LOCK_UNIT_NAMES: [&str; 7] = [
    "SECONDS", "MINUTES", "HOURS", "DAYS", "WEEKS", "MONTHS", "YEARS",
];

fn lock_unit_millis(unit: &str) -> Option<i64> {
    LOCK_UNITS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(unit))
        .map(|(_, ms)| *ms)
}

fn clamp(v: i64, range: &RangeInclusive<i64>) -> i64 {
    v.clamp(*range.start(), *range.end())
}

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
    pub maximum_imported_hash_cost_factor: Option<u64>,
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

    /// What verifying a password of the tenant's own scheme and factor costs (the default
    /// scheme's, for a scheme that slipped past the checks on save).
    pub fn own_cost(&self, schemes: &portcullis_hash::Registry) -> portcullis_hash::Cost {
        schemes
            .new_hash_cost(self.scheme(), self.encryption_scheme_factor)
            .or_else(|_| schemes.new_hash_cost(portcullis_hash::DEFAULT_SCHEME, None))
            .unwrap_or(1)
    }

    /// How many times [`own_cost`](Self::own_cost) an imported credential may cost to verify:
    /// `maximumImportedHashCostFactor`, default [`DEFAULT_IMPORT_COST_FACTOR`].
    pub fn import_cost_factor(&self) -> u64 {
        self.maximum_imported_hash_cost_factor
            .map_or(DEFAULT_IMPORT_COST_FACTOR, |f| {
                f.clamp(
                    *IMPORT_COST_FACTOR.start() as u64,
                    *IMPORT_COST_FACTOR.end() as u64,
                )
            })
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
    /// The lock's length in milliseconds (FusionAuth's units; unknown units read as minutes),
    /// from one unit up to [`MAX_LOCK_MILLIS`].
    pub fn lock_millis(&self) -> i64 {
        let unit = lock_unit_millis(&self.action_duration_unit).unwrap_or(MINUTE_MILLIS);
        self.action_duration
            .max(1)
            .saturating_mul(unit)
            .min(MAX_LOCK_MILLIS)
    }

    /// The same settings with each count within its range.
    fn clamped(mut self) -> Self {
        self.too_many_attempts = clamp(
            i64::try_from(self.too_many_attempts).unwrap_or(i64::MAX),
            &TOO_MANY_ATTEMPTS,
        ) as u64;
        self.reset_count_in_seconds = clamp(self.reset_count_in_seconds, &RESET_COUNT_SECONDS);
        self
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
        let mut r: Self = block(&tenant.settings, "passwordValidationRules");
        let to_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        r.min_length = clamp(to_i64(r.min_length), &PASSWORD_MIN_LENGTH) as usize;
        r.max_length =
            clamp(to_i64(r.max_length), &PASSWORD_MAX_LENGTH).max(to_i64(r.min_length)) as usize;
        r
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
            .map_or(3600, |t| clamp(t, &ACCESS_TTL_SECONDS));
        let refresh_minutes = aj
            .refresh_token_time_to_live_in_minutes
            .or(tj.refresh_token_time_to_live_in_minutes)
            .filter(|t| *t > 0)
            .map_or(43_200, |t| clamp(t, &REFRESH_TTL_MINUTES));
        let policy = aj
            .refresh_token_usage_policy
            .or(tj.refresh_token_usage_policy);
        LoginSettings {
            passwords: block(s, "passwordEncryptionConfiguration"),
            failed: block::<FailedAuthentication>(s, "failedAuthenticationConfiguration").clamped(),
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

/// How long a change-password id is good for, in milliseconds:
/// `tenant.externalIdentifierConfiguration.changePasswordIdTimeToLiveInSeconds` (FusionAuth's
/// default 600), within [`CHANGE_PASSWORD_ID_TTL_SECONDS`].
pub fn change_password_id_ttl_millis(tenant: &Tenant) -> Millis {
    tenant
        .settings
        .get("externalIdentifierConfiguration")
        .and_then(|v| v.get("changePasswordIdTimeToLiveInSeconds"))
        .and_then(Value::as_i64)
        .filter(|s| *s > 0)
        .map_or(600, |s| clamp(s, &CHANGE_PASSWORD_ID_TTL_SECONDS))
        * 1000
}

/// `tenant.multiFactorConfiguration.loginPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwoFactorPolicy {
    /// A user with a method enrolled (or asked to enrol) gives a code at login (the default).
    Enabled,
    /// Logins never ask for a code.
    Disabled,
    /// Every user gives a code; one without a method must enrol first.
    Required,
}

/// The tenant's two-factor settings, under FusionAuth's names.
#[derive(Debug, Clone, Copy)]
pub struct TwoFactorSettings {
    pub policy: TwoFactorPolicy,
    /// How long a `twoFactorId` is good for (default 300 s).
    pub id_ttl_millis: Millis,
    /// How long a `twoFactorTrustId` skips the step (default 30 days).
    pub trust_ttl_millis: Millis,
    /// How long an emailed code is good for (default 60 s).
    pub code_ttl_millis: Millis,
}

impl TwoFactorSettings {
    pub fn of(tenant: &Tenant) -> Self {
        let s = &tenant.settings;
        let ttl = |name: &str, default: i64, range: &RangeInclusive<i64>| {
            s.get("externalIdentifierConfiguration")
                .and_then(|v| v.get(name))
                .and_then(Value::as_i64)
                .filter(|s| *s > 0)
                .map_or(default, |v| clamp(v, range))
                * 1000
        };
        let policy = match s
            .get("multiFactorConfiguration")
            .and_then(|m| m.get("loginPolicy"))
            .and_then(Value::as_str)
        {
            Some(p) if p.eq_ignore_ascii_case("Disabled") => TwoFactorPolicy::Disabled,
            Some(p) if p.eq_ignore_ascii_case("Required") => TwoFactorPolicy::Required,
            _ => TwoFactorPolicy::Enabled,
        };
        TwoFactorSettings {
            policy,
            id_ttl_millis: ttl(
                "twoFactorIdTimeToLiveInSeconds",
                300,
                &TWO_FACTOR_ID_TTL_SECONDS,
            ),
            trust_ttl_millis: ttl(
                "twoFactorTrustIdTimeToLiveInSeconds",
                2_592_000,
                &TWO_FACTOR_TRUST_TTL_SECONDS,
            ),
            code_ttl_millis: ttl(
                "twoFactorOneTimeCodeIdTimeToLiveInSeconds",
                60,
                &TWO_FACTOR_CODE_TTL_SECONDS,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tenant(settings: Value) -> Tenant {
        Tenant {
            name: "t".into(),
            settings: settings.as_object().unwrap().clone(),
            ..Tenant::default()
        }
    }

    #[test]
    fn stored_values_out_of_range_read_as_the_nearest_bound() {
        let t = tenant(json!({
            "failedAuthenticationConfiguration": {"tooManyAttempts": 0,
                "resetCountInSeconds": i64::MAX, "actionDuration": i64::MAX,
                "actionDurationUnit": "WEEKS"},
            "jwtConfiguration": {"timeToLiveInSeconds": i64::MAX,
                "refreshTokenTimeToLiveInMinutes": i64::MAX},
            "passwordValidationRules": {"minLength": 0, "maxLength": 100_000},
            "externalIdentifierConfiguration": {"changePasswordIdTimeToLiveInSeconds": i64::MAX}
        }));
        let s = LoginSettings::of(&t, None);
        assert_eq!(s.failed.too_many_attempts, 1, "zero would never lock");
        assert_eq!(s.failed.reset_count_in_seconds, *RESET_COUNT_SECONDS.end());
        assert_eq!(s.failed.lock_millis(), MAX_LOCK_MILLIS);
        assert_eq!(s.access_ttl_secs, *ACCESS_TTL_SECONDS.end());
        assert_eq!(s.refresh_ttl_millis, *REFRESH_TTL_MINUTES.end() * 60_000);
        assert_eq!((s.rules.min_length, s.rules.max_length), (1, 1024));
        assert_eq!(
            change_password_id_ttl_millis(&t),
            *CHANGE_PASSWORD_ID_TTL_SECONDS.end() * 1000
        );
        let now = crate::now_millis();
        assert!(now + s.failed.lock_millis() > now, "no overflow");
    }

    #[test]
    fn every_lock_unit_counts_and_a_zero_duration_still_locks_one_unit() {
        let f = |d: i64, unit: &str| FailedAuthentication {
            action_duration: d,
            action_duration_unit: unit.into(),
            ..FailedAuthentication::default()
        };
        assert_eq!(f(2, "SECONDS").lock_millis(), 2_000);
        assert_eq!(f(1, "months").lock_millis(), 30 * DAY_MILLIS);
        assert_eq!(f(10, "YEARS").lock_millis(), MAX_LOCK_MILLIS);
        assert_eq!(f(0, "HOURS").lock_millis(), 3_600_000);
    }

    #[test]
    fn a_tenant_save_names_each_bad_setting() {
        let mut errors = Errors::default();
        check_tenant(
            &tenant(json!({
                "failedAuthenticationConfiguration": {"actionDuration": 3651, "actionDurationUnit": "DAYS"},
                "passwordEncryptionConfiguration": {"encryptionScheme": "rot13"},
                "jwtConfiguration": "long"
            })),
            &portcullis_hash::Registry::with_builtin(),
            &mut errors,
        );
        let fields: Vec<&str> = errors.field_errors.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            [
                "tenant.failedAuthenticationConfiguration.actionDuration",
                "tenant.jwtConfiguration",
                "tenant.passwordEncryptionConfiguration.encryptionScheme",
            ]
        );
        let mut errors = Errors::default();
        check_tenant(
            &tenant(json!({
                "failedAuthenticationConfiguration": {"actionDuration": 3650, "actionDurationUnit": "DAYS"},
                "passwordEncryptionConfiguration": {"encryptionScheme": "argon2id", "encryptionSchemeFactor": 3}
            })),
            &portcullis_hash::Registry::with_builtin(),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
    }
}
