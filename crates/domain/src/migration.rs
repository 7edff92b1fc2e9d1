//! The slow migration's rules (MISSION §7): connector resources, tenant connector policies, the
//! first login that asks a legacy system and copies the user in, and the exact progress report.
//!
//! The order of a login for a user Portcullis lacks: brute-force lock (checked by the caller,
//! before anything here), then each policy whose domains match, in order. A connector's "no" moves
//! to the next policy; its failure ends the login with a 503 and writes nothing. A "yes" with
//! `migrate: true` writes the user, their credential (the typed password hashed with the
//! tenant's scheme) and the `migrated` count in one transaction; with `migrate: false` the
//! profile is stored without a credential and the connector is asked again next time.

use crate::connectors::*;
use crate::model::*;
use crate::service::Result;
use crate::settings::LoginSettings;
use crate::{Error, Errors, Identity, StoreError};
use portcullis_hash::Credential;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// `tenant.connectorPolicies`, in order. A malformed block reads as none (tenant saves refuse it).
pub fn policies(tenant: &Tenant) -> Vec<ConnectorPolicy> {
    tenant
        .settings
        .get("connectorPolicies")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// Outcome counter names besides the failure kinds.
pub const MIGRATED: &str = "migrated";
pub const LOGIN: &str = "login";
pub const NOT_FOUND: &str = "notFound";

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

/// The users of a tenant a legacy answer names.
enum Collision {
    /// None: the answer may be written.
    None,
    /// Only a profile this connector keeps without a credential (`migrate: false`, or a
    /// forgot-password look-up): the connector stays in charge and the profile is refreshed.
    Profile(StoredUser),
    /// A user Portcullis holds (or several users): the answer authenticates no one.
    Held(Option<StoredUser>, String),
}

impl Identity {
    // ------------------------------------------------------------ connector resources

    /// Connectors are global configuration: a caller acting in one tenant (a tenant-locked key,
    /// or a global key with a tenant header) neither sees nor changes them.
    fn connectors_allowed(scope: Scope) -> Result<()> {
        match scope.tenant {
            Some(_) => Err(Error::Unauthorized),
            None => Ok(()),
        }
    }

    async fn check_connector(&self, c: &Connector) -> Result<()> {
        let mut errors = Errors::default();
        crate::validate::named(&c.name, "connector.name", &mut errors);
        if let Some(Value::Object(h)) = c.settings.get(HEADERS) {
            for (name, value) in h {
                if value.as_str() == Some(MASK) {
                    errors.add_field(
                        "connector.headers",
                        "[invalid]connector.headers",
                        format!("The header [{name}] has the masked value {MASK} but no stored value to keep; send its value."),
                    );
                }
            }
        }
        // The application whose registration migrated users get must exist: a login would
        // otherwise fail on a reference nobody can see.
        match c.settings.get("applicationId") {
            None | Some(Value::Null) => {}
            Some(v) => {
                let id = v.as_str().and_then(|s| Uuid::parse_str(s.trim()).ok());
                let exists = match id {
                    Some(id) => self.store().application(Scope::ALL, id).await?.is_some(),
                    None => false,
                };
                if !exists {
                    errors.add_field(
                        "connector.applicationId",
                        "[invalid]connector.applicationId",
                        format!("[connector.applicationId] {v} names no application."),
                    );
                }
            }
        }
        errors.into_result()?;
        self.legacy().check(c)
    }

    pub async fn create_connector(
        &self,
        scope: Scope,
        id: Option<Uuid>,
        mut c: Connector,
    ) -> Result<Connector> {
        Self::connectors_allowed(scope)?;
        c.id = Some(id.or(c.id).unwrap_or_else(crate::new_id));
        self.check_connector(&c).await?;
        let now = now_millis();
        c.insert_instant = Some(now);
        c.last_update_instant = Some(now);
        self.store().insert_connector(&c).await?;
        Ok(c)
    }

    pub async fn connector(&self, scope: Scope, id: Uuid) -> Result<Connector> {
        Self::connectors_allowed(scope)?;
        self.store().connector(id).await?.ok_or(Error::NotFound)
    }

    pub async fn connectors(&self, scope: Scope) -> Result<Vec<Connector>> {
        Self::connectors_allowed(scope)?;
        Ok(self.store().connectors().await?)
    }

    pub async fn replace_connector(
        &self,
        scope: Scope,
        id: Uuid,
        mut new: Connector,
    ) -> Result<Connector> {
        let old = self.connector(scope, id).await?;
        // Answers never carry secrets, so a replace built from one keeps the stored ones.
        new.keep_secrets(&old);
        new.id = old.id;
        new.insert_instant = old.insert_instant;
        new.last_update_instant = Some(now_millis());
        self.check_connector(&new).await?;
        self.store().update_connector(&new).await?;
        Ok(new)
    }

    pub async fn patch_connector(&self, scope: Scope, id: Uuid, p: &Value) -> Result<Connector> {
        let old = self.connector(scope, id).await?;
        let mut v = serde_json::to_value(&old).map_err(|e| Error::Store(e.to_string()))?;
        crate::patch::merge(&mut v, p);
        let new: Connector = serde_json::from_value(v).map_err(|e| {
            Error::field(
                "connector",
                "[invalid]connector",
                format!("The patch does not fit the [connector] object: {e}"),
            )
        })?;
        self.replace_connector(scope, id, new).await
    }

    /// Refused while a tenant's policy names the connector: the tenant would silently stop
    /// migrating.
    pub async fn delete_connector(&self, scope: Scope, id: Uuid) -> Result<()> {
        Self::connectors_allowed(scope)?;
        let users: Vec<String> = self
            .store()
            .tenants()
            .await?
            .iter()
            .filter(|t| policies(t).iter().any(|p| p.connector_id == id))
            .map(|t| t.name.clone())
            .collect();
        if !users.is_empty() {
            return Err(Error::general(
                "[ConnectorInUse]",
                format!(
                    "The connector is used by the connector policies of tenant(s) {}; remove it from them first.",
                    users.join(", ")
                ),
            ));
        }
        self.store()
            .delete_connector(id)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }

    /// Checks `tenant.connectorPolicies` on save: who may change them, the shape, and that each
    /// connector exists. Only a caller that manages connectors (`ApiKey::manages_connectors`)
    /// sets or changes them: a policy sends the tenant's logins, typed passwords included, to a
    /// legacy system, so pointing one at a connector is configuring that connector's use. Anyone
    /// else may save the tenant with its policies unchanged, or without them (the stored ones
    /// are kept).
    pub(crate) async fn check_connector_policies(
        &self,
        old: Option<&Tenant>,
        tenant: &mut Tenant,
        manages_connectors: bool,
    ) -> Result<()> {
        let field = "tenant.connectorPolicies";
        if !manages_connectors {
            let stored = old
                .and_then(|t| t.settings.get("connectorPolicies"))
                .cloned();
            let sent = tenant.settings.get("connectorPolicies").cloned();
            let as_list = |v: &Option<Value>| -> Option<Vec<ConnectorPolicy>> {
                match v {
                    None | Some(Value::Null) => Some(Vec::new()),
                    Some(v) => serde_json::from_value(v.clone()).ok(),
                }
            };
            let same = match (as_list(&sent), as_list(&stored)) {
                (Some(a), Some(b)) => a == b,
                _ => sent == stored,
            };
            match (sent, stored) {
                (None, Some(v)) => {
                    tenant.settings.insert("connectorPolicies".into(), v);
                }
                _ if same => {}
                _ => {
                    return Err(Error::field(
                        field,
                        &format!("[notAllowed]{field}"),
                        "Only an API key that may manage connectors (not locked to a tenant, and allowed to write /api/connector) can set or change [tenant.connectorPolicies].",
                    ))
                }
            }
        }
        let Some(raw) = tenant.settings.get("connectorPolicies") else {
            return Ok(());
        };
        let list: Vec<ConnectorPolicy> = serde_json::from_value(raw.clone()).map_err(|e| {
            Error::field(
                field,
                &format!("[invalid]{field}"),
                format!("[{field}] must be a list of {{connectorId, domains, migrate}}: {e}"),
            )
        })?;
        let mut errors = Errors::default();
        for (i, p) in list.iter().enumerate() {
            if self.store().connector(p.connector_id).await?.is_none() {
                let f = format!("{field}[{i}].connectorId");
                errors.add_field(
                    &f,
                    &format!("[invalid]{f}"),
                    format!("The connector [{}] does not exist.", p.connector_id),
                );
            }
            if p.domains.is_empty() {
                let f = format!("{field}[{i}].domains");
                errors.add_field(
                    &f,
                    &format!("[blank]{f}"),
                    "Name the login-id domains the policy applies to, or [\"*\"] for all.",
                );
            }
        }
        errors.into_result()
    }

    // ------------------------------------------------------------ asking legacy systems

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

    /// Turns a legacy user into a user of `tenant`: registrations only on applications the
    /// tenant has, roles only those the application defines, groups found by name (others are
    /// dropped and logged: the legacy system cannot create our roles and groups).
    async fn adopt(&self, tenant: Uuid, connector: &Connector, lu: LegacyUser) -> Result<User> {
        let mut user = lu.user;
        let now = now_millis();
        user.tenant_id = Some(tenant);
        user.connector_id = connector.id;
        user.data.insert("migrated".into(), json!(true));
        if lu.two_factor_enrolment_required {
            user.data
                .insert("twoFactorEnrolmentRequired".into(), json!(true));
        }
        user.password_change_required |= lu.password_change_required;
        user.insert_instant = Some(now);
        user.last_update_instant = Some(now);
        user.username_status.get_or_insert_with(|| "ACTIVE".into());
        let scope = Scope::tenant(tenant);
        let mut regs = Vec::new();
        for mut r in std::mem::take(&mut user.registrations) {
            let Some(app) = (match r.application_id {
                Some(a) => self.store().application(scope, a).await?,
                None => None,
            }) else {
                tracing::warn!(connector = ?connector.id, application = ?r.application_id, "legacy registration dropped: no such application in the tenant");
                continue;
            };
            let known: Vec<&str> = app.roles.iter().map(|x| x.name.as_str()).collect();
            let (keep, drop): (Vec<String>, Vec<String>) = r
                .roles
                .into_iter()
                .partition(|n| known.contains(&n.as_str()));
            if !drop.is_empty() {
                tracing::warn!(connector = ?connector.id, application = ?app.id, roles = ?drop, "legacy roles dropped: the application does not define them");
            }
            r.roles = keep;
            r.id = Some(crate::new_id());
            r.insert_instant = Some(now);
            r.last_update_instant = Some(now);
            if !regs
                .iter()
                .any(|x: &Registration| x.application_id == r.application_id)
            {
                regs.push(r);
            }
        }
        user.registrations = regs;
        user.memberships.clear();
        if !lu.groups.is_empty() {
            let groups = self.store().groups(scope).await?;
            for name in &lu.groups {
                match groups.iter().find(|g| g.name.eq_ignore_ascii_case(name)) {
                    Some(g) => user.memberships.push(Membership {
                        id: Some(crate::new_id()),
                        group_id: g.id,
                        user_id: user.id,
                        data: Json::new(),
                        insert_instant: Some(now),
                    }),
                    None => {
                        tracing::warn!(connector = ?connector.id, group = %name, "legacy group dropped: no group of that name in the tenant")
                    }
                }
            }
        }
        Ok(user)
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

    /// Which users of `tenant` (other than `except`) a legacy answer for `user` names by id,
    /// email or username, and what that means for the login.
    async fn collision(
        &self,
        tenant: Uuid,
        connector: &Connector,
        user: &User,
        except: Option<Uuid>,
    ) -> Result<Collision> {
        let lower = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_lowercase)
                .into_iter()
                .collect::<Vec<_>>()
        };
        let ids: Vec<Uuid> = user.id.into_iter().collect();
        let mut found = self
            .store()
            .find_users(tenant, &ids, &lower(&user.email), &lower(&user.username))
            .await?;
        found.retain(|u| u.user.id.is_some() && u.user.id != except);
        found.sort_by_key(|u| u.user.id);
        found.dedup_by_key(|u| u.user.id);
        let named = |u: &StoredUser| {
            let mut by = Vec::new();
            if u.user.id.is_some() && u.user.id == user.id {
                by.push("id");
            }
            let same = |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if a.trim().eq_ignore_ascii_case(b.trim()));
            if same(&u.user.email, &user.email) {
                by.push("email");
            }
            if same(&u.user.username, &user.username) {
                by.push("username");
            }
            by.join(", ")
        };
        Ok(match found.len() {
            0 => Collision::None,
            1 => {
                let existing = found.pop().expect("one");
                if existing.credential.is_none() && existing.user.connector_id == connector.id {
                    Collision::Profile(existing)
                } else {
                    let reason = format!(
                        "the legacy answer names a user Portcullis holds (same {})",
                        named(&existing)
                    );
                    Collision::Held(Some(existing), reason)
                }
            }
            n => Collision::Held(
                None,
                format!("the legacy answer names {n} users Portcullis holds"),
            ),
        })
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

    // ------------------------------------------------------------ progress

    /// `GET /api/migration/status`: per tenant and connector, exact counts from the daily
    /// counters, the share migrated given the legacy user count, and a forecast.
    pub async fn migration_status(
        &self,
        scope: Scope,
        query: &StatusQuery,
    ) -> Result<MigrationStatus> {
        let counts = self.store().connector_counts(scope.tenant).await?;
        let today = day_of(now_millis());
        let mut tenants: BTreeMap<Uuid, BTreeMap<Uuid, Vec<&ConnectorCount>>> = BTreeMap::new();
        for c in &counts {
            tenants
                .entry(c.tenant_id)
                .or_default()
                .entry(c.connector_id)
                .or_default()
                .push(c);
        }
        // Tenants with policies but no counts yet are reported too (all zeros).
        for t in self.store().tenants().await? {
            if scope.sees(t.id) {
                for p in policies(&t) {
                    tenants
                        .entry(t.id.expect("stored"))
                        .or_default()
                        .entry(p.connector_id)
                        .or_default();
                }
            }
        }
        let names: HashMap<Uuid, String> = self
            .store()
            .connectors()
            .await?
            .into_iter()
            .filter_map(|c| Some((c.id?, c.name)))
            .collect();
        let mut out = Vec::new();
        for (tenant_id, by_connector) in tenants {
            let legacy_count = match query.legacy_count {
                Some(n) => Some(n),
                None => self
                    .store()
                    .tenant(tenant_id)
                    .await?
                    .and_then(|t| legacy_user_count(&t)),
            };
            let mut connectors = Vec::new();
            let mut per_day_all: BTreeMap<i64, i64> = BTreeMap::new();
            for (connector_id, rows) in by_connector {
                let mut s = ConnectorStatus {
                    connector_id,
                    name: names.get(&connector_id).cloned().unwrap_or_default(),
                    ..ConnectorStatus::default()
                };
                for r in rows {
                    match r.outcome.as_str() {
                        MIGRATED => {
                            s.users_migrated += r.count;
                            *per_day_all.entry(r.day).or_default() += r.count;
                        }
                        LOGIN => s.logins += r.count,
                        NOT_FOUND => s.not_found += r.count,
                        other => *s.failures.entry(other.to_string()).or_default() += r.count,
                    }
                }
                connectors.push(s);
            }
            let migrated: i64 = connectors.iter().map(|c| c.users_migrated).sum();
            let forecast = legacy_count
                .filter(|n| *n > 0)
                .map(|n| forecast(&per_day_all, migrated, n, query.goal, today));
            out.push(TenantStatus {
                tenant_id,
                users_migrated: migrated,
                legacy_user_count: legacy_count,
                share_migrated: legacy_count
                    .filter(|n| *n > 0)
                    .map(|n| (migrated as f64 / n as f64).min(1.0)),
                migrated_per_day: per_day_all
                    .iter()
                    .map(|(d, n)| DayCount {
                        date: date_of(*d),
                        count: *n,
                    })
                    .collect(),
                connectors,
                forecast,
            });
        }
        Ok(MigrationStatus { tenants: out })
    }
}

/// `tenant.data.legacyUserCount` — the number of users in the legacy system, when configured.
pub fn legacy_user_count(t: &Tenant) -> Option<i64> {
    t.data.get("legacyUserCount").and_then(Value::as_i64)
}

/// What `GET /api/migration/status` is asked.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusQuery {
    /// Users in the legacy system (default: `tenant.data.legacyUserCount`).
    pub legacy_count: Option<i64>,
    /// The share to forecast (default 0.9).
    pub goal: Option<f64>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationStatus {
    pub tenants: Vec<TenantStatus>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    pub tenant_id: Uuid,
    pub users_migrated: i64,
    pub legacy_user_count: Option<i64>,
    pub share_migrated: Option<f64>,
    pub migrated_per_day: Vec<DayCount>,
    pub connectors: Vec<ConnectorStatus>,
    pub forecast: Option<Forecast>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayCount {
    pub date: String,
    pub count: i64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorStatus {
    pub connector_id: Uuid,
    pub name: String,
    pub users_migrated: i64,
    /// Logins the connector authenticated (first logins, and every login under `migrate: false`).
    pub logins: i64,
    /// Unknown user or wrong password.
    pub not_found: i64,
    /// Failures by kind (`timeout`, `unreachable`, `badAnswer`, `circuitOpen`, `busy`).
    pub failures: BTreeMap<String, i64>,
}

/// When the goal share is expected, from S = 1 − (1 − P)^D.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Forecast {
    pub goal: f64,
    /// The measured daily probability that a not-yet-migrated user logs in.
    pub daily_login_probability: Option<f64>,
    /// Its standard error over the days measured.
    pub standard_error: Option<f64>,
    pub days_measured: i64,
    /// The date the goal is expected (ISO `YYYY-MM-DD`), with a range from P ± 2 standard
    /// errors. `None` when there is too little data (fewer than 2 days) to say.
    pub expected_date: Option<String>,
    pub earliest_date: Option<String>,
    pub latest_date: Option<String>,
    pub reached: bool,
    /// In words, for people: how sure this is.
    pub confidence: String,
}

/// The forecast. Each full day `d` since the first migration gives one measurement
/// `p_d = migrated_d / remaining at the start of d`; P is their mean. The remaining fraction
/// after `k` more days is `(1 − S₀)(1 − P)^k`, so the goal `G` is reached after
/// `k = ln((1 − G)/(1 − S₀)) / ln(1 − P)` days. Today is not measured (it is not over).
pub fn forecast(
    per_day: &BTreeMap<i64, i64>,
    migrated: i64,
    legacy: i64,
    goal: Option<f64>,
    today: i64,
) -> Forecast {
    let goal = goal.filter(|g| *g > 0.0 && *g < 1.0).unwrap_or(0.9);
    let share = (migrated as f64 / legacy as f64).min(1.0);
    let mut f = Forecast {
        goal,
        daily_login_probability: None,
        standard_error: None,
        days_measured: 0,
        expected_date: None,
        earliest_date: None,
        latest_date: None,
        reached: share >= goal,
        confidence: String::new(),
    };
    if f.reached {
        f.confidence = "The goal is reached.".into();
        return f;
    }
    let Some(first) = per_day.keys().next().copied() else {
        f.confidence = "No user has been migrated yet: nothing to measure.".into();
        return f;
    };
    let mut done_before = 0i64;
    let mut samples = Vec::new();
    for day in first..today {
        let n = per_day.get(&day).copied().unwrap_or(0);
        let remaining = legacy - done_before;
        if remaining > 0 {
            samples.push(n as f64 / remaining as f64);
        }
        done_before += n;
    }
    f.days_measured = samples.len() as i64;
    if samples.len() < 2 {
        f.confidence = format!(
            "{} full day(s) measured: at least 2 are needed for a forecast.",
            samples.len()
        );
        return f;
    }
    let k = samples.len() as f64;
    let p = samples.iter().sum::<f64>() / k;
    let var = samples.iter().map(|x| (x - p).powi(2)).sum::<f64>() / (k - 1.0);
    let se = (var / k).sqrt();
    f.daily_login_probability = Some(p);
    f.standard_error = Some(se);
    let days_for = |p: f64| -> Option<i64> {
        if p <= 0.0 {
            return None;
        }
        if p >= 1.0 {
            return Some(1);
        }
        let d = ((1.0 - goal) / (1.0 - share)).ln() / (1.0 - p).ln();
        (d.is_finite() && d < 365.0 * 100.0).then(|| d.ceil().max(0.0) as i64)
    };
    let at = |d: Option<i64>| d.map(|d| date_of(today + d));
    f.expected_date = at(days_for(p));
    f.earliest_date = at(days_for(p + 2.0 * se));
    f.latest_date = at(days_for(p - 2.0 * se));
    let rel = if p > 0.0 { se / p } else { f64::INFINITY };
    f.confidence = format!(
        "Measured over {} days; P = {:.5} ± {:.5} per day ({}). The range is P ± 2 standard errors{}.",
        samples.len(),
        p,
        se,
        if rel < 0.1 {
            "steady"
        } else if rel < 0.3 {
            "fairly steady"
        } else {
            "noisy: treat the date as rough"
        },
        if f.latest_date.is_none() && f.expected_date.is_some() {
            "; the late end is open because P may be near zero"
        } else {
            ""
        }
    );
    f
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01), proleptic Gregorian.
pub fn date_of(day: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{:02}-{:02}", if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(20_779), "2026-11-22");
        assert_eq!(date_of(11_016), "2000-02-29");
    }

    #[test]
    fn forecast_recovers_a_steady_login_probability() {
        // 100,000 legacy users, each logs in with probability 2% a day.
        let legacy = 100_000i64;
        let mut per_day = BTreeMap::new();
        let mut migrated = 0i64;
        let start = 20_000;
        for d in 0..30 {
            let n = ((legacy - migrated) as f64 * 0.02).round() as i64;
            per_day.insert(start + d, n);
            migrated += n;
        }
        let f = forecast(&per_day, migrated, legacy, Some(0.9), start + 30);
        let p = f.daily_login_probability.unwrap();
        assert!((p - 0.02).abs() < 1e-4, "{p}");
        // S after 30 days ≈ 1 − 0.98^30 = 45.5%; reaching 90% takes ln(0.1/0.545)/ln(0.98) ≈ 84
        // more days.
        let expected = date_of(start + 30 + 84);
        assert_eq!(f.expected_date.as_deref(), Some(expected.as_str()));
        assert!(f.confidence.contains("steady"), "{}", f.confidence);
        assert!(!f.reached);
    }

    #[test]
    fn forecast_says_when_it_cannot_tell() {
        let per_day = BTreeMap::from([(100, 5)]);
        let f = forecast(&per_day, 5, 1000, None, 101);
        assert!(f.expected_date.is_none());
        assert!(f.confidence.contains("at least 2"), "{}", f.confidence);
        let f = forecast(&BTreeMap::new(), 0, 1000, None, 101);
        assert!(f.expected_date.is_none());
        let f = forecast(&per_day, 950, 1000, Some(0.9), 101);
        assert!(f.reached);
    }

    #[test]
    fn noisy_days_widen_the_range() {
        let per_day: BTreeMap<i64, i64> = [(0, 10), (1, 300), (2, 5), (3, 200), (4, 20)]
            .into_iter()
            .collect();
        let f = forecast(&per_day, 535, 10_000, Some(0.5), 5);
        assert!(f.earliest_date < f.expected_date);
        assert!(f.confidence.contains("noisy"), "{}", f.confidence);
    }
}
