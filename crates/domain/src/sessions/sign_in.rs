//! A login that succeeds: its access token and refresh token from the token service, and its
//! writes in one round trip (`lastLoginInstant` of the user and the registration, the event,
//! the refresh token, the attempts taken back).

use super::locks::Counted;
use super::tokens::{AccessTokenFor, RefreshTokenFor};
use super::{LoginOutcome, Result, Sessions, Tokens};
use crate::model::*;
use crate::settings::LoginSettings;

/// What a successful login signs the user in with.
pub(super) struct SignIn<'a> {
    pub tenant: &'a Tenant,
    pub settings: &'a LoginSettings,
    pub app: Option<&'a Application>,
    pub stored: StoredUser,
    /// Whether the user was just written by this login (a first login through a connector).
    pub fresh: bool,
    pub counted: Counted,
    pub no_jwt: bool,
    /// Whether a refresh token is issued when the application issues them.
    pub refresh_token: bool,
    pub ip: Option<&'a str>,
    pub now: Millis,
}

impl Sessions {
    /// A login that succeeds: its tokens, and its writes in one round trip (`lastLoginInstant`
    /// of the user and the registration, the event, the refresh token, the attempts taken back).
    pub(super) async fn sign_in(&self, s: SignIn<'_>) -> Result<LoginOutcome> {
        let SignIn {
            tenant,
            settings,
            app,
            mut stored,
            fresh,
            counted,
            no_jwt,
            refresh_token,
            ip,
            now,
        } = s;
        let tenant_id = tenant.id.expect("stored");
        let user_id = stored.user.id.expect("stored");
        let app_id = app.and_then(|a| a.id);
        stored.user.last_login_instant = Some(now);
        let registration = app.and_then(|a| {
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
            two_factor_trust_id: None,
        };
        if !no_jwt {
            let (jwt, exp) = self
                .tokens
                .access_token(&AccessTokenFor {
                    tenant,
                    settings,
                    user: &stored.user,
                    application: app,
                    registration: registration.as_ref(),
                    auth_time: now,
                    session: sid,
                    authentication_type: "PASSWORD",
                })
                .await?;
            tokens.token = Some(jwt);
            tokens.token_expiration_instant = Some(exp);
        }
        let refresh = match (
            app_id,
            registered,
            settings.generate_refresh_tokens && refresh_token,
        ) {
            (Some(application), true, true) => {
                let (t, row) = self.tokens.refresh_token(
                    RefreshTokenFor {
                        tenant: tenant_id,
                        user: user_id,
                        application,
                        family: sid,
                        start: now,
                    },
                    settings,
                );
                tokens.refresh_token = Some(t);
                tokens.refresh_token_id = Some(row.id);
                Some(row)
            }
            _ => None,
        };
        // A migration wrote the user with this login's instants and its event already.
        let event = (!fresh).then(|| crate::Event::login_success(&stored.user, app_id, ip));
        if !fresh || refresh.is_some() {
            self.store()
                .record_login(&crate::LoginWrites {
                    user: user_id,
                    application: registration.as_ref().and(app_id),
                    now,
                    event: event.as_ref(),
                    refresh_token: refresh.as_ref(),
                    attempts: counted.back(),
                })
                .await?;
        } else {
            self.take_back(&counted).await?;
        }
        tracing::info!(user = %user_id, application = ?app_id, "login succeeded");
        Ok(if !registered {
            LoginOutcome::NotRegistered(tokens)
        } else if settings.verify_email && !stored.user.verified {
            LoginOutcome::EmailNotVerified(tokens)
        } else {
            LoginOutcome::Success(tokens)
        })
    }
}
