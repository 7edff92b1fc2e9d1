//! The checks a tenant or application save gets on its settings: every duration and count
//! Portcullis reads in its range, flags and words of the right kind, and a password scheme the
//! server can hash with. Errors are keyed by the JSON path.

use super::*;

/// What a setting must be.
enum Rule {
    Int(RangeInclusive<i64>),
    Bool,
    Text,
    /// One of these words, any case.
    OneOf(&'static [&'static str]),
}

/// Checks the settings a tenant save carries: every duration and count Portcullis reads in
/// its range, flags and words of the right kind, and a password scheme we can hash with.
/// Errors are keyed by the JSON path (`tenant.failedAuthenticationConfiguration.actionDuration`).
pub fn check_tenant(tenant: &Tenant, schemes: &portcullis_hash::Registry, errors: &mut Errors) {
    let mut c = Checker {
        settings: &tenant.settings,
        root: "tenant",
        errors,
    };
    let failed = "failedAuthenticationConfiguration";
    c.field(failed, "tooManyAttempts", Rule::Int(TOO_MANY_ATTEMPTS));
    c.field(
        failed,
        "resetCountInSeconds",
        Rule::Int(RESET_COUNT_SECONDS),
    );
    let unit_ok = c.field(failed, "actionDurationUnit", Rule::OneOf(&LOCK_UNIT_NAMES));
    let unit = c
        .value(failed, "actionDurationUnit")
        .and_then(Value::as_str)
        .filter(|_| unit_ok)
        .and_then(lock_unit_millis)
        .unwrap_or(MINUTE_MILLIS);
    let unit_name = LOCK_UNITS
        .iter()
        .find(|(_, ms)| *ms == unit)
        .map_or("MINUTES", |(n, _)| n);
    c.field_with(
        failed,
        "actionDuration",
        Rule::Int(1..=MAX_LOCK_MILLIS / unit),
        &format!(" {unit_name} (a lock of at most 3650 days)"),
    );

    let jwt = "jwtConfiguration";
    check_jwt(&mut c, jwt);
    if let Some(policy) = c.value(jwt, "refreshTokenRevocationPolicy") {
        if !policy.is_object() && !policy.is_null() {
            c.invalid(
                &format!("{jwt}.refreshTokenRevocationPolicy"),
                "must be an object such as {\"onPasswordChanged\": true}".into(),
            );
        } else if let Some(v) = policy.get("onPasswordChanged") {
            if !v.is_boolean() && !v.is_null() {
                c.invalid(
                    &format!("{jwt}.refreshTokenRevocationPolicy.onPasswordChanged"),
                    "must be true or false".into(),
                );
            }
        }
    }

    check_event_configuration(&mut c);

    let rules = "passwordValidationRules";
    let min_ok = c.field(rules, "minLength", Rule::Int(PASSWORD_MIN_LENGTH));
    if c.field(rules, "maxLength", Rule::Int(PASSWORD_MAX_LENGTH)) {
        let min = c
            .value(rules, "minLength")
            .and_then(Value::as_i64)
            .filter(|_| min_ok)
            .unwrap_or(crate::validate::PASSWORD_MIN as i64);
        if let Some(max) = c.value(rules, "maxLength").and_then(Value::as_i64) {
            if max < min {
                c.invalid(
                    &format!("{rules}.maxLength"),
                    format!("must be at least minLength ({min}); found {max}"),
                );
            }
        }
    }
    for flag in ["requireMixedCase", "requireNonAlpha", "requireNumber"] {
        c.field(rules, flag, Rule::Bool);
    }

    let enc = "passwordEncryptionConfiguration";
    let scheme_ok = c.field(enc, "encryptionScheme", Rule::Text);
    let factor_ok = c.field(
        enc,
        "encryptionSchemeFactor",
        Rule::Int(1..=i64::from(u32::MAX)),
    );
    c.field(enc, "modifyEncryptionSchemeOnLogin", Rule::Bool);
    c.field(
        enc,
        "maximumImportedHashCostFactor",
        Rule::Int(IMPORT_COST_FACTOR),
    );
    if scheme_ok && factor_ok {
        let scheme = c
            .value(enc, "encryptionScheme")
            .and_then(Value::as_str)
            .unwrap_or(portcullis_hash::DEFAULT_SCHEME);
        let factor = c
            .value(enc, "encryptionSchemeFactor")
            .and_then(Value::as_u64)
            .and_then(|f| u32::try_from(f).ok());
        match schemes.new_hash_cost(scheme, factor) {
            Ok(_) => {}
            Err(
                e @ (portcullis_hash::HashError::ParameterTooLarge { .. }
                | portcullis_hash::HashError::ParameterTooSmall { .. }),
            ) => c.invalid(
                &format!("{enc}.encryptionSchemeFactor"),
                format!("is out of range for [{scheme}]: {e}"),
            ),
            Err(e) => c.invalid(
                &format!("{enc}.encryptionScheme"),
                format!(
                    "[{scheme}] cannot hash new passwords: use argon2id, bcrypt, scrypt, pbkdf2 \
                     or one of FusionAuth's salted-* schemes ({e})"
                ),
            ),
        }
    }

    c.field(
        "externalIdentifierConfiguration",
        "changePasswordIdTimeToLiveInSeconds",
        Rule::Int(CHANGE_PASSWORD_ID_TTL_SECONDS),
    );

    for (name, range) in [
        ("twoFactorIdTimeToLiveInSeconds", TWO_FACTOR_ID_TTL_SECONDS),
        (
            "twoFactorTrustIdTimeToLiveInSeconds",
            TWO_FACTOR_TRUST_TTL_SECONDS,
        ),
        (
            "twoFactorOneTimeCodeIdTimeToLiveInSeconds",
            TWO_FACTOR_CODE_TTL_SECONDS,
        ),
    ] {
        c.field("externalIdentifierConfiguration", name, Rule::Int(range));
    }
    c.field(
        "multiFactorConfiguration",
        "loginPolicy",
        Rule::OneOf(&["Enabled", "Disabled", "Required"]),
    );

    let email = "emailConfiguration";
    c.field(email, "verifyEmail", Rule::Bool);
    c.field(email, "port", Rule::Int(1..=65_535));
    c.field(email, "security", Rule::OneOf(&["NONE", "SSL", "TLS"]));
    for text in [
        "host",
        "username",
        "password",
        "defaultFromEmail",
        "defaultFromName",
        "forgotPasswordUrl",
    ] {
        c.field(email, text, Rule::Text);
    }
    if let Some(v) = tenant.settings.get("issuer") {
        if !v.is_string() && !v.is_null() {
            c.errors.add_field(
                "tenant.issuer",
                "[invalid]tenant.issuer",
                "The [tenant.issuer] property must be a string.",
            );
        }
    }
}

/// Checks the settings an application save carries (its `jwtConfiguration` overrides and
/// `loginConfiguration`), as [`check_tenant`] does for a tenant.
pub fn check_application(app: &Application, errors: &mut Errors) {
    let mut c = Checker {
        settings: &app.settings,
        root: "application",
        errors,
    };
    c.field("jwtConfiguration", "enabled", Rule::Bool);
    check_jwt(&mut c, "jwtConfiguration");
    c.field("loginConfiguration", "generateRefreshTokens", Rule::Bool);
}

fn check_jwt(c: &mut Checker<'_>, jwt: &str) {
    c.field(jwt, "timeToLiveInSeconds", Rule::Int(ACCESS_TTL_SECONDS));
    c.field(
        jwt,
        "refreshTokenTimeToLiveInMinutes",
        Rule::Int(REFRESH_TTL_MINUTES),
    );
    c.field(
        jwt,
        "refreshTokenUsagePolicy",
        Rule::OneOf(&["OneTimeUse", "Reusable"]),
    );
}

struct Checker<'a> {
    settings: &'a Json,
    root: &'static str,
    errors: &'a mut Errors,
}

impl Checker<'_> {
    /// `settings[block][name]`, when the block is an object that has it (not `null`).
    fn value(&self, block: &str, name: &str) -> Option<&Value> {
        self.settings.get(block)?.get(name).filter(|v| !v.is_null())
    }

    fn invalid(&mut self, path: &str, why: String) {
        let field = format!("{}.{path}", self.root);
        self.errors.add_field(
            &field,
            &format!("[invalid]{field}"),
            format!("The [{field}] property {why}."),
        );
    }

    /// Checks `settings[block][name]` against `rule` when present; true when absent or valid.
    fn field(&mut self, block: &str, name: &str, rule: Rule) -> bool {
        self.field_with(block, name, rule, "")
    }

    fn field_with(&mut self, block: &str, name: &str, rule: Rule, unit: &str) -> bool {
        match self.settings.get(block) {
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(_) => {
                // One error per block that is not an object.
                let field = format!("{}.{block}", self.root);
                if !self.errors.field_errors.contains_key(&field) {
                    self.invalid(block, "must be an object".into());
                }
                return false;
            }
        }
        let Some(v) = self.value(block, name) else {
            return true;
        };
        let why = match &rule {
            Rule::Int(range) => match v.as_i64() {
                Some(n) if range.contains(&n) => return true,
                _ => format!(
                    "must be a whole number from {} to {}{unit}; found {v}",
                    range.start(),
                    range.end()
                ),
            },
            Rule::Bool if v.is_boolean() => return true,
            Rule::Bool => format!("must be true or false; found {v}"),
            Rule::Text if v.is_string() => return true,
            Rule::Text => format!("must be a string; found {v}"),
            Rule::OneOf(words) => match v.as_str() {
                Some(s) if words.iter().any(|w| w.eq_ignore_ascii_case(s)) => return true,
                _ => format!("must be one of {}; found {v}", words.join(", ")),
            },
        };
        self.invalid(&format!("{block}.{name}"), why);
        false
    }
}

/// `eventConfiguration.events[type]`: `enabled` a boolean and `transactionType` one of
/// FusionAuth's levels. Any event type name is kept: a tenant exported from FusionAuth names
/// many that Portcullis does not write.
fn check_event_configuration(c: &mut Checker<'_>) {
    let Some(events) = c.value("eventConfiguration", "events").cloned() else {
        return;
    };
    let Some(events) = events.as_object() else {
        if !events.is_null() {
            c.invalid(
                "eventConfiguration.events",
                "must be an object of event type to its configuration".into(),
            );
        }
        return;
    };
    for (kind, conf) in events {
        let path = format!("eventConfiguration.events[{kind}]");
        if conf.is_null() {
            continue;
        }
        if !conf.is_object() {
            c.invalid(
                &path,
                "must be an object such as {\"transactionType\": \"None\"}".into(),
            );
            continue;
        }
        if let Some(v) = conf.get("enabled").filter(|v| !v.is_null()) {
            if !v.is_boolean() {
                c.invalid(&format!("{path}.enabled"), "must be true or false".into());
            }
        }
        if let Some(v) = conf.get("transactionType").filter(|v| !v.is_null()) {
            if v.as_str()
                .and_then(crate::webhooks::TransactionType::parse)
                .is_none()
            {
                c.invalid(
                    &format!("{path}.transactionType"),
                    format!(
                        "must be one of {}; found {v}",
                        crate::webhooks::TransactionType::NAMES.join(", ")
                    ),
                );
            }
        }
    }
}
