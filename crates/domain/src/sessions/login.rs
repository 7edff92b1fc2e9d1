//! Password login: FusionAuth's outcomes, brute-force locks counted in the store before any
//! verify, the dummy verify that makes an unknown user cost as much as a wrong password, rehash
//! on login, first logins through the legacy systems, and the hand-over to the second factor.

use super::locks::Counted;
use super::passwords::CHANGE_PASSWORD_ID_MILLIS;
use super::sign_in::SignIn;
use super::{HashTarget, LoginOutcome, LoginRequest, Result, Sessions};
use crate::model::*;
use crate::settings::LoginSettings;
use crate::{secrets, validate, Error, Errors};
use portcullis_hash::Credential;
use uuid::Uuid;

/// The result of a password check that did not fail.
pub(super) enum Checked {
    /// The password is right; with the rehashed credential when the tenant upgrades on login,
    /// whether the user was just written with this login's instants and event (a migration),
    /// so the login need not write them again, and the attempts it takes back.
    Right(Box<StoredUser>, Option<Credential>, bool, Counted),
    Locked(Millis),
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

impl Sessions {
    /// `POST /api/login`: the request checked, the password checked (with the locks and the
    /// legacy systems), the account's own state, then the tokens and the login's writes.
    pub async fn login(&self, scope: Scope, req: LoginRequest) -> Result<LoginOutcome> {
        self.login_with(scope, req, true).await
    }

    /// A login that checks the password, the locks and the account exactly as
    /// [`login`](Self::login) does and records it, but issues no token: the hosted login page
    /// signs the person in to an SSO session, and the token endpoint issues the tokens later.
    /// The outcome's `Tokens` carry the user only.
    pub async fn authenticate(&self, scope: Scope, mut req: LoginRequest) -> Result<LoginOutcome> {
        req.no_jwt = true;
        self.login_with(scope, req, false).await
    }

    async fn login_with(
        &self,
        scope: Scope,
        req: LoginRequest,
        refresh_token: bool,
    ) -> Result<LoginOutcome> {
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
        let password = validate::required_password(req.password.as_ref(), "password", &mut errors);
        errors.into_result()?;
        let tenant = self.identity.acting_tenant(scope).await?;
        let tenant_id = tenant.id.expect("stored");
        let app = self
            .login_application(tenant_id, req.application_id)
            .await?;
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
        if let Some(refused) = self
            .account_state(&mut stored, upgraded, &counted, now)
            .await?
        {
            return Ok(refused);
        }
        if let Some(pending) = self
            .two_factor_step(
                &tenant,
                &stored.user,
                req.two_factor_trust_id.as_deref(),
                req.application_id,
                ip.as_deref(),
                refresh_token,
                now,
            )
            .await?
        {
            // The password was right: its count starts over; the code step counts its own.
            self.take_back(&counted).await?;
            return Ok(LoginOutcome::TwoFactorRequired(pending));
        }
        self.sign_in(SignIn {
            tenant: &tenant,
            settings: &settings,
            app: app.as_ref(),
            stored,
            fresh,
            counted,
            no_jwt: req.no_jwt,
            refresh_token,
            ip: ip.as_deref(),
            now,
        })
        .await
    }

    /// The active application a login names, if any; another tenant's, an inactive or an
    /// unknown one is a 400 on `applicationId`.
    pub(super) async fn login_application(
        &self,
        tenant: Uuid,
        application: Option<Uuid>,
    ) -> Result<Option<Application>> {
        let Some(a) = application else {
            return Ok(None);
        };
        match self.store().application(Scope::tenant(tenant), a).await? {
            Some(app) if app.active => Ok(Some(app)),
            _ => Err(Error::field(
                "applicationId",
                "[invalid]applicationId",
                format!("The application [{a}] does not exist in this tenant or is inactive."),
            )),
        }
    }

    /// The password is right: the account's own state decides now, never before (no
    /// enumeration of inactive or expired accounts). An outcome when the login ends here
    /// (inactive, expired, a password change required); a credential rehashed on login is
    /// stored on the way.
    pub(super) async fn account_state(
        &self,
        stored: &mut StoredUser,
        upgraded: Option<Credential>,
        counted: &Counted,
        now: Millis,
    ) -> Result<Option<LoginOutcome>> {
        let user_id = stored.user.id.expect("stored");
        if !stored.user.active {
            tracing::info!(user = %user_id, "login refused: user inactive");
            self.take_back(counted).await?;
            return Ok(Some(LoginOutcome::Inactive));
        }
        if stored.user.expiry.is_some_and(|e| e <= now) {
            tracing::info!(user = %user_id, "login refused: user expired");
            self.take_back(counted).await?;
            return Ok(Some(LoginOutcome::Expired));
        }
        if let Some(c) = upgraded {
            tracing::info!(user = %user_id, from = %stored.credential.as_ref().map_or("", |c| c.scheme.as_str()), to = %c.scheme, "password rehashed on login");
            self.store().update_credential(user_id, &c).await?;
            stored.credential = Some(c);
        }
        if stored.user.password_change_required {
            let id = crate::secrets::new_secret();
            let tenant = stored.user.tenant_id.expect("stored");
            self.store()
                .insert_change_password_id(
                    &secrets::stored_hash(&id),
                    tenant,
                    user_id,
                    now + CHANGE_PASSWORD_ID_MILLIS,
                )
                .await?;
            self.take_back(counted).await?;
            return Ok(Some(LoginOutcome::PasswordChangeRequired {
                change_password_id: id,
            }));
        }
        Ok(None)
    }

    /// Finds the user by login id, refuses while a brute-force lock holds (before any hash is
    /// computed), counts the attempt, verifies the password on the pool (against a
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
    /// check; a connector's "no" ends like a wrong password, and so does a "yes"
    /// that names a user Portcullis holds (unless the typed password verifies against that
    /// user's own credential).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn check_password(
        &self,
        tenant_id: Uuid,
        settings: &LoginSettings,
        login_id: &str,
        password: Password,
        ip: Option<&str>,
        now: Millis,
        connectors: Option<(&Tenant, Option<Uuid>)>,
    ) -> Result<Checked> {
        let key = crate::normalize_login_id(login_id);
        let ip_subject = ip
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|ip| format!("ip:{ip}"));
        let counting = settings.failed.too_many_attempts > 0;
        let (found, locks, mut counts) = self
            .store()
            .user_for_login_counted(
                tenant_id,
                &key,
                ip_subject.as_deref(),
                now,
                counting.then(|| Self::window_end(settings, now)),
            )
            .await?;
        if let Some(until) = locks.locked_until {
            return Ok(Checked::Locked(until));
        }
        if let Some(until) = Self::over_limit(&counts, settings) {
            return Ok(Checked::Locked(until));
        }
        let mut counted = if counting {
            Counted {
                tenant: tenant_id,
                reset: vec![crate::login_subject(found.as_ref(), &key)],
                give_back: ip_subject.into_iter().collect(),
            }
        } else {
            Counted::default()
        };
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
            let login = crate::migration::connectors::LegacyLogin {
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
                Some(_) => crate::migration::first_login::Legacy::No,
            };
            match legacy {
                crate::migration::first_login::Legacy::No => {}
                crate::migration::first_login::Legacy::Vouched(v) => {
                    return Ok(Verdict::Right(Box::new(v.stored), None, v.fresh))
                }
                crate::migration::first_login::Legacy::Collides {
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
                        let registry = self.identity.pool().registry().clone();
                        let kind = format!("verify {}:{}", c.scheme, c.factor);
                        let pool = self.identity.pool().for_verify(
                            &c,
                            settings.passwords.scheme(),
                            settings.passwords.encryption_scheme_factor,
                        );
                        let ok = pool
                            .run_as(&kind, move || registry.verify(&c, pw.0.as_bytes()))
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
        let registry = self.identity.pool().registry().clone();
        let (credential, at_target) = match found.as_ref().and_then(|u| u.credential.clone()) {
            Some(c) => {
                let at = !registry.needs_rehash(&c, &dummy.scheme, dummy.factor);
                (c, at)
            }
            None => (dummy.clone(), true),
        };
        let rehash = settings.passwords.modify_encryption_scheme_on_login
            && registry.needs_rehash(&credential, &target.0, target.1.unwrap_or(0));
        let kind = format!("verify {}:{}", credential.scheme, credential.factor);
        // Kept for the dummy verify below, only when it may be needed.
        let again = (!at_target).then(|| password.clone());
        let pool = self
            .identity
            .pool()
            .for_verify(&credential, &target.0, target.1);
        let for_job = registry.clone();
        let job = move || {
            let pw = password.0.as_bytes();
            if !for_job.verify(&credential, pw) {
                return (false, None);
            }
            let (scheme, factor) = target;
            let upgraded = rehash
                .then(|| for_job.hash_password(&scheme, factor, pw).ok())
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
                        .run_as(&kind, move || registry.verify(&dummy, pw.0.as_bytes()))
                        .await?;
                }
                Err(Failed::Wrong {
                    user: other.map(|u| Box::new(u.user)),
                    reason: None,
                })
            }
        }
    }

    /// A credential of a random password with the tenant's scheme, made once per scheme.
    async fn dummy(&self, target: &HashTarget) -> Result<Credential> {
        if let Some(c) = self.dummies.lock().expect("not poisoned").get(target) {
            return Ok(c.clone());
        }
        let (scheme, factor) = target.clone();
        let registry = self.identity.pool().registry().clone();
        let c = self
            .identity
            .pool()
            .run(move || {
                let pw = crate::secrets::new_secret();
                registry
                    .hash_password(&scheme, factor, pw.as_bytes())
                    .or_else(|_| {
                        registry.hash_password(portcullis_hash::DEFAULT_SCHEME, None, pw.as_bytes())
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
}
