//! The second step of a login and FusionAuth's Two-Factor API: when a login asks for a code
//! (242 with a `twoFactorId`), completing it with a TOTP, emailed or recovery code (each used
//! once, wrong ones counted toward the brute-force lock), trusted computers, emailing a code, and
//! enabling and disabling methods and recovery codes.
//!
//! Pending logins, trust ids and emailed codes are stored as SHA-256 only; used TOTP steps and
//! recovery codes are rows whose second insert fails, so a code works once across nodes.

use super::locks::Counted;
use super::sign_in::SignIn;
use super::{LoginOutcome, Result, Sessions};
use crate::mail::{Email, EmailSettings};
use crate::model::*;
use crate::settings::{LoginSettings, TwoFactorPolicy, TwoFactorSettings};
use crate::two_factor::{self as tf, totp, TwoFactorKeys, AUTHENTICATOR, EMAIL};
use crate::{secrets, validate, Error, Errors, TwoFactorRow};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use uuid::Uuid;

const LOGIN: &str = "login";
const TRUST: &str = "trust";
/// An emailed code for a login.
const EMAIL_CODE: &str = "email";
/// An emailed code that enables an email method.
const ENROL_CODE: &str = "enrol";
const USED: &str = "used";

/// A login waiting for its second factor: the 242 answer.
#[derive(Debug, Clone)]
pub struct TwoFactorPending {
    pub two_factor_id: String,
    /// `{id, method, email?}` of each method the user can complete the login with.
    pub methods: Vec<Json>,
    /// The user has no method yet and must enrol one (a tenant that requires two-factor, or a
    /// migrated user the legacy system asked to configure one).
    pub enrolment_required: bool,
}

/// What a pending login remembers of its first step.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct PendingData {
    application_id: Option<Uuid>,
    ip_address: Option<String>,
    /// Whether the login issues a refresh token (the Login API) or not (a hosted page).
    refresh_token: bool,
}

/// `POST /api/two-factor/login`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TwoFactorLoginRequest {
    #[serde(default)]
    pub two_factor_id: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub trust_computer: bool,
    #[serde(default)]
    pub application_id: Option<Uuid>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default, rename = "noJWT")]
    pub no_jwt: bool,
}

/// `POST /api/user/two-factor/{userId}`: the method, a code it made, and its secret or address.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EnableTwoFactorRequest {
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    /// The authenticator's secret, base64.
    #[serde(default)]
    pub secret: Option<String>,
    /// The authenticator's secret, base32 (as authenticator apps show it).
    #[serde(default)]
    pub secret_base32_encoded: Option<String>,
    /// `{algorithm, codeLength, timeStep}`; default HmacSHA1, 6, 30.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    #[serde(default)]
    pub authenticator: Option<Value>,
    #[serde(default)]
    pub email: Option<String>,
}

/// `POST /api/two-factor/send` (a code to enable an email method) and
/// `POST /api/two-factor/send/{twoFactorId}` (a code for a pending login).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SendCodeRequest {
    /// With a `twoFactorId`: the email method to send the code through.
    #[serde(default)]
    pub method_id: Option<String>,
    /// Without one: the user, `"method": "email"` and the address being enabled.
    #[serde(default)]
    pub user_id: Option<Uuid>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// How a step that takes a code ended.
#[derive(Debug)]
pub enum CodeOutcome<T> {
    Accepted(T),
    /// 421: the code is wrong, used already, or expired.
    Invalid,
    /// 423: too many wrong codes.
    Locked {
        until: Millis,
    },
}

fn enrolment_flag(user: &User) -> bool {
    user.data
        .get("twoFactorEnrolmentRequired")
        .is_some_and(|v| v.as_bool() == Some(true))
}

/// The methods a 242 lists: id, method and (for email) the address; never a secret.
fn listed(user: &User) -> Vec<Json> {
    user.two_factor
        .methods
        .iter()
        .map(|m| {
            let mut out = Json::new();
            for k in ["id", "method", "email", "mobilePhone"] {
                if let Some(v) = m.get(k) {
                    out.insert(k.into(), v.clone());
                }
            }
            out
        })
        .collect()
}

fn email_key(kind: &str, user: Uuid, code: &str) -> String {
    secrets::stored_hash(&format!("{kind}:{user}:{}", code.trim()))
}

fn required(v: Option<&str>, field: &str, errors: &mut Errors) -> String {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) if s.len() <= 512 => s.to_string(),
        _ => {
            errors.add_field(
                field,
                &format!("[blank]{field}"),
                format!("You must specify the [{field}]."),
            );
            String::new()
        }
    }
}

impl Sessions {
    fn sealing_keys(&self) -> Result<&TwoFactorKeys> {
        self.identity.two_factor_keys().ok_or_else(|| {
            Error::TwoFactorKey("no two-factor encryption key is configured (--two-factor-key or PORTCULLIS_TWO_FACTOR_KEY)".into())
        })
    }

    /// After the password and the account's state: whether this login needs a second factor,
    /// and if so the pending login it answers 242 with. A trust id the user got from an earlier
    /// step skips it until it expires; it never skips an enrolment.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn two_factor_step(
        &self,
        tenant: &Tenant,
        user: &User,
        trust_id: Option<&str>,
        application_id: Option<Uuid>,
        ip: Option<&str>,
        refresh_token: bool,
        now: Millis,
    ) -> Result<Option<TwoFactorPending>> {
        let settings = TwoFactorSettings::of(tenant);
        if settings.policy == TwoFactorPolicy::Disabled {
            return Ok(None);
        }
        let user_id = user.id.expect("stored");
        let has_methods = !user.two_factor.methods.is_empty();
        let enrolment =
            !has_methods && (enrolment_flag(user) || settings.policy == TwoFactorPolicy::Required);
        if !has_methods && !enrolment {
            return Ok(None);
        }
        if let (false, Some(t)) = (enrolment, trust_id.filter(|t| !t.is_empty())) {
            let trusted = self
                .store()
                .two_factor_row(&secrets::stored_hash(t), TRUST, now)
                .await?;
            if trusted.is_some_and(|r| r.user_id == user_id) {
                return Ok(None);
            }
        }
        let id = secrets::new_secret();
        let data = PendingData {
            application_id,
            ip_address: ip.map(str::to_string),
            refresh_token,
        };
        self.store()
            .insert_two_factor_row(&TwoFactorRow {
                key: secrets::stored_hash(&id),
                kind: LOGIN.into(),
                tenant_id: user.tenant_id.expect("stored"),
                user_id,
                expires_instant: now + settings.id_ttl_millis,
                data: serde_json::to_string(&data).expect("serializes"),
            })
            .await?;
        tracing::info!(user = %user_id, enrolment, "login waits for a second factor");
        Ok(Some(TwoFactorPending {
            two_factor_id: id,
            methods: listed(user),
            enrolment_required: enrolment,
        }))
    }

    /// The pending login of a `twoFactorId` the caller's scope sees; `NotFound` for an unknown,
    /// expired or used one alike.
    async fn pending(&self, scope: Scope, id: &str, now: Millis) -> Result<TwoFactorRow> {
        let row = self
            .store()
            .two_factor_row(&secrets::stored_hash(id.trim()), LOGIN, now)
            .await?
            .filter(|r| scope.sees(Some(r.tenant_id)))
            .ok_or(Error::NotFound)?;
        Ok(row)
    }

    /// `POST /api/two-factor/login`: the code of a pending login. 200 (the login's own answer,
    /// with a `twoFactorTrustId` when `trustComputer`), 421 for a wrong code (the same
    /// `twoFactorId` may try again, counted toward the lock), 404 for an unknown or expired
    /// `twoFactorId`, 423 when locked.
    pub async fn two_factor_login(
        &self,
        scope: Scope,
        req: TwoFactorLoginRequest,
    ) -> Result<CodeOutcome<LoginOutcome>> {
        let mut errors = Errors::default();
        let id = required(req.two_factor_id.as_deref(), "twoFactorId", &mut errors);
        let code = required(req.code.as_deref(), "code", &mut errors);
        let ip = validate::optional_ip_address(req.ip_address.as_deref(), "ipAddress", &mut errors);
        errors.into_result()?;
        let now = now_millis();
        let pending = self.pending(scope, &id, now).await?;
        let data: PendingData = serde_json::from_str(&pending.data).unwrap_or_default();
        let tenant = self
            .identity
            .acting_tenant(Scope::tenant(pending.tenant_id))
            .await?;
        let tenant_id = pending.tenant_id;
        let app = self
            .login_application(tenant_id, req.application_id.or(data.application_id))
            .await?;
        let settings = LoginSettings::of(&tenant, app.as_ref());
        let mut stored = self
            .store()
            .user(Scope::tenant(tenant_id), pending.user_id)
            .await?
            .ok_or(Error::NotFound)?;
        let (counted, counts) = match self
            .count_code_attempt(tenant_id, pending.user_id, &settings, now)
            .await?
        {
            Ok(c) => c,
            Err(until) => return Ok(CodeOutcome::Locked { until }),
        };
        if !self.check_code(&stored.user, &code, now).await? {
            return self
                .wrong_code(
                    tenant_id,
                    &stored.user,
                    &counts,
                    &settings,
                    app.as_ref(),
                    now,
                )
                .await;
        }
        // The pending login is used once: of two requests racing with right codes, one signs in.
        if self
            .store()
            .take_two_factor_row(&pending.key, LOGIN, now)
            .await?
            .is_none()
        {
            return Err(Error::NotFound);
        }
        if let Some(refused) = self.account_state(&mut stored, None, &counted, now).await? {
            return Ok(CodeOutcome::Accepted(refused));
        }
        let trust = if req.trust_computer {
            let t = secrets::new_secret();
            self.store()
                .insert_two_factor_row(&TwoFactorRow {
                    key: secrets::stored_hash(&t),
                    kind: TRUST.into(),
                    tenant_id,
                    user_id: pending.user_id,
                    expires_instant: now + TwoFactorSettings::of(&tenant).trust_ttl_millis,
                    data: "{}".into(),
                })
                .await?;
            Some(t)
        } else {
            None
        };
        let ip = ip.or(data.ip_address);
        let mut outcome = self
            .sign_in(SignIn {
                tenant: &tenant,
                settings: &settings,
                app: app.as_ref(),
                stored,
                fresh: false,
                counted,
                no_jwt: req.no_jwt,
                refresh_token: data.refresh_token,
                ip: ip.as_deref(),
                now,
            })
            .await?;
        if let LoginOutcome::Success(t)
        | LoginOutcome::NotRegistered(t)
        | LoginOutcome::EmailNotVerified(t) = &mut outcome
        {
            t.two_factor_trust_id = trust;
        }
        Ok(CodeOutcome::Accepted(outcome))
    }

    /// Counts a code attempt against the user, as a password attempt is counted: `Err` with the
    /// lock's end when the user is locked or over the limit.
    async fn count_code_attempt(
        &self,
        tenant: Uuid,
        user: Uuid,
        settings: &LoginSettings,
        now: Millis,
    ) -> Result<std::result::Result<(Counted, Vec<crate::AttemptCount>), Millis>> {
        let subject = crate::store::user_subject(user);
        let locks = self
            .store()
            .login_locks(tenant, std::slice::from_ref(&subject), now)
            .await?;
        if let Some(until) = locks.locked_until {
            return Ok(Err(until));
        }
        if settings.failed.too_many_attempts == 0 {
            return Ok(Ok((Counted::default(), Vec::new())));
        }
        let counts = self
            .count_attempt(tenant, std::slice::from_ref(&subject), settings, now)
            .await?;
        if let Some(until) = Self::over_limit(&counts, settings) {
            return Ok(Err(until));
        }
        Ok(Ok((
            Counted {
                tenant,
                reset: vec![subject],
                give_back: Vec::new(),
            },
            counts,
        )))
    }

    async fn wrong_code<T>(
        &self,
        tenant: Uuid,
        user: &User,
        counts: &[crate::AttemptCount],
        settings: &LoginSettings,
        app: Option<&Application>,
        now: Millis,
    ) -> Result<CodeOutcome<T>> {
        self.failed(tenant, counts, settings, now).await?;
        tracing::info!(user = ?user.id, "two-factor code refused");
        self.identity
            .record(
                crate::Event::login_failed(tenant, Some(user), app.and_then(|a| a.id), None)
                    .with_reason("wrong two-factor code"),
            )
            .await;
        Ok(CodeOutcome::Invalid)
    }

    /// Whether `code` is a right code of the user, and uses it: a TOTP of one of their
    /// authenticators (each step once), an emailed code (once), or a recovery code (once, and
    /// removed from the user).
    async fn check_code(&self, user: &User, code: &str, now: Millis) -> Result<bool> {
        let user_id = user.id.expect("stored");
        let tenant_id = user.tenant_id.expect("stored");
        let code = code.trim();
        for m in &user.two_factor.methods {
            if tf::method_name(m) != AUTHENTICATOR {
                continue;
            }
            let (Some(p), Some(sealed)) = (tf::params(m), m.get("secret").and_then(Value::as_str))
            else {
                continue;
            };
            let secret = self
                .sealing_keys()?
                .open(sealed)
                .map_err(Error::TwoFactorKey)?;
            if let Some(step) = totp::verify(&secret, p, code, (now / 1000) as u64) {
                return self
                    .use_step(tenant_id, user_id, tf::method_id(m), step, p, now)
                    .await;
            }
        }
        if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            let taken = self
                .store()
                .take_two_factor_row(&email_key(EMAIL_CODE, user_id, code), EMAIL_CODE, now)
                .await?;
            if taken.is_some_and(|r| r.user_id == user_id) {
                return Ok(true);
            }
        }
        let hashed = tf::hash_recovery_code(code);
        let mut matched = false;
        for c in &user.two_factor.recovery_codes {
            matched |= bool::from(c.as_bytes().ct_eq(hashed.as_bytes()));
        }
        if !matched {
            return Ok(false);
        }
        let first = self
            .store()
            .insert_two_factor_row(&TwoFactorRow {
                key: format!("recovery:{user_id}:{hashed}"),
                kind: USED.into(),
                tenant_id,
                user_id,
                // Kept for good: a concurrent write of the user's `twoFactor` from an older read
                // can put a used code back in the list, and this row still refuses it.
                expires_instant: Millis::MAX,
                data: "{}".into(),
            })
            .await?;
        if !first {
            return Ok(false);
        }
        let mut two_factor = user.two_factor.clone();
        two_factor.recovery_codes.retain(|c| c != &hashed);
        self.store()
            .set_two_factor(
                user_id,
                &serde_json::to_string(&two_factor).expect("serializes"),
                false,
                now,
            )
            .await?;
        tracing::info!(user = %user_id, left = two_factor.recovery_codes.len(), "recovery code used");
        Ok(true)
    }

    /// Marks a TOTP step of a method used; false when it was used already (a replay).
    async fn use_step(
        &self,
        tenant: Uuid,
        user: Uuid,
        method: &str,
        step: u64,
        p: totp::Params,
        now: Millis,
    ) -> Result<bool> {
        let first = self
            .store()
            .insert_two_factor_row(&TwoFactorRow {
                key: format!("totp:{user}:{method}:{step}"),
                kind: USED.into(),
                tenant_id: tenant,
                user_id: user,
                // Past the last instant the step is accepted (one step of grace either side).
                expires_instant: now + (p.step as i64) * 3 * 1000,
                data: "{}".into(),
            })
            .await?;
        if !first {
            tracing::info!(user = %user, "two-factor code replayed");
        }
        Ok(first)
    }

    /// A fresh six-digit code stored (hashed) under `kind` for `user`.
    async fn new_email_code(
        &self,
        kind: &str,
        tenant: Uuid,
        user: Uuid,
        ttl: Millis,
        data: Value,
        now: Millis,
    ) -> Result<String> {
        // One live code per user and kind: sending again replaces the code, so repeated sends
        // never leave several six-digit codes to guess against at once.
        self.store().delete_two_factor_rows(user, kind).await?;
        for _ in 0..5 {
            let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
            let inserted = self
                .store()
                .insert_two_factor_row(&TwoFactorRow {
                    key: email_key(kind, user, &code),
                    kind: kind.into(),
                    tenant_id: tenant,
                    user_id: user,
                    expires_instant: now + ttl,
                    data: data.to_string(),
                })
                .await?;
            if inserted {
                return Ok(code);
            }
        }
        Err(Error::Busy("no fresh code could be made; try again".into()))
    }

    async fn mail_code(&self, tenant: &Tenant, to: &str, code: &str, ttl: Millis) -> Result<()> {
        let email = Email {
            to: to.to_string(),
            subject: "Your verification code".into(),
            text: format!(
                "Your verification code is {code}\n\nIt works once, within {} seconds. If you did not try to sign in, change your password.\n",
                ttl / 1000
            ),
        };
        self.identity
            .mailer()
            .send(&EmailSettings::of(tenant), &email)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "the two-factor code email could not be sent");
                Error::Busy("The email with the code could not be sent; try again later.".into())
            })
    }

    /// `POST /api/two-factor/send/{twoFactorId}` with `methodId`: emails a code for a pending
    /// login through the tenant's SMTP. 404 for an unknown or expired `twoFactorId`.
    pub async fn send_login_code(
        &self,
        scope: Scope,
        two_factor_id: &str,
        req: SendCodeRequest,
    ) -> Result<()> {
        let mut errors = Errors::default();
        let method_id = required(req.method_id.as_deref(), "methodId", &mut errors);
        errors.into_result()?;
        let now = now_millis();
        let pending = self.pending(scope, two_factor_id, now).await?;
        let tenant = self
            .identity
            .acting_tenant(Scope::tenant(pending.tenant_id))
            .await?;
        let user = self
            .store()
            .user(Scope::tenant(pending.tenant_id), pending.user_id)
            .await?
            .ok_or(Error::NotFound)?
            .user;
        let Some(to) = user
            .two_factor
            .methods
            .iter()
            .find(|m| tf::method_id(m) == method_id && tf::method_name(m) == EMAIL)
            .and_then(|m| m.get("email").and_then(Value::as_str))
        else {
            return Err(Error::field(
                "methodId",
                "[invalid]methodId",
                "The [methodId] is not an email method of this user.",
            ));
        };
        let ttl = TwoFactorSettings::of(&tenant).code_ttl_millis;
        let code = self
            .new_email_code(
                EMAIL_CODE,
                pending.tenant_id,
                pending.user_id,
                ttl,
                json!({}),
                now,
            )
            .await?;
        self.mail_code(&tenant, to, &code, ttl).await
    }

    /// `POST /api/two-factor/send` with `userId`, `"method": "email"` and `email`: emails a code
    /// that enables that address as an email method.
    pub async fn send_enrolment_code(&self, scope: Scope, req: SendCodeRequest) -> Result<()> {
        let mut errors = Errors::default();
        let email = required(req.email.as_deref(), "email", &mut errors);
        if !email.is_empty() && !email.contains('@') {
            errors.add_field(
                "email",
                "[invalid]email",
                "The [email] is not an email address.",
            );
        }
        if req.user_id.is_none() {
            errors.add_field("userId", "[blank]userId", "You must specify the [userId].");
        }
        if req.method.as_deref().is_some_and(|m| m != EMAIL) {
            errors.add_field(
                "method",
                "[invalid]method",
                "Only the [email] method has codes to send.",
            );
        }
        errors.into_result()?;
        let user = self
            .store()
            .user(scope, req.user_id.expect("checked"))
            .await?
            .ok_or(Error::NotFound)?
            .user;
        let tenant_id = user.tenant_id.expect("stored");
        let tenant = self
            .identity
            .acting_tenant(Scope::tenant(tenant_id))
            .await?;
        let ttl = TwoFactorSettings::of(&tenant).code_ttl_millis;
        let now = now_millis();
        let code = self
            .new_email_code(
                ENROL_CODE,
                tenant_id,
                user.id.expect("stored"),
                ttl,
                json!({ "email": email }),
                now,
            )
            .await?;
        self.mail_code(&tenant, &email, &code, ttl).await
    }

    /// `POST /api/user/two-factor/{userId}`: enables a method after a right code of it. The
    /// first method also makes the user's recovery codes, answered this once.
    pub async fn enable_two_factor(
        &self,
        scope: Scope,
        user_id: Uuid,
        req: EnableTwoFactorRequest,
    ) -> Result<CodeOutcome<Vec<String>>> {
        let mut errors = Errors::default();
        let method = required(req.method.as_deref(), "method", &mut errors);
        let code = required(req.code.as_deref(), "code", &mut errors);
        if !method.is_empty() && method != AUTHENTICATOR && method != EMAIL {
            errors.add_field(
                "method",
                "[invalid]method",
                "The [method] must be authenticator or email.",
            );
        }
        let mut params = totp::Params::default();
        let mut secret = None;
        let mut email = None;
        if method == AUTHENTICATOR {
            let mut probe = Json::new();
            if let Some(a) = &req.authenticator {
                probe.insert(AUTHENTICATOR.into(), a.clone());
            }
            match tf::params(&probe) {
                Some(p) => params = p,
                None => errors.add_field(
                    "authenticator",
                    "[invalid]authenticator",
                    "The authenticator's algorithm must be HmacSHA1, HmacSHA256 or HmacSHA512, its codeLength 6 to 8 and its timeStep 1 to 300 seconds.",
                ),
            }
            secret = match (&req.secret, &req.secret_base32_encoded) {
                (Some(s), _) => tf::from_base64(s),
                (None, Some(s)) => tf::from_base32(s),
                (None, None) => None,
            }
            .filter(|s| (10..=128).contains(&s.len()));
            if secret.is_none() {
                errors.add_field(
                    "secret",
                    "[invalid]secret",
                    "You must specify the authenticator's [secret] (base64) or [secretBase32Encoded], 10 to 128 bytes, as GET /api/two-factor/secret makes them.",
                );
            }
        } else if method == EMAIL {
            let e = required(req.email.as_deref(), "email", &mut errors);
            if !e.is_empty() && !e.contains('@') {
                errors.add_field(
                    "email",
                    "[invalid]email",
                    "The [email] is not an email address.",
                );
            }
            email = Some(e);
        }
        errors.into_result()?;
        let stored = self
            .store()
            .user(scope, user_id)
            .await?
            .ok_or(Error::NotFound)?;
        let user = stored.user;
        let tenant_id = user.tenant_id.expect("stored");
        let now = now_millis();
        let method_id = tf::new_method_id();
        let new_method = if let Some(secret) = secret {
            let keys = self.sealing_keys()?;
            let Some(step) = totp::verify(&secret, params, &code, (now / 1000) as u64) else {
                return Ok(CodeOutcome::Invalid);
            };
            if !self
                .use_step(tenant_id, user_id, &method_id, step, params, now)
                .await?
            {
                return Ok(CodeOutcome::Invalid);
            }
            tf::authenticator_method(method_id, &secret, params, keys)
        } else {
            let email = email.expect("an email method");
            let taken = self
                .store()
                .take_two_factor_row(&email_key(ENROL_CODE, user_id, &code), ENROL_CODE, now)
                .await?;
            let sent_to = taken
                .filter(|r| r.user_id == user_id)
                .and_then(|r| serde_json::from_str::<Value>(&r.data).ok())
                .and_then(|d| d.get("email").and_then(Value::as_str).map(str::to_string));
            if !sent_to.is_some_and(|s| s.eq_ignore_ascii_case(&email)) {
                return Ok(CodeOutcome::Invalid);
            }
            let Value::Object(m) = json!({"id": method_id, "method": EMAIL, "email": email}) else {
                unreachable!()
            };
            m
        };
        let mut two_factor = user.two_factor.clone();
        let first = two_factor.methods.is_empty();
        two_factor.methods.push(new_method);
        let codes = if first {
            let codes = tf::new_recovery_codes();
            two_factor.recovery_codes = codes.iter().map(|c| tf::hash_recovery_code(c)).collect();
            codes
        } else {
            Vec::new()
        };
        let found = self
            .store()
            .set_two_factor(
                user_id,
                &serde_json::to_string(&two_factor).expect("serializes"),
                true,
                now,
            )
            .await?;
        if !found {
            return Err(Error::NotFound);
        }
        tracing::info!(user = %user_id, method = %method, "two-factor method enabled");
        Ok(CodeOutcome::Accepted(codes))
    }

    /// `DELETE /api/user/two-factor/{userId}?methodId=&code=`: disables a method with a code of
    /// the user's (any method's, or a recovery code). Without methods left, the recovery codes
    /// and trusted computers go too.
    pub async fn disable_two_factor(
        &self,
        scope: Scope,
        user_id: Uuid,
        method_id: Option<&str>,
        code: Option<&str>,
    ) -> Result<CodeOutcome<()>> {
        let mut errors = Errors::default();
        let method_id = required(method_id, "methodId", &mut errors);
        let code = required(code, "code", &mut errors);
        errors.into_result()?;
        let user = self
            .store()
            .user(scope, user_id)
            .await?
            .ok_or(Error::NotFound)?
            .user;
        if !user
            .two_factor
            .methods
            .iter()
            .any(|m| tf::method_id(m) == method_id)
        {
            return Err(Error::field(
                "methodId",
                "[invalid]methodId",
                "The user has no two-factor method with this [methodId].",
            ));
        }
        let tenant_id = user.tenant_id.expect("stored");
        let tenant = self
            .identity
            .acting_tenant(Scope::tenant(tenant_id))
            .await?;
        let settings = LoginSettings::of(&tenant, None);
        let now = now_millis();
        let (counted, counts) = match self
            .count_code_attempt(tenant_id, user_id, &settings, now)
            .await?
        {
            Ok(c) => c,
            Err(until) => return Ok(CodeOutcome::Locked { until }),
        };
        if !self.check_code(&user, &code, now).await? {
            return self
                .wrong_code(tenant_id, &user, &counts, &settings, None, now)
                .await;
        }
        self.take_back(&counted).await?;
        // Read again: a recovery code used just now is gone from the stored user.
        let mut two_factor = self
            .store()
            .user(Scope::tenant(tenant_id), user_id)
            .await?
            .ok_or(Error::NotFound)?
            .user
            .two_factor;
        two_factor.methods.retain(|m| tf::method_id(m) != method_id);
        if two_factor.methods.is_empty() {
            two_factor.recovery_codes.clear();
            self.store().delete_two_factor_rows(user_id, TRUST).await?;
        }
        self.store()
            .set_two_factor(
                user_id,
                &serde_json::to_string(&two_factor).expect("serializes"),
                false,
                now,
            )
            .await?;
        tracing::info!(user = %user_id, "two-factor method disabled");
        Ok(CodeOutcome::Accepted(()))
    }

    /// `POST /api/user/two-factor/recovery-code/{userId}`: new recovery codes replace the old
    /// ones; answered this once, stored as SHA-256.
    pub async fn new_recovery_codes(&self, scope: Scope, user_id: Uuid) -> Result<Vec<String>> {
        let user = self
            .store()
            .user(scope, user_id)
            .await?
            .ok_or(Error::NotFound)?
            .user;
        if user.two_factor.methods.is_empty() {
            return Err(Error::general(
                "[TwoFactorNotEnabled]",
                "The user has no two-factor method: recovery codes come with the first one.",
            ));
        }
        let codes = tf::new_recovery_codes();
        let mut two_factor = user.two_factor;
        two_factor.recovery_codes = codes.iter().map(|c| tf::hash_recovery_code(c)).collect();
        self.store()
            .set_two_factor(
                user_id,
                &serde_json::to_string(&two_factor).expect("serializes"),
                false,
                now_millis(),
            )
            .await?;
        Ok(codes)
    }

    /// The methods (`{id, method, email?}`) a pending login can be completed with, for the
    /// hosted code page; `NotFound` for an unknown or expired `twoFactorId`.
    pub async fn pending_login_methods(
        &self,
        scope: Scope,
        two_factor_id: &str,
    ) -> Result<Vec<Json>> {
        let pending = self.pending(scope, two_factor_id, now_millis()).await?;
        let user = self
            .store()
            .user(Scope::tenant(pending.tenant_id), pending.user_id)
            .await?
            .ok_or(Error::NotFound)?
            .user;
        Ok(listed(&user))
    }

    /// The hosted enrolment step: enables `req`'s method for the user of the pending login
    /// `two_factor_id`, only while that user has no method. A login that already has a second
    /// factor must use it; letting its password alone add another would bypass the factor.
    /// The login itself stays pending: the next code completes it.
    pub async fn enrol_pending(
        &self,
        scope: Scope,
        two_factor_id: &str,
        req: EnableTwoFactorRequest,
    ) -> Result<CodeOutcome<Vec<String>>> {
        let pending = self.pending(scope, two_factor_id, now_millis()).await?;
        let tenant = Scope::tenant(pending.tenant_id);
        let user = self
            .store()
            .user(tenant, pending.user_id)
            .await?
            .ok_or(Error::NotFound)?
            .user;
        if !user.two_factor.methods.is_empty() {
            return Err(Error::NotFound);
        }
        self.enable_two_factor(tenant, pending.user_id, req).await
    }
}

/// `GET /api/two-factor/secret`: a new authenticator secret, base64 and base32.
pub fn new_secret() -> (String, String) {
    let s = tf::new_secret();
    (tf::base64(&s), tf::base32(&s))
}
