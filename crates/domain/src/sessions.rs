//! Login and tokens (MISSION §6): password login with FusionAuth's outcomes, brute-force locks,
//! rehash on login, per-tenant signing keys, access tokens, refresh tokens, change password.
//!
//! [`Sessions`] sits beside [`Identity`] and uses its store and hashing pool. Signing keys live in
//! the store (so every node signs and verifies with the same keys) and are cached here.

use crate::model::*;
use crate::session_store::{RefreshTokens, StoredKey, StoredRefreshToken};
use crate::settings::LoginSettings;
use crate::{validate, Error, Errors, Identity};
use portcullis_hash::Credential;
use portcullis_jwt::{Algorithm, KeyPair};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use uuid::Uuid;

type Result<T, E = Error> = std::result::Result<T, E>;

/// FusionAuth's login request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    #[serde(default)]
    pub login_id: Option<String>,
    #[serde(default)]
    pub password: Option<Password>,
    #[serde(default)]
    pub application_id: Option<Uuid>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default, rename = "noJWT")]
    pub no_jwt: bool,
}

/// What a successful password check gives the caller.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub user: User,
    pub token: Option<String>,
    pub token_expiration_instant: Option<Millis>,
    pub refresh_token: Option<String>,
    pub refresh_token_id: Option<Uuid>,
}

/// Every answer of a login besides 400, 404 (unknown user or wrong password: `Error::NotFound`)
/// and 503.
#[derive(Debug)]
pub enum LoginOutcome {
    /// 200.
    Success(Tokens),
    /// 202: the password is right but the user has no registration for the application.
    NotRegistered(Tokens),
    /// 212: the password is right but the tenant verifies emails and this one is not verified
    /// yet (FusionAuth's body, token included).
    EmailNotVerified(Tokens),
    /// 203: the user must change the password first, with this id.
    PasswordChangeRequired { change_password_id: String },
    /// 409: the user is deactivated.
    Inactive,
    /// 410: the account has expired.
    Expired,
    /// 423: too many failed logins, locked until this instant.
    Locked { until: Millis },
}

/// FusionAuth's change-password request: `loginId` and `currentPassword` (with an API key), or
/// just `password` with a change-password id.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    #[serde(default)]
    pub login_id: Option<String>,
    #[serde(default)]
    pub current_password: Option<Password>,
    #[serde(default)]
    pub password: Option<Password>,
    #[serde(default)]
    pub ip_address: Option<String>,
}

/// One token of `POST /api/user/refresh-token/import` (FusionAuth's names).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ImportedRefreshToken {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub user_id: Option<Uuid>,
    #[serde(default)]
    pub application_id: Option<Uuid>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    /// When the user logged in (the JWT's `auth_time`); default: `insertInstant`.
    #[serde(default)]
    pub start_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    /// When the old system issued the token; its lifetime counts from here. Default: now.
    #[serde(default)]
    pub insert_instant: Option<Millis>,
}

/// What `POST /api/jwt/refresh` gives.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub token: String,
    pub refresh_token: String,
    pub refresh_token_id: Uuid,
}

/// A signing key as the Key API shows it (FusionAuth's field names, plus `tenantId` and
/// `status`). It has no field for private key material or an HMAC secret, so none can leak.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: String,
    pub kid: String,
    pub algorithm: String,
    /// `EC`, `OKP`, `RSA` or `HMAC`.
    #[serde(rename = "type")]
    pub key_type: String,
    /// PEM; none for HMAC keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    pub has_private_key: bool,
    pub tenant_id: Uuid,
    /// `active` (signs) or `retiring` (verifies until `expirationInstant`).
    pub status: String,
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub insert_instant: Millis,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_instant: Option<Millis>,
}

/// The result of a password check that did not fail.
enum Checked {
    /// The password is right; with the rehashed credential when the tenant upgrades on login,
    /// whether the user was just written with this login's instants and event (a migration),
    /// so the login need not write them again, and the attempts it takes back.
    Right(Box<StoredUser>, Option<Credential>, bool, Counted),
    Locked(Millis),
}

/// The brute-force counts one login attempt added (empty when the tenant does not lock).
#[derive(Debug, Default)]
struct Counted {
    tenant: Uuid,
    /// Counts that start over when the password is right (the user's, the login id's).
    reset: Vec<String>,
    /// Counts that only lose this attempt then (the client's address, shared by others).
    give_back: Vec<String>,
}

/// How a counted check ended, short of a failure.
enum Verdict {
    /// As [`Checked::Right`], before the counts are attached.
    Right(Box<StoredUser>, Option<Credential>, bool),
    /// A subject resolved on the way (the user a legacy answer names) is over its limit.
    Locked,
}

/// How a counted check failed.
enum Failed {
    /// A wrong password, or a legacy answer refused (`reason` says why, never the password).
    Wrong {
        user: Option<Box<User>>,
        reason: Option<String>,
    },
    /// Nothing was decided.
    Error(Error),
}

impl From<Error> for Failed {
    fn from(e: Error) -> Self {
        Failed::Error(e)
    }
}

impl From<crate::StoreError> for Failed {
    fn from(e: crate::StoreError) -> Self {
        Failed::Error(e.into())
    }
}

impl From<portcullis_hash::PoolBusy> for Failed {
    fn from(e: portcullis_hash::PoolBusy) -> Self {
        Failed::Error(e.into())
    }
}

impl Counted {
    fn back(&self) -> Option<crate::AttemptsBack<'_>> {
        (!self.reset.is_empty() || !self.give_back.is_empty()).then_some(crate::AttemptsBack {
            tenant: self.tenant,
            reset: &self.reset,
            give_back: &self.give_back,
        })
    }
}

/// The signing algorithm of keys generated on first need.
pub const DEFAULT_ALGORITHM: Algorithm = Algorithm::ES256;
/// How long a node keeps signing with the key it last read as active.
const ACTIVE_KEY_CACHE: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a change-password id is good for.
const CHANGE_PASSWORD_ID_MILLIS: Millis = 10 * 60_000;

/// A loaded key and when the database last confirmed it.
type CachedKey = (Arc<KeyPair>, std::time::Instant);

/// A scheme and factor to hash with (`None`: the scheme's default).
type HashTarget = (String, Option<u32>);

/// Login, tokens and keys. Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    identity: Identity,
    /// kid → key, for signing and verifying, and when the database last confirmed it (a key
    /// deleted through the Key API stops verifying on other nodes after [`ACTIVE_KEY_CACHE`]).
    keys: Arc<RwLock<HashMap<String, CachedKey>>>,
    /// tenant → the kid that signs, and when this node read it. Re-read after
    /// [`ACTIVE_KEY_CACHE`], so a rotation on another node reaches this one.
    active: Arc<RwLock<HashMap<Uuid, (String, std::time::Instant)>>>,
    /// (scheme, factor) → a credential of a random password, verified when the user does not
    /// exist so that the answer takes as long as a wrong password.
    dummies: Arc<Mutex<HashMap<HashTarget, Credential>>>,
    create_key: Arc<tokio::sync::Mutex<()>>,
}

fn sha256_hex(s: &str) -> String {
    crate::service::api_key_hash(s)
}

fn secs(m: Millis) -> i64 {
    m / 1000
}

impl Sessions {
    pub fn new(identity: Identity) -> Self {
        Self {
            identity,
            keys: Default::default(),
            active: Default::default(),
            dummies: Default::default(),
            create_key: Default::default(),
        }
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    fn store(&self) -> &Arc<dyn crate::Store> {
        self.identity.store()
    }

    // ------------------------------------------------------------ login

    /// `POST /api/login`.
    pub async fn login(&self, scope: Scope, req: LoginRequest) -> Result<LoginOutcome> {
        let mut errors = Errors::default();
        // Checked before anything is read or hashed: a login id no user can have (a control
        // character, over the length bound) and an ipAddress that is no IP address are 400s.
        let login_id = validate::login_id(
            req.login_id.as_deref(),
            "loginId",
            "You must specify the [loginId] (an email or a username).",
            &mut errors,
        );
        let ip = validate::optional_ip_address(req.ip_address.as_deref(), "ipAddress", &mut errors);
        let password = req.password.clone().unwrap_or(Password(String::new()));
        if password.0.is_empty() {
            errors.add_field(
                "password",
                "[blank]password",
                "You must specify the [password].",
            );
        }
        errors.into_result()?;
        let tenant_id = self.identity.resolve_tenant(scope, None).await?;
        let tenant = self
            .store()
            .tenant(tenant_id)
            .await?
            .ok_or(Error::NotFound)?;
        let app = match req.application_id {
            None => None,
            Some(a) => match self
                .store()
                .application(Scope::tenant(tenant_id), a)
                .await?
            {
                Some(app) if app.active => Some(app),
                _ => {
                    return Err(Error::field(
                        "applicationId",
                        "[invalid]applicationId",
                        format!(
                            "The application [{a}] does not exist in this tenant or is inactive."
                        ),
                    ))
                }
            },
        };
        let settings = LoginSettings::of(&tenant, app.as_ref());
        let now = now_millis();
        let (mut stored, upgraded, fresh, counted) = match self
            .check_password(
                tenant_id,
                &settings,
                login_id,
                password,
                ip.as_deref(),
                now,
                Some((&tenant, req.application_id)),
            )
            .await?
        {
            Checked::Right(u, c, fresh, counted) => (*u, c, fresh, counted),
            Checked::Locked(until) => return Ok(LoginOutcome::Locked { until }),
        };
        let user_id = stored.user.id.expect("stored");

        // The password is right: the account's own state decides now, never before (no
        // enumeration of inactive or expired accounts).
        if !stored.user.active {
            tracing::info!(user = %user_id, "login refused: user inactive");
            self.take_back(&counted).await?;
            return Ok(LoginOutcome::Inactive);
        }
        if stored.user.expiry.is_some_and(|e| e <= now) {
            tracing::info!(user = %user_id, "login refused: user expired");
            self.take_back(&counted).await?;
            return Ok(LoginOutcome::Expired);
        }
        if let Some(c) = upgraded {
            tracing::info!(user = %user_id, from = %stored.credential.as_ref().map_or("", |c| c.scheme.as_str()), to = %c.scheme, "password rehashed on login");
            self.store().update_credential(user_id, &c).await?;
            stored.credential = Some(c);
        }
        if stored.user.password_change_required {
            let id = crate::service::new_api_key();
            self.store()
                .insert_change_password_id(
                    &sha256_hex(&id),
                    tenant_id,
                    user_id,
                    now + CHANGE_PASSWORD_ID_MILLIS,
                )
                .await?;
            self.take_back(&counted).await?;
            return Ok(LoginOutcome::PasswordChangeRequired {
                change_password_id: id,
            });
        }

        stored.user.last_login_instant = Some(now);
        let registration = app.as_ref().and_then(|a| {
            stored
                .user
                .registrations
                .iter_mut()
                .find(|r| r.application_id == a.id)
        });
        let registration = registration.map(|r| {
            r.last_login_instant = Some(now);
            r.clone()
        });
        let registered = app.is_none() || registration.is_some();
        let sid = crate::new_id();
        let mut tokens = Tokens {
            user: stored.user.clone(),
            token: None,
            token_expiration_instant: None,
            refresh_token: None,
            refresh_token_id: None,
        };
        if !req.no_jwt {
            let (jwt, exp) = self
                .access_token(
                    &tenant,
                    &settings,
                    &stored.user,
                    app.as_ref(),
                    registration.as_ref(),
                    now,
                    sid,
                )
                .await?;
            tokens.token = Some(jwt);
            tokens.token_expiration_instant = Some(exp);
        }
        let refresh = match (&app, registered, settings.generate_refresh_tokens) {
            (Some(app), true, true) => {
                let (t, row) = Self::refresh_token_row(
                    tenant_id,
                    user_id,
                    app.id.expect("stored"),
                    sid,
                    now,
                    now,
                    &settings,
                );
                tokens.refresh_token = Some(t);
                tokens.refresh_token_id = Some(row.id);
                Some(row)
            }
            _ => None,
        };
        // The login's writes, in one round trip: lastLoginInstant (user and registration), the
        // event, the refresh token and the attempts taken back.
        // A migration wrote the user with this login's instants and its event already.
        let event = (!fresh)
            .then(|| crate::Event::login_success(&stored.user, req.application_id, ip.as_deref()));
        if !fresh || refresh.is_some() {
            self.store()
                .record_login(&crate::LoginWrites {
                    user: user_id,
                    application: registration.as_ref().and(req.application_id),
                    now,
                    event: event.as_ref(),
                    refresh_token: refresh.as_ref(),
                    attempts: counted.back(),
                })
                .await?;
        } else {
            self.take_back(&counted).await?;
        }
        tracing::info!(user = %user_id, application = ?req.application_id, "login succeeded");
        Ok(if !registered {
            LoginOutcome::NotRegistered(tokens)
        } else if settings.verify_email && !stored.user.verified {
            LoginOutcome::EmailNotVerified(tokens)
        } else {
            LoginOutcome::Success(tokens)
        })
    }

    /// Finds the user by login id, refuses while a brute-force lock holds (before any hash is
    /// computed, MISSION §6), counts the attempt, verifies the password on the pool (against a
    /// dummy hash when the user does not exist, so both failures take as long) and locks after
    /// too many failures. `NotFound` for an unknown user or a wrong password alike. With the
    /// tenant's `modifyEncryptionSchemeOnLogin`, a right password that `needs_rehash` is
    /// rehashed in the same pool job.
    ///
    /// The attempt is counted in the store before anything is verified or asked, in one atomic
    /// statement per attempt, so that at most `tooManyAttempts` checks per subject are in flight
    /// or done within the window on all nodes together; one beyond is refused as locked.
    ///
    /// With `connectors` (a login, not a password change), a user Portcullis lacks — or keeps
    /// only as a `migrate: false` profile — is asked of the tenant's connectors after the lock
    /// check (MISSION §7); a connector's "no" ends like a wrong password, and so does a "yes"
    /// that names a user Portcullis holds (unless the typed password verifies against that
    /// user's own credential).
    #[allow(clippy::too_many_arguments)]
    async fn check_password(
        &self,
        tenant_id: Uuid,
        settings: &LoginSettings,
        login_id: &str,
        password: Password,
        ip: Option<&str>,
        now: Millis,
        connectors: Option<(&Tenant, Option<Uuid>)>,
    ) -> Result<Checked> {
        let key = login_id.trim().to_lowercase();
        let ip_subject = ip
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|ip| format!("ip:{ip}"));
        let (found, locks) = self
            .store()
            .user_for_login(tenant_id, &key, ip_subject.as_deref(), now)
            .await?;
        if let Some(until) = locks.locked_until {
            return Ok(Checked::Locked(until));
        }
        let mut counted = Counted {
            tenant: tenant_id,
            reset: vec![crate::login_subject(found.as_ref(), &key)],
            give_back: ip_subject.into_iter().collect(),
        };
        let mut counts = Vec::new();
        if settings.failed.too_many_attempts > 0 {
            let subjects: Vec<String> = counted
                .reset
                .iter()
                .chain(&counted.give_back)
                .cloned()
                .collect();
            counts = self
                .count_attempt(tenant_id, &subjects, settings, now)
                .await?;
            if let Some(until) = Self::over_limit(&counts, settings) {
                return Ok(Checked::Locked(until));
            }
        } else {
            counted = Counted::default();
        }
        let checked = self
            .check_counted(
                tenant_id,
                settings,
                login_id.trim(),
                password,
                ip,
                now,
                connectors,
                found,
                &mut counted,
                &mut counts,
            )
            .await;
        match checked {
            Ok(Verdict::Right(u, c, fresh)) => Ok(Checked::Right(u, c, fresh, counted)),
            Ok(Verdict::Locked) => Ok(Checked::Locked(
                Self::over_limit(&counts, settings).unwrap_or(now),
            )),
            Err(Failed::Wrong { user, reason }) => {
                self.failed(tenant_id, &counts, settings, now).await?;
                if let Some(r) = &reason {
                    tracing::warn!(tenant = %tenant_id, user = ?user.as_ref().and_then(|u| u.id), reason = %r, "login refused");
                }
                let event = crate::Event::login_failed(
                    tenant_id,
                    user.as_deref(),
                    connectors.and_then(|(_, a)| a),
                    ip,
                );
                self.identity
                    .record(match &reason {
                        Some(r) => event.with_reason(r),
                        None => event,
                    })
                    .await;
                Err(Error::NotFound)
            }
            Err(Failed::Error(e)) => {
                // The pool was full: no password was checked anywhere, so the attempt's units
                // go back. A legacy failure keeps them: a legacy system that times out may still
                // have checked the guess, and giving the unit back would let a slow legacy
                // system be guessed against without limit.
                if matches!(e, Error::Busy(_)) {
                    let everything = Counted {
                        tenant: tenant_id,
                        reset: Vec::new(),
                        give_back: counted.reset.into_iter().chain(counted.give_back).collect(),
                    };
                    if let Err(e) = self.take_back(&everything).await {
                        tracing::warn!(error = %e, "could not take back a login attempt");
                    }
                }
                Err(e)
            }
        }
    }

    /// The password check proper, once the attempt is counted. `counted` and `counts` grow by
    /// the user a legacy answer names, whose count applies whichever login id was typed.
    #[allow(clippy::too_many_arguments)]
    async fn check_counted(
        &self,
        tenant_id: Uuid,
        settings: &LoginSettings,
        login_id: &str,
        password: Password,
        ip: Option<&str>,
        now: Millis,
        connectors: Option<(&Tenant, Option<Uuid>)>,
        found: Option<StoredUser>,
        counted: &mut Counted,
        counts: &mut Vec<crate::AttemptCount>,
    ) -> std::result::Result<Verdict, Failed> {
        if let Some((tenant, application_id)) = connectors {
            let login = crate::connectors::LegacyLogin {
                login_id,
                password: &password,
                application_id,
                ip_address: ip,
            };
            let legacy = match &found {
                None => {
                    self.identity
                        .login_through_connectors(tenant, settings, &login)
                        .await?
                }
                Some(u) if u.credential.is_none() && u.user.connector_id.is_some() => {
                    self.identity
                        .relogin_through_connector(tenant, settings, u, &login)
                        .await?
                }
                Some(_) => crate::migration::Legacy::No,
            };
            match legacy {
                crate::migration::Legacy::No => {}
                crate::migration::Legacy::Vouched(v) => {
                    return Ok(Verdict::Right(Box::new(v.stored), None, v.fresh))
                }
                crate::migration::Legacy::Collides {
                    existing,
                    verify,
                    reason,
                } => {
                    // The user the answer names is the one under attack: their count (and
                    // lock) applies whichever login id was typed.
                    if let Some(id) = existing.as_ref().and_then(|e| e.user.id) {
                        let subject = crate::login_subject(existing.as_ref(), "");
                        if settings.failed.too_many_attempts > 0
                            && !counted.reset.contains(&subject)
                        {
                            let more = self
                                .count_attempt(
                                    tenant_id,
                                    std::slice::from_ref(&subject),
                                    settings,
                                    now,
                                )
                                .await?;
                            counts.extend(more);
                            counted.reset.push(subject);
                            if Self::over_limit(counts, settings).is_some() {
                                tracing::warn!(tenant = %tenant_id, user = %id, "login refused: the user a legacy answer names is locked");
                                return Ok(Verdict::Locked);
                            }
                        }
                    }
                    let credential = existing.as_ref().and_then(|e| e.credential.clone());
                    if let (true, Some(c), Some(e)) = (verify, credential, existing.clone()) {
                        let pw = password.clone();
                        let kind = format!("verify {}:{}", c.scheme, c.factor);
                        let pool = self.identity.pool().for_verify(
                            &c,
                            settings.passwords.scheme(),
                            settings.passwords.encryption_scheme_factor,
                        );
                        let ok = pool
                            .run_as(&kind, move || portcullis_hash::verify(&c, pw.0.as_bytes()))
                            .await?;
                        if ok {
                            return Ok(Verdict::Right(Box::new(e), None, false));
                        }
                    }
                    return Err(Failed::Wrong {
                        user: existing.map(|e| Box::new(e.user)),
                        reason: Some(reason),
                    });
                }
            }
        }
        let target = (
            settings.passwords.scheme().to_string(),
            settings.passwords.encryption_scheme_factor,
        );
        let dummy = self.dummy(&target).await?;
        let (credential, at_target) = match found.as_ref().and_then(|u| u.credential.clone()) {
            Some(c) => {
                let at = !portcullis_hash::needs_rehash(&c, &dummy.scheme, dummy.factor);
                (c, at)
            }
            None => (dummy.clone(), true),
        };
        let rehash = settings.passwords.modify_encryption_scheme_on_login
            && portcullis_hash::needs_rehash(&credential, &target.0, target.1.unwrap_or(0));
        let kind = format!("verify {}:{}", credential.scheme, credential.factor);
        // Kept for the dummy verify below, only when it may be needed.
        let again = (!at_target).then(|| password.clone());
        let pool = self
            .identity
            .pool()
            .for_verify(&credential, &target.0, target.1);
        let job = move || {
            let pw = password.0.as_bytes();
            if !portcullis_hash::verify(&credential, pw) {
                return (false, None);
            }
            let (scheme, factor) = target;
            let upgraded = rehash
                .then(|| portcullis_hash::hash_password(&scheme, factor, pw).ok())
                .flatten();
            (true, upgraded)
        };
        // A verify alone is sized by its scheme and factor (cheap legacy digests run inline);
        // one that may re-hash always goes to the pool. A credential far costlier than the
        // tenant's scheme runs on the pool's costly lane, never on every worker.
        let (ok, upgraded) = if rehash {
            pool.run(job).await?
        } else {
            pool.run_as(&kind, job).await?
        };
        match found {
            Some(u) if ok && u.credential.is_some() => {
                Ok(Verdict::Right(Box::new(u), upgraded, false))
            }
            other => {
                if let Some(pw) = again {
                    // A failure costs at least one verify at the tenant's scheme and factor,
                    // whatever the user's credential: a cheap imported hash must not answer
                    // faster than an unknown user.
                    let kind = format!("verify {}:{}", dummy.scheme, dummy.factor);
                    self.identity
                        .pool()
                        .run_as(&kind, move || {
                            portcullis_hash::verify(&dummy, pw.0.as_bytes())
                        })
                        .await?;
                }
                Err(Failed::Wrong {
                    user: other.map(|u| Box::new(u.user)),
                    reason: None,
                })
            }
        }
    }

    /// Counts one attempt against `subjects` (see `SessionStore::count_login_attempt`).
    async fn count_attempt(
        &self,
        tenant: Uuid,
        subjects: &[String],
        settings: &LoginSettings,
        now: Millis,
    ) -> Result<Vec<crate::AttemptCount>> {
        let window = settings.failed.reset_count_in_seconds.max(1) * 1000;
        Ok(self
            .store()
            .count_login_attempt(tenant, subjects, now, now + window)
            .await?)
    }

    /// When any count is beyond the limit: the latest end among their windows.
    fn over_limit(counts: &[crate::AttemptCount], settings: &LoginSettings) -> Option<Millis> {
        let limit = settings.failed.too_many_attempts;
        let over = counts.iter().filter(|c| limit > 0 && c.n > limit);
        let until = over.map(|c| c.expires_instant).max();
        if until.is_some() {
            tracing::warn!(subjects = ?counts.iter().filter(|c| c.n > limit).map(|c| c.subject.split(':').next().unwrap_or("")).collect::<Vec<_>>(), "login refused: too many attempts in the window");
        }
        until
    }

    /// Takes back what a decided login no longer needs counted (see [`Counted`]).
    async fn take_back(&self, counted: &Counted) -> Result<()> {
        if let Some(back) = counted.back() {
            self.store().forget_login_attempts(&back).await?;
        }
        Ok(())
    }

    /// A failed check: every subject whose count reached the limit is locked (its count starts
    /// over when the lock ends). The counts themselves stay.
    async fn failed(
        &self,
        tenant: Uuid,
        counts: &[crate::AttemptCount],
        settings: &LoginSettings,
        now: Millis,
    ) -> Result<()> {
        let f = &settings.failed;
        for c in counts {
            if f.too_many_attempts > 0 && c.n >= f.too_many_attempts {
                self.store()
                    .lock_login(tenant, &c.subject, now + f.lock_millis())
                    .await?;
                tracing::warn!(tenant = %tenant, subject_kind = %c.subject.split(':').next().unwrap_or(""), "login locked after too many failures");
            }
        }
        tracing::info!(tenant = %tenant, "login failed");
        Ok(())
    }

    /// A credential of a random password with the tenant's scheme, made once per scheme.
    async fn dummy(&self, target: &HashTarget) -> Result<Credential> {
        if let Some(c) = self.dummies.lock().expect("not poisoned").get(target) {
            return Ok(c.clone());
        }
        let (scheme, factor) = target.clone();
        let c = self
            .identity
            .pool()
            .run(move || {
                let pw = crate::service::new_api_key();
                portcullis_hash::hash_password(&scheme, factor, pw.as_bytes())
                    .or_else(|_| {
                        portcullis_hash::hash_password(
                            portcullis_hash::DEFAULT_SCHEME,
                            None,
                            pw.as_bytes(),
                        )
                    })
                    .expect("the default scheme hashes")
            })
            .await?;
        self.dummies
            .lock()
            .expect("not poisoned")
            .insert(target.clone(), c.clone());
        Ok(c)
    }

    // ------------------------------------------------------------ change password

    /// `POST /api/user/change-password` with `loginId` and `currentPassword`: the current
    /// password is checked like a login (same locks, same 404 for unknown user or wrong
    /// password). `Ok(Some(until))` when locked.
    pub async fn change_password(
        &self,
        scope: Scope,
        req: ChangePasswordRequest,
    ) -> Result<Option<Millis>> {
        let tenant_id = self.identity.resolve_tenant(scope, None).await?;
        let tenant = self
            .store()
            .tenant(tenant_id)
            .await?
            .ok_or(Error::NotFound)?;
        let settings = LoginSettings::of(&tenant, None);
        let mut errors = Errors::default();
        let login_id = validate::login_id(
            req.login_id.as_deref(),
            "loginId",
            "You must specify the [loginId] (or use a change-password id).",
            &mut errors,
        );
        let ip = validate::optional_ip_address(req.ip_address.as_deref(), "ipAddress", &mut errors);
        let current = req
            .current_password
            .clone()
            .unwrap_or(Password(String::new()));
        if current.0.is_empty() {
            errors.add_field(
                "currentPassword",
                "[blank]currentPassword",
                "You must specify the [currentPassword].",
            );
        }
        let new = Self::new_password(&req, &settings, &mut errors);
        errors.into_result()?;
        let now = now_millis();
        let stored = match self
            .check_password(
                tenant_id,
                &settings,
                login_id,
                current,
                ip.as_deref(),
                now,
                None,
            )
            .await?
        {
            Checked::Right(u, _, _, counted) => {
                self.take_back(&counted).await?;
                *u
            }
            Checked::Locked(until) => return Ok(Some(until)),
        };
        self.set_password(stored, new, &settings).await?;
        Ok(None)
    }

    /// `POST /api/user/change-password/{changePasswordId}`: the id (from a 203 login) stands in
    /// for the current password, once, until it expires.
    pub async fn change_password_by_id(
        &self,
        change_password_id: &str,
        req: ChangePasswordRequest,
    ) -> Result<()> {
        let hash = sha256_hex(change_password_id);
        let (tenant_id, user_id, expires) = self
            .store()
            .change_password_id(&hash)
            .await?
            .ok_or(Error::NotFound)?;
        if expires <= now_millis() {
            self.store().delete_change_password_id(&hash).await?;
            return Err(Error::NotFound);
        }
        let tenant = self
            .store()
            .tenant(tenant_id)
            .await?
            .ok_or(Error::NotFound)?;
        let settings = LoginSettings::of(&tenant, None);
        let mut errors = Errors::default();
        let new = Self::new_password(&req, &settings, &mut errors);
        errors.into_result()?;
        let stored = self
            .store()
            .user(Scope::tenant(tenant_id), user_id)
            .await?
            .ok_or(Error::NotFound)?;
        if !self.store().delete_change_password_id(&hash).await? {
            return Err(Error::NotFound);
        }
        self.set_password(stored, new, &settings).await
    }

    fn new_password(
        req: &ChangePasswordRequest,
        settings: &LoginSettings,
        errors: &mut Errors,
    ) -> Password {
        let new = req.password.clone().unwrap_or(Password(String::new()));
        if new.0.is_empty() {
            errors.add_field(
                "password",
                "[blank]password",
                "You must specify the new [password].",
            );
        } else {
            settings.rules.check(&new.0, "password", errors);
        }
        new
    }

    /// Hashes the new password with the tenant's scheme, clears `passwordChangeRequired` and,
    /// unless the tenant says otherwise, revokes the user's refresh tokens.
    async fn set_password(
        &self,
        mut stored: StoredUser,
        new: Password,
        settings: &LoginSettings,
    ) -> Result<()> {
        let scheme = settings.passwords.scheme().to_string();
        let factor = settings.passwords.encryption_scheme_factor;
        let credential = self
            .identity
            .pool()
            .hash_password(scheme, factor, new.0)
            .await?
            .map_err(|e| Error::Store(format!("hashing the new password failed: {e}")))?;
        let now = now_millis();
        // A profile copied from a legacy system for a reset becomes a migrated user when its
        // first password is set here.
        if let (None, Some(t), Some(c)) = (
            &stored.credential,
            stored.user.tenant_id,
            stored.user.connector_id,
        ) {
            self.identity.count(t, c, crate::migration::MIGRATED).await;
        }
        stored.credential = Some(credential);
        stored.user.password_change_required = false;
        stored.user.password_last_update_instant = Some(now);
        stored.user.last_update_instant = Some(now);
        self.store().update_user(&stored).await?;
        let user_id = stored.user.id.expect("stored");
        if settings.revoke_on_password_change {
            self.store()
                .delete_refresh_tokens(stored.user.tenant_id, RefreshTokens::User(user_id))
                .await?;
        }
        tracing::info!(user = %user_id, "password changed");
        Ok(())
    }

    // ------------------------------------------------------------ keys and access tokens

    /// The key of a row just read from the store (so the cache entry counts as confirmed now).
    async fn load_key(&self, stored: &StoredKey) -> Result<Arc<KeyPair>> {
        if let Some((k, at)) = self
            .keys
            .write()
            .expect("not poisoned")
            .get_mut(&stored.kid)
        {
            *at = std::time::Instant::now();
            return Ok(k.clone());
        }
        let alg = Algorithm::parse(&stored.algorithm).map_err(|e| Error::Store(e.to_string()))?;
        let k = KeyPair::from_parts(stored.kid.clone(), alg, &stored.secret)
            .map_err(|e| Error::Store(e.to_string()))?;
        let k = Arc::new(k);
        self.keys
            .write()
            .expect("not poisoned")
            .insert(stored.kid.clone(), (k.clone(), std::time::Instant::now()));
        Ok(k)
    }

    /// The tenant's signing key, generated and stored on first need. When two nodes generate at
    /// once, both keep the oldest stored active key, so they agree.
    pub async fn signing_key(&self, tenant: Uuid) -> Result<Arc<KeyPair>> {
        let cached = self
            .active
            .read()
            .expect("not poisoned")
            .get(&tenant)
            .filter(|(_, at)| at.elapsed() < ACTIVE_KEY_CACHE)
            .map(|(kid, _)| kid.clone());
        if let Some(kid) = cached {
            if let Some((k, _)) = self.keys.read().expect("not poisoned").get(&kid) {
                return Ok(k.clone());
            }
        }
        let _one_at_a_time = self.create_key.lock().await;
        let mut active = self.active_keys(tenant).await?;
        if active.is_empty() {
            let k = tokio::task::spawn_blocking(|| {
                KeyPair::generate(Uuid::new_v4().to_string(), DEFAULT_ALGORITHM)
            })
            .await
            .map_err(|e| Error::Store(e.to_string()))?;
            self.store()
                .insert_signing_key(&StoredKey {
                    kid: k.kid().to_string(),
                    tenant_id: tenant,
                    algorithm: k.algorithm().name().to_string(),
                    secret: k.secret(),
                    status: "active".into(),
                    insert_instant: now_millis(),
                    expires_instant: None,
                })
                .await?;
            active = self.active_keys(tenant).await?;
        }
        let first = active
            .first()
            .ok_or_else(|| Error::Store("no signing key after creating one".into()))?;
        let k = self.load_key(first).await?;
        self.active
            .write()
            .expect("not poisoned")
            .insert(tenant, (first.kid.clone(), std::time::Instant::now()));
        Ok(k)
    }

    /// Rotates the tenant's signing key: a new key (of `algorithm`, else the current key's)
    /// signs from now on; the old one turns `retiring` and stays published until every token it
    /// signed has expired (the longest access-token lifetime of the tenant and its applications,
    /// plus the time other nodes may still hold it as active), then is dropped.
    pub async fn rotate_key(
        &self,
        tenant: Uuid,
        algorithm: Option<Algorithm>,
    ) -> Result<Arc<KeyPair>> {
        let t = self.store().tenant(tenant).await?.ok_or(Error::NotFound)?;
        let mut longest = LoginSettings::of(&t, None).access_ttl_secs;
        for app in self.store().applications(Scope::tenant(tenant)).await? {
            longest = longest.max(LoginSettings::of(&t, Some(&app)).access_ttl_secs);
        }
        let _one_at_a_time = self.create_key.lock().await;
        let old = self.active_keys(tenant).await?;
        let alg = match (algorithm, old.first()) {
            (Some(a), _) => a,
            (None, Some(k)) => {
                Algorithm::parse(&k.algorithm).map_err(|e| Error::Store(e.to_string()))?
            }
            (None, None) => DEFAULT_ALGORITHM,
        };
        let k =
            tokio::task::spawn_blocking(move || KeyPair::generate(Uuid::new_v4().to_string(), alg))
                .await
                .map_err(|e| Error::Store(e.to_string()))?;
        let now = now_millis();
        let stored = StoredKey {
            kid: k.kid().to_string(),
            tenant_id: tenant,
            algorithm: alg.name().to_string(),
            secret: k.secret(),
            status: "active".into(),
            insert_instant: now,
            expires_instant: None,
        };
        self.store().insert_signing_key(&stored).await?;
        let until = now.saturating_add(
            longest
                .saturating_add(ACTIVE_KEY_CACHE.as_secs() as i64)
                .saturating_mul(1000),
        );
        for o in &old {
            self.store().retire_signing_key(&o.kid, until).await?;
        }
        self.store().delete_expired_signing_keys(now).await?;
        let k = self.load_key(&stored).await?;
        self.active
            .write()
            .expect("not poisoned")
            .insert(tenant, (stored.kid.clone(), std::time::Instant::now()));
        tracing::info!(tenant = %tenant, kid = %stored.kid, algorithm = alg.name(), retired = old.len(), "signing key rotated");
        Ok(k)
    }

    /// Keys that are published: active ones, and retiring ones until they expire.
    async fn published_keys(&self, tenant: Option<Uuid>) -> Result<Vec<StoredKey>> {
        let now = now_millis();
        let mut keys = self.store().signing_keys(tenant).await?;
        keys.retain(|k| k.status == "active" || k.expires_instant.is_some_and(|e| e > now));
        Ok(keys)
    }

    async fn active_keys(&self, tenant: Uuid) -> Result<Vec<StoredKey>> {
        let mut keys = self.store().signing_keys(Some(tenant)).await?;
        keys.retain(|k| k.status == "active");
        Ok(keys)
    }

    /// The public JWKs of every tenant's active and retiring keys (`/.well-known/jwks.json`).
    pub async fn jwks(&self) -> Result<Value> {
        let mut out = Vec::new();
        for s in self.published_keys(None).await? {
            if let Some(jwk) = self.load_key(&s).await?.public_jwk() {
                out.push(jwk);
            }
        }
        Ok(json!({ "keys": out }))
    }

    /// `GET /api/jwt/public-key`: PEM public keys by kid, of the scope's tenants (creating the
    /// signing key of a tenant that has none yet); with `kid`, only that key.
    pub async fn public_keys(&self, scope: Scope, kid: Option<&str>) -> Result<Map<String, Value>> {
        if let Some(t) = scope.tenant {
            self.signing_key(t).await?;
        }
        let mut out = Map::new();
        for s in self.published_keys(scope.tenant).await? {
            if kid.is_some_and(|k| k != s.kid) {
                continue;
            }
            if let Some(pem) = self.load_key(&s).await?.public_pem() {
                out.insert(s.kid.clone(), Value::String(pem));
            }
        }
        Ok(out)
    }

    // ------------------------------------------------------------ key management API

    /// `GET /api/key`: the signing keys of the scope's tenants (creating the signing key of a
    /// tenant that has none yet), oldest first, public halves only.
    pub async fn keys(&self, scope: Scope) -> Result<Vec<KeyView>> {
        if let Some(t) = scope.tenant {
            self.signing_key(t).await?;
        }
        let mut out = Vec::new();
        for s in self.store().signing_keys(scope.tenant).await? {
            out.push(self.key_view(&s).await?);
        }
        Ok(out)
    }

    /// `GET /api/key/{keyId}`: one key of the scope; `NotFound` for another tenant's.
    pub async fn key(&self, scope: Scope, kid: &str) -> Result<KeyView> {
        let s = self.scoped_key(scope, kid).await?;
        self.key_view(&s).await
    }

    /// `POST /api/key/generate`: rotates the tenant's signing key (as `portcullis keys rotate`
    /// does) to `algorithm` (default: the current key's); the old key stays published until its
    /// tokens have expired.
    pub async fn generate_key(
        &self,
        scope: Scope,
        tenant: Option<Uuid>,
        algorithm: Option<&str>,
    ) -> Result<KeyView> {
        let alg = match algorithm.map(str::trim).filter(|a| !a.is_empty()) {
            None => None,
            Some(a) => Some(Algorithm::parse(a).map_err(|_| {
                Error::field(
                    "key.algorithm",
                    "[invalid]key.algorithm",
                    format!(
                        "The algorithm [{a}] is not offered: use ES256, EdDSA, RS256 or HS256."
                    ),
                )
            })?),
        };
        let tenant = self.identity.resolve_tenant(scope, tenant).await?;
        let k = self.rotate_key(tenant, alg).await?;
        let stored = self
            .store()
            .signing_key(k.kid())
            .await?
            .ok_or(Error::NotFound)?;
        self.key_view(&stored).await
    }

    /// `DELETE /api/key/{keyId}`: drops a retiring key now (its tokens stop validating on this
    /// node at once, on others within [`ACTIVE_KEY_CACHE`]). The active key cannot be deleted:
    /// generate a new one first.
    pub async fn delete_key(&self, scope: Scope, kid: &str) -> Result<()> {
        let s = self.scoped_key(scope, kid).await?;
        if s.status == "active" {
            return Err(Error::general(
                "[KeyInUse]",
                format!(
                    "The key [{kid}] is the tenant's active signing key: generate a new key \
                     (POST /api/key/generate) first, then delete this one."
                ),
            ));
        }
        if !self.store().delete_signing_key(kid).await? {
            return Err(Error::NotFound);
        }
        self.keys.write().expect("not poisoned").remove(kid);
        tracing::info!(tenant = %s.tenant_id, kid = %kid, "signing key deleted");
        Ok(())
    }

    async fn scoped_key(&self, scope: Scope, kid: &str) -> Result<StoredKey> {
        let mut errors = Errors::default();
        validate::identifier(kid, "keyId", validate::NAME_MAX, &mut errors);
        errors.into_result()?;
        self.store()
            .signing_key(kid)
            .await?
            .filter(|k| scope.tenant.is_none_or(|t| t == k.tenant_id))
            .ok_or(Error::NotFound)
    }

    async fn key_view(&self, s: &StoredKey) -> Result<KeyView> {
        let key = self.load_key(s).await?;
        let alg = key.algorithm();
        Ok(KeyView {
            id: s.kid.clone(),
            kid: s.kid.clone(),
            algorithm: alg.name().to_string(),
            key_type: match alg {
                Algorithm::ES256 => "EC",
                Algorithm::EdDSA => "OKP",
                Algorithm::RS256 => "RSA",
                Algorithm::HS256 => "HMAC",
            }
            .to_string(),
            public_key: key.public_pem(),
            has_private_key: alg != Algorithm::HS256,
            tenant_id: s.tenant_id,
            status: s.status.clone(),
            insert_instant: s.insert_instant,
            expiration_instant: s.expires_instant,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn access_token(
        &self,
        tenant: &Tenant,
        settings: &LoginSettings,
        user: &User,
        app: Option<&Application>,
        registration: Option<&Registration>,
        auth_time: Millis,
        sid: Uuid,
    ) -> Result<(String, Millis)> {
        let tenant_id = tenant.id.expect("stored");
        let key = self.signing_key(tenant_id).await?;
        let now = now_millis();
        let exp = secs(now).saturating_add(settings.access_ttl_secs);
        let mut c = Map::new();
        if let Some(a) = app.and_then(|a| a.id) {
            c.insert("aud".into(), json!(a));
        }
        c.insert("exp".into(), json!(exp));
        c.insert("iat".into(), json!(secs(now)));
        c.insert("iss".into(), json!(settings.issuer));
        c.insert("sub".into(), json!(user.id));
        c.insert("jti".into(), json!(Uuid::new_v4()));
        c.insert("authenticationType".into(), json!("PASSWORD"));
        if let Some(e) = &user.email {
            c.insert("email".into(), json!(e));
            c.insert("email_verified".into(), json!(user.verified));
        }
        if let Some(u) = &user.username {
            c.insert("preferred_username".into(), json!(u));
        }
        if let Some(a) = app.and_then(|a| a.id) {
            c.insert("applicationId".into(), json!(a));
        }
        if let Some(r) = registration {
            c.insert("roles".into(), json!(r.roles));
        }
        c.insert("auth_time".into(), json!(secs(auth_time)));
        c.insert("sid".into(), json!(sid));
        c.insert("tid".into(), json!(tenant_id));
        Ok((key.sign(&c), exp.saturating_mul(1000)))
    }

    /// `GET /api/jwt/validate`: the claims of a token we signed that has not expired, else
    /// `Unauthorized`.
    pub async fn validate(&self, token: &str) -> Result<Map<String, Value>> {
        let kid = portcullis_jwt::key_id(token).ok_or(Error::Unauthorized)?;
        let cached = self
            .keys
            .read()
            .expect("not poisoned")
            .get(&kid)
            .filter(|(_, at)| at.elapsed() < ACTIVE_KEY_CACHE)
            .map(|(k, _)| k.clone());
        let key = match cached {
            Some(k) => k,
            None => match self.store().signing_key(&kid).await? {
                Some(s) => self.load_key(&s).await?,
                None => {
                    self.keys.write().expect("not poisoned").remove(&kid);
                    return Err(Error::Unauthorized);
                }
            },
        };
        key.verify(token, secs(now_millis()))
            .map_err(|_| Error::Unauthorized)
    }

    // ------------------------------------------------------------ refresh tokens

    /// A new refresh token and its stored row (only the SHA-256 of the token).
    #[allow(clippy::too_many_arguments)]
    fn refresh_token_row(
        tenant: Uuid,
        user: Uuid,
        app: Uuid,
        family: Uuid,
        start: Millis,
        now: Millis,
        settings: &LoginSettings,
    ) -> (String, StoredRefreshToken) {
        let token = crate::service::new_api_key();
        let row = StoredRefreshToken {
            id: crate::new_id(),
            token_hash: sha256_hex(&token),
            family_id: family,
            tenant_id: tenant,
            user_id: user,
            application_id: app,
            start_instant: start,
            insert_instant: now,
            expires_instant: now.saturating_add(settings.refresh_ttl_millis),
            used_instant: None,
        };
        (token, row)
    }

    /// A one-time refresh token presented again: someone has a stolen copy, so its whole family
    /// is revoked. Returns the error the grant answers.
    async fn revoke_reused(&self, stored: &StoredRefreshToken) -> Result<Error> {
        let n = self
            .store()
            .delete_refresh_tokens(None, RefreshTokens::Family(stored.family_id))
            .await?;
        tracing::warn!(user = %stored.user_id, revoked = n, "refresh token reused: its family is revoked");
        Ok(Error::NotFound)
    }

    /// `POST /api/jwt/refresh`: a new access token for a refresh token. With one-time use (the
    /// default) the refresh token is exchanged for a new one; presenting a used token again
    /// revokes its whole family (someone has a stolen copy). Unknown, expired, revoked and
    /// reused tokens all answer `NotFound`.
    ///
    /// Tokens are looked up by their SHA-256 through a unique index, so no comparison of secret
    /// bytes happens in our code and no constant-time compare is needed.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Refreshed> {
        if refresh_token.is_empty() {
            return Err(Error::field(
                "refreshToken",
                "[blank]refreshToken",
                "You must specify the [refreshToken].",
            ));
        }
        let hash = sha256_hex(refresh_token);
        let now = now_millis();
        // Read only: the one write, marking it used together with its successor, comes once
        // the grant is known to succeed (`rotate_refresh_token`, one commit).
        let stored = self
            .store()
            .refresh_token(&hash)
            .await?
            .ok_or(Error::NotFound)?;
        if stored.expires_instant <= now {
            self.store()
                .delete_refresh_tokens(None, RefreshTokens::Hash(&hash))
                .await?;
            return Err(Error::NotFound);
        }
        let tenant = self
            .store()
            .tenant(stored.tenant_id)
            .await?
            .ok_or(Error::NotFound)?;
        let scope = Scope::tenant(stored.tenant_id);
        let app = self
            .store()
            .application(scope, stored.application_id)
            .await?
            .filter(|a| a.active)
            .ok_or(Error::NotFound)?;
        let settings = LoginSettings::of(&tenant, Some(&app));
        // A reusable token is never marked, so never "reused".
        if settings.one_time_refresh && stored.used_instant.is_some() {
            return Err(self.revoke_reused(&stored).await?);
        }
        let user = self
            .store()
            .user(scope, stored.user_id)
            .await?
            .filter(|u| u.user.active && u.user.expiry.is_none_or(|e| e > now))
            .ok_or(Error::NotFound)?
            .user;
        let registration = user
            .registrations
            .iter()
            .find(|r| r.application_id == app.id)
            .ok_or(Error::NotFound)?;
        let (token, _) = self
            .access_token(
                &tenant,
                &settings,
                &user,
                Some(&app),
                Some(registration),
                stored.start_instant,
                stored.family_id,
            )
            .await?;
        let (refresh_token, refresh_token_id) = if settings.one_time_refresh {
            let (next, row) = Self::refresh_token_row(
                stored.tenant_id,
                stored.user_id,
                stored.application_id,
                stored.family_id,
                stored.start_instant,
                now,
                &settings,
            );
            if !self.store().rotate_refresh_token(&hash, now, &row).await? {
                // A grant racing with this one used it first: two holders of one token.
                return Err(self.revoke_reused(&stored).await?);
            }
            (next, row.id)
        } else {
            (refresh_token.to_string(), stored.id)
        };
        Ok(Refreshed {
            token,
            refresh_token,
            refresh_token_id,
        })
    }

    /// `POST /api/user/refresh-token/import`: refresh tokens of the old system, so that its
    /// sessions survive the move. Each token's user must exist in the caller's scope and its
    /// application in the user's tenant; the lifetime (the tenant's, or the application's
    /// override) counts from `insertInstant`. Only the SHA-256 is stored. All or nothing.
    pub async fn import_refresh_tokens(
        &self,
        scope: Scope,
        tokens: Vec<ImportedRefreshToken>,
    ) -> Result<usize> {
        let mut errors = Errors::default();
        let now = now_millis();
        let mut tenants: HashMap<Uuid, Tenant> = HashMap::new();
        let mut apps: HashMap<Uuid, Option<Application>> = HashMap::new();
        let mut users: HashMap<Uuid, Option<Uuid>> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(tokens.len());
        for (i, t) in tokens.into_iter().enumerate() {
            let field = |f: &str| format!("refreshTokens[{i}].{f}");
            let token = t.token.as_deref().unwrap_or("");
            if token.is_empty() {
                let f = field("token");
                errors.add_field(&f, &format!("[blank]{f}"), "You must specify the [token].");
            }
            let hash = sha256_hex(token);
            if !token.is_empty()
                && (!seen.insert(hash.clone())
                    || self.store().refresh_token(&hash).await?.is_some())
            {
                let f = field("token");
                errors.add_field(
                    &f,
                    &format!("[duplicate]{f}"),
                    "This refresh token already exists.",
                );
            }
            let tenant = match t.user_id {
                None => None,
                Some(u) => match users.get(&u) {
                    Some(known) => *known,
                    None => {
                        let found = self
                            .store()
                            .user(scope, u)
                            .await?
                            .and_then(|s| s.user.tenant_id);
                        users.insert(u, found);
                        found
                    }
                },
            };
            let Some(tenant_id) = tenant else {
                let f = field("userId");
                errors.add_field(
                    &f,
                    &format!("[invalid]{f}"),
                    "The user does not exist in this tenant.",
                );
                continue;
            };
            let app = match t.application_id {
                None => None,
                Some(a) => {
                    let found = match apps.get(&a) {
                        Some(known) => known.clone(),
                        None => {
                            let found = self
                                .store()
                                .application(Scope::tenant(tenant_id), a)
                                .await?;
                            apps.insert(a, found.clone());
                            found
                        }
                    };
                    found.filter(|app| app.tenant_id == Some(tenant_id))
                }
            };
            let Some(app) = app else {
                let f = field("applicationId");
                errors.add_field(
                    &f,
                    &format!("[invalid]{f}"),
                    "The application does not exist in the user's tenant.",
                );
                continue;
            };
            let settings = match tenants.get(&tenant_id) {
                Some(tenant) => LoginSettings::of(tenant, Some(&app)),
                None => {
                    let tenant = self
                        .store()
                        .tenant(tenant_id)
                        .await?
                        .ok_or(Error::NotFound)?;
                    let settings = LoginSettings::of(&tenant, Some(&app));
                    tenants.insert(tenant_id, tenant);
                    settings
                }
            };
            let issued = t.insert_instant.unwrap_or(now);
            out.push(StoredRefreshToken {
                id: crate::new_id(),
                token_hash: hash,
                family_id: crate::new_id(),
                tenant_id,
                user_id: t.user_id.expect("checked"),
                application_id: app.id.expect("stored"),
                start_instant: t.start_instant.unwrap_or(issued),
                insert_instant: issued,
                expires_instant: issued.saturating_add(settings.refresh_ttl_millis),
                used_instant: None,
            });
        }
        if out.is_empty() && errors.is_empty() {
            errors.add_field(
                "refreshTokens",
                "[blank]refreshTokens",
                "You must specify at least one refresh token.",
            );
        }
        errors.into_result()?;
        self.store().insert_refresh_tokens(&out).await?;
        tracing::info!(count = out.len(), "refresh tokens imported");
        Ok(out.len())
    }

    /// `DELETE /api/jwt/refresh`: revokes by token, user, application or user and application,
    /// within the caller's tenant.
    pub async fn revoke(
        &self,
        scope: Scope,
        token: Option<&str>,
        user: Option<Uuid>,
        app: Option<Uuid>,
    ) -> Result<u64> {
        let hash = token.map(sha256_hex);
        let which = match (&hash, user, app) {
            (Some(h), None, None) => RefreshTokens::Hash(h),
            (None, Some(u), None) => RefreshTokens::User(u),
            (None, None, Some(a)) => RefreshTokens::Application(a),
            (None, Some(u), Some(a)) => RefreshTokens::UserApplication(u, a),
            _ => {
                return Err(Error::general(
                    "[invalid]query",
                    "Give ?token=, ?userId=, ?applicationId= or ?userId= with ?applicationId=.",
                ))
            }
        };
        Ok(self
            .store()
            .delete_refresh_tokens(scope.tenant, which)
            .await?)
    }
}
