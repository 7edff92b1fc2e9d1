//! The first login of a user Portcullis lacks, asked of the legacy systems.
//!
//! The order: brute-force lock (checked by the caller, before anything here), then each policy
//! whose domains match, in order. A connector's "no" moves to the next policy; its failure ends
//! the login with a 503 and writes nothing. A "yes" with `migrate: true` writes the user, their
//! credential (the typed password hashed with the tenant's scheme) and the `migrated` count in one
//! transaction; with `migrate: false` the profile is stored without a credential and the
//! connector is asked again next time.

use super::adopt::Collision;
use super::connectors::*;
use super::{policies, LOGIN, MIGRATED, NOT_FOUND};
use crate::identity::Result;
use crate::model::*;
use crate::settings::LoginSettings;
use crate::{Error, Errors, Identity, StoreError};
use portcullis_hash::Credential;
use uuid::Uuid;

/// A user a connector vouched for, ready for the rest of the login.
pub(crate) struct Vouched {
    pub stored: StoredUser,
    /// Written by this login with its `lastLoginInstant`s already set.
    pub fresh: bool,
}

/// What the legacy systems made of a login Portcullis could not decide itself.
pub(crate) enum Legacy {
    /// No connector knows the login id, or the password is wrong there.
    No,
    /// A connector vouched and the user is written (or their profile refreshed).
    Vouched(Vouched),
    /// A connector vouched, but its answer names a user Portcullis already holds (same id,
    /// email or username): no legacy answer authenticates such a user, and nothing is written.
    /// `existing` is that user when the answer names exactly one. With `verify`, the login may
    /// still succeed as `existing` when the typed password verifies against its stored
    /// credential: that is Portcullis authenticating with its own credential (two first logins
    /// of one legacy user at once end here, the second finding the first's row).
    Collides {
        existing: Option<StoredUser>,
        verify: bool,
        reason: String,
    },
}

impl Identity {
    pub(crate) async fn count(&self, tenant: Uuid, connector: Uuid, outcome: &str) {
        // A counter that fails to write must not fail the login it counts.
        if let Err(e) = self
            .store()
            .count_connector(tenant, connector, day_of(now_millis()), outcome)
            .await
        {
            tracing::warn!(error = %e, "could not count a connector outcome");
        }
    }

    /// Records an event outside a transaction (the change it describes is already written).
    /// Failing to record must not fail the request.
    pub(crate) async fn record(&self, event: crate::Event) {
        if let Err(e) = self
            .store()
            .append_events(std::slice::from_ref(&event))
            .await
        {
            tracing::warn!(error = %e, kind = %event.kind, "could not record an event");
        }
    }

    /// Asks the tenant's connectors about a login id Portcullis does not know, in policy order.
    /// `Legacy::No`: no connector knows the user or the password is wrong (the caller answers
    /// 404 as for any unknown user). A connector failure is an error and writes nothing. An
    /// answer that names a user Portcullis holds is `Legacy::Collides` and writes nothing.
    pub(crate) async fn login_through_connectors(
        &self,
        tenant: &Tenant,
        settings: &LoginSettings,
        login: &LegacyLogin<'_>,
    ) -> Result<Legacy> {
        let tenant_id = tenant.id.expect("stored");
        for policy in policies(tenant)
            .iter()
            .filter(|p| p.applies_to(login.login_id))
        {
            let Some(connector) = self.store().connector(policy.connector_id).await? else {
                tracing::warn!(connector = %policy.connector_id, "connector policy names a connector that does not exist");
                continue;
            };
            let cid = policy.connector_id;
            let answer = match self.legacy().authenticate(&connector, login).await {
                Ok(a) => a,
                Err(failure) => {
                    self.count(tenant_id, cid, failure.kind.as_str()).await;
                    return Err(Error::Legacy {
                        connector: connector.name.clone(),
                        failure,
                    });
                }
            };
            let Some(lu) = answer else {
                self.count(tenant_id, cid, NOT_FOUND).await;
                continue;
            };
            let mut user = self.adopt(tenant_id, &connector, lu).await?;
            // A migration's insert is refused by the unique indexes when the answer names a
            // user Portcullis holds; a profile's write replaces the row of its id, so it looks
            // first.
            if !policy.migrate {
                match self.collision(tenant_id, &connector, &user, None).await? {
                    Collision::None => {}
                    other => {
                        return self
                            .collided(tenant_id, settings, &connector, false, other, user, login)
                            .await
                    }
                }
                self.count(tenant_id, cid, LOGIN).await;
            }
            // Written once, with this login's instants, instead of written and then updated.
            let now = now_millis();
            user.last_login_instant = Some(now);
            for r in &mut user.registrations {
                if r.application_id.is_some() && r.application_id == login.application_id {
                    r.last_login_instant = Some(now);
                }
            }
            let credential = if policy.migrate {
                Some(self.hash_login_password(settings, login.password).await?)
            } else {
                None
            };
            let stored = StoredUser {
                user: user.clone(),
                credential,
            };
            return match self
                .store_vouched(stored, &connector, policy.migrate, Some(login))
                .await?
            {
                Ok(v) => Ok(Legacy::Vouched(v)),
                // Written meanwhile (two first logins at once) or held: the same rules.
                Err(field) => {
                    let c = match self.collision(tenant_id, &connector, &user, None).await? {
                        Collision::None => Collision::Held(
                            None,
                            format!("the legacy user collides with another user ({field})"),
                        ),
                        c => c,
                    };
                    self.collided(
                        tenant_id,
                        settings,
                        &connector,
                        policy.migrate,
                        c,
                        user,
                        login,
                    )
                    .await
                }
            };
        }
        Ok(Legacy::No)
    }

    /// A first login whose legacy answer names users of the tenant: a profile the connector
    /// keeps is refreshed (and migrated with `migrate`); a held user is `Legacy::Collides`.
    #[allow(clippy::too_many_arguments)]
    async fn collided(
        &self,
        tenant_id: Uuid,
        settings: &LoginSettings,
        connector: &Connector,
        migrate: bool,
        collision: Collision,
        user: User,
        login: &LegacyLogin<'_>,
    ) -> Result<Legacy> {
        match collision {
            Collision::Profile(existing) => {
                if let Some(cid) = connector.id {
                    self.count(tenant_id, cid, LOGIN).await;
                }
                self.refresh_profile(
                    tenant_id, settings, &existing, connector, migrate, user, login,
                )
                .await
            }
            Collision::Held(existing, reason) => Ok(Legacy::Collides {
                existing,
                verify: true,
                reason,
            }),
            Collision::None => Ok(Legacy::No),
        }
    }

    async fn hash_login_password(
        &self,
        settings: &LoginSettings,
        password: &Password,
    ) -> Result<Credential> {
        let scheme = settings.passwords.scheme().to_string();
        let factor = settings.passwords.encryption_scheme_factor;
        self.pool()
            .hash_password(scheme, factor, password.0.clone())
            .await?
            .map_err(|e| Error::Store(format!("the tenant's password scheme cannot hash: {e}")))
    }

    /// Writes a user a connector vouched for: `Ok(Err(field))` when a unique index refused it
    /// (nothing is written), for the caller to decide with [`collision`](Self::collision).
    ///
    /// `login`: the login this migration serves, whose success event is written with the user.
    async fn store_vouched(
        &self,
        mut stored: StoredUser,
        connector: &Connector,
        migrate: bool,
        login: Option<&LegacyLogin<'_>>,
    ) -> Result<std::result::Result<Vouched, String>> {
        let tenant = stored.user.tenant_id.expect("set");
        let id = stored.user.id.expect("set");
        let written = if migrate {
            stored.user.password_last_update_instant = stored.user.insert_instant;
            let mut events = vec![crate::Event::user_migrated(&stored.user, connector.id)];
            if let Some(l) = login {
                events.push(crate::Event::login_success(
                    &stored.user,
                    l.application_id,
                    l.ip_address,
                ));
            }
            self.store()
                .insert_migrated_user(&stored, day_of(now_millis()), &events)
                .await
        } else {
            // Asked again on every login: the profile is refreshed, the credential stays empty.
            match self.store().user(Scope::tenant(tenant), id).await? {
                Some(mut old) => {
                    let keep_regs = std::mem::take(&mut old.user.registrations);
                    stored.user.insert_instant = old.user.insert_instant;
                    stored.user.last_login_instant = old.user.last_login_instant;
                    if stored.user.registrations.is_empty() {
                        stored.user.registrations = keep_regs;
                    }
                    stored.user.memberships = old.user.memberships;
                    self.store().update_user(&stored).await
                }
                None => self.store().insert_user(&stored).await,
            }
        };
        match written {
            Ok(()) => {
                if migrate {
                    tracing::info!(user = %id, connector = ?connector.id, "user migrated from legacy system");
                }
                Ok(Ok(Vouched {
                    stored,
                    fresh: migrate,
                }))
            }
            Err(StoreError::Duplicate(field)) => Ok(Err(field.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// A user stored with `migrate: false` logs in: their connector is asked again and their
    /// profile refreshed. When the tenant's policy for the connector now says `migrate: true`, the
    /// password is kept and the user becomes ours. An answer that names another user Portcullis
    /// holds is refused (`Legacy::Collides`, never verified: the login id is this profile's).
    pub(crate) async fn relogin_through_connector(
        &self,
        tenant: &Tenant,
        settings: &LoginSettings,
        existing: &StoredUser,
        login: &LegacyLogin<'_>,
    ) -> Result<Legacy> {
        let tenant_id = tenant.id.expect("stored");
        let Some(cid) = existing.user.connector_id else {
            return Ok(Legacy::No);
        };
        let Some(connector) = self.store().connector(cid).await? else {
            return Ok(Legacy::No);
        };
        let migrate = policies(tenant)
            .iter()
            .find(|p| p.connector_id == cid)
            .is_some_and(|p| p.migrate);
        let lu = match self.legacy().authenticate(&connector, login).await {
            Ok(Some(lu)) => lu,
            Ok(None) => {
                self.count(tenant_id, cid, NOT_FOUND).await;
                return Ok(Legacy::No);
            }
            Err(failure) => {
                self.count(tenant_id, cid, failure.kind.as_str()).await;
                return Err(Error::Legacy {
                    connector: connector.name.clone(),
                    failure,
                });
            }
        };
        let mut user = self.adopt(tenant_id, &connector, lu).await?;
        // The id is ours now, whatever the legacy system says.
        user.id = existing.user.id;
        match self
            .collision(tenant_id, &connector, &user, existing.user.id)
            .await?
        {
            Collision::None => {}
            Collision::Profile(other) => {
                return Ok(Legacy::Collides {
                    existing: Some(other),
                    verify: false,
                    reason: "the legacy answer names another profile of this connector".into(),
                })
            }
            Collision::Held(other, reason) => {
                return Ok(Legacy::Collides {
                    existing: other,
                    verify: false,
                    reason,
                })
            }
        }
        self.count(tenant_id, cid, LOGIN).await;
        self.refresh_profile(
            tenant_id, settings, existing, &connector, migrate, user, login,
        )
        .await
    }

    /// Refreshes `existing`, a profile `connector` keeps without a credential, from the
    /// connector's answer `user`; with `migrate`, the typed password is kept and the user
    /// becomes ours.
    #[allow(clippy::too_many_arguments)]
    async fn refresh_profile(
        &self,
        tenant_id: Uuid,
        settings: &LoginSettings,
        existing: &StoredUser,
        connector: &Connector,
        migrate: bool,
        mut user: User,
        login: &LegacyLogin<'_>,
    ) -> Result<Legacy> {
        user.id = existing.user.id;
        if migrate {
            let credential = Some(self.hash_login_password(settings, login.password).await?);
            let mut stored = StoredUser { user, credential };
            stored.user.insert_instant = existing.user.insert_instant;
            stored.user.registrations = existing.user.registrations.clone();
            stored.user.memberships = existing.user.memberships.clone();
            self.store().update_user(&stored).await?;
            if let Some(cid) = connector.id {
                self.count(tenant_id, cid, MIGRATED).await;
            }
            self.record(crate::Event::user_migrated(&stored.user, connector.id))
                .await;
            return Ok(Legacy::Vouched(Vouched {
                stored,
                fresh: false,
            }));
        }
        match self
            .store_vouched(
                StoredUser {
                    user,
                    credential: None,
                },
                connector,
                false,
                None,
            )
            .await?
        {
            Ok(v) => Ok(Legacy::Vouched(v)),
            Err(field) => Ok(Legacy::Collides {
                existing: None,
                verify: false,
                reason: format!("the refreshed profile collides with another user ({field})"),
            }),
        }
    }

    /// Asks the tenant's connectors that can look users up without a password (REST, LDAP)
    /// for `login_id`, in policy order, and stores the first profile found without a
    /// credential (forgot password). Failures are errors; nothing is written then.
    pub(crate) async fn lookup_through_connectors(
        &self,
        tenant: &Tenant,
        login_id: &str,
    ) -> Result<Option<StoredUser>> {
        let tenant_id = tenant.id.expect("stored");
        for policy in policies(tenant).iter().filter(|p| p.applies_to(login_id)) {
            let Some(connector) = self.store().connector(policy.connector_id).await? else {
                continue;
            };
            if !self.legacy().can_lookup(&connector) {
                continue;
            }
            match self.legacy().lookup(&connector, login_id).await {
                Ok(Some(lu)) => {
                    let mut user = self.adopt(tenant_id, &connector, lu).await?;
                    match self.collision(tenant_id, &connector, &user, None).await? {
                        Collision::None => {}
                        Collision::Profile(existing) => user.id = existing.user.id,
                        // A user Portcullis holds is never overwritten by a legacy profile;
                        // the reset goes to the address Portcullis holds for them.
                        Collision::Held(existing, reason) => {
                            tracing::info!(user = ?existing.as_ref().and_then(|u| u.user.id), connector = %policy.connector_id, %reason, "forgot password: legacy profile not copied");
                            return Ok(existing);
                        }
                    }
                    let Ok(v) = self
                        .store_vouched(
                            StoredUser {
                                user,
                                credential: None,
                            },
                            &connector,
                            false,
                            None,
                        )
                        .await?
                    else {
                        // Written meanwhile by someone else: nothing is overwritten.
                        return Ok(None);
                    };
                    tracing::info!(user = ?v.stored.user.id, connector = %policy.connector_id, "profile copied from the legacy system for a password reset");
                    return Ok(Some(v.stored));
                }
                Ok(None) => continue,
                Err(failure) => {
                    self.count(tenant_id, policy.connector_id, failure.kind.as_str())
                        .await;
                    return Err(Error::Legacy {
                        connector: connector.name.clone(),
                        failure,
                    });
                }
            }
        }
        Ok(None)
    }

    /// Refuses to create a user whose email the legacy system still holds: that person should
    /// log in (and be migrated), not register a second account.
    pub(crate) async fn check_not_in_legacy(
        &self,
        tenant_id: Uuid,
        user: &User,
        errors: &mut Errors,
    ) -> Result<()> {
        let Some(email) = user
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        else {
            return Ok(());
        };
        let Some(tenant) = self.store().tenant(tenant_id).await? else {
            return Ok(());
        };
        for policy in policies(&tenant).iter().filter(|p| p.applies_to(email)) {
            let Some(connector) = self.store().connector(policy.connector_id).await? else {
                continue;
            };
            if !self.legacy().can_lookup(&connector) {
                continue;
            }
            match self.legacy().lookup(&connector, email).await {
                Ok(Some(_)) => {
                    errors.add_field(
                        "user.email",
                        "[duplicate]user.email",
                        "An account with this email already exists and has not moved to the new system yet: log in with your existing password instead (or use forgot password).",
                    );
                    return Ok(());
                }
                Ok(None) => {}
                Err(failure) => {
                    return Err(Error::Legacy {
                        connector: connector.name.clone(),
                        failure,
                    })
                }
            }
        }
        Ok(())
    }
}
