//! The flows of the identity model: each public method is one thing an API call does, from
//! validation to the store. Handlers call exactly one of these.

use crate::model::*;
use crate::{patch, validate, Error, Errors, Store, StoreError};
use portcullis_hash::HashPool;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The identity service: the store, the hashing pool, and the rules between them.
#[derive(Clone)]
pub struct Identity {
    store: Arc<dyn Store>,
    pool: HashPool,
    legacy: Arc<dyn crate::LegacySystems>,
    mailer: Arc<dyn crate::mail::Mailer>,
}

/// Applies a JSON merge patch to an entity, reporting a patch that breaks its shape as a field
/// error on `root`.
fn patched<T: Serialize + DeserializeOwned>(current: &T, p: &Value, root: &str) -> Result<T> {
    let mut v = serde_json::to_value(current).map_err(|e| Error::Store(e.to_string()))?;
    patch::merge(&mut v, p);
    serde_json::from_value(v).map_err(|e| {
        Error::field(
            root,
            &format!("[invalid]{root}"),
            format!("The patch does not fit the [{root}] object: {e}"),
        )
    })
}

fn not_found<T>(o: Option<T>) -> Result<T> {
    o.ok_or(Error::NotFound)
}

fn lower(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase)
}

/// The lower-cased key a look-up by email, username or login id searches for; a value no user
/// can have (a control character, over the bound) is a 400 on `field` before the store sees it.
fn lookup_key(raw: &str, field: &str, max: usize) -> Result<String> {
    let key = raw.trim();
    let mut errors = Errors::default();
    validate::identifier(key, field, max, &mut errors);
    errors.into_result()?;
    Ok(key.to_lowercase())
}

/// SHA-256 of an API key, hex. Keys are long random strings, so a fast hash is enough, and
/// looking the hash up by index compares nothing byte by byte in our code.
pub fn api_key_hash(key: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(key.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random API key: 32 bytes from the OS, base64url.
pub fn new_api_key() -> String {
    use base64::Engine as _;
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The default tenant and application ids every fresh store has, so scripts can rely on them.
pub const DEFAULT_TENANT_NAME: &str = "Default";
pub const DEFAULT_APPLICATION_NAME: &str = "Portcullis";

impl Identity {
    pub fn new(store: Arc<dyn Store>, pool: HashPool) -> Self {
        Self {
            store,
            pool,
            legacy: Arc::new(crate::connectors::NoLegacySystems),
            mailer: Arc::new(crate::mail::NoMailer),
        }
    }

    /// The same service, sending email through `mailer`.
    pub fn with_mailer(mut self, mailer: Arc<dyn crate::mail::Mailer>) -> Self {
        self.mailer = mailer;
        self
    }

    pub fn mailer(&self) -> &Arc<dyn crate::mail::Mailer> {
        &self.mailer
    }

    /// The same service, asking legacy systems through `legacy` (the `portcullis-connect`
    /// crate's `Connectors` in a server).
    pub fn with_legacy(mut self, legacy: Arc<dyn crate::LegacySystems>) -> Self {
        self.legacy = legacy;
        self
    }

    pub fn legacy(&self) -> &Arc<dyn crate::LegacySystems> {
        &self.legacy
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn pool(&self) -> &HashPool {
        &self.pool
    }

    /// Creates the default tenant and application when the store has no tenant at all.
    pub async fn ensure_defaults(&self) -> Result<()> {
        if !self.store.tenants().await?.is_empty() {
            return Ok(());
        }
        let created = self
            .create_tenant(
                Scope::ALL,
                None,
                Tenant {
                    name: DEFAULT_TENANT_NAME.into(),
                    ..Tenant::default()
                },
                true,
            )
            .await;
        let tenant = match created {
            Ok(t) => t,
            // Another node starting at the same moment created it first.
            Err(Error::Invalid(_)) if !self.store.tenants().await?.is_empty() => return Ok(()),
            Err(e) => return Err(e),
        };
        self.create_application(
            Scope::ALL,
            None,
            Application {
                name: DEFAULT_APPLICATION_NAME.into(),
                tenant_id: tenant.id,
                ..Application::default()
            },
        )
        .await?;
        Ok(())
    }

    /// The tenant a create or a by-email look-up acts in: the scope's, else the one named in the
    /// body, else the only tenant there is.
    pub async fn resolve_tenant(&self, scope: Scope, requested: Option<Uuid>) -> Result<Uuid> {
        match (scope.tenant, requested) {
            (Some(t), Some(r)) if t != r => Err(Error::field(
                "tenantId",
                "[invalid]tenantId",
                "The tenantId in the body differs from the tenant of the request.",
            )),
            (Some(t), _) => Ok(t),
            (None, Some(r)) => match self.store.tenant(r).await? {
                Some(_) => Ok(r),
                None => Err(Error::field(
                    "tenantId",
                    "[invalid]tenantId",
                    format!("The tenant [{r}] does not exist."),
                )),
            },
            (None, None) => {
                let tenants = self.store.tenants().await?;
                match tenants.as_slice() {
                    [only] => Ok(only.id.expect("stored tenants have ids")),
                    _ => Err(Error::tenant_required()),
                }
            }
        }
    }

    // ---------------------------------------------------------------- tenants

    pub async fn create_tenant(
        &self,
        scope: Scope,
        id: Option<Uuid>,
        mut tenant: Tenant,
        manages_connectors: bool,
    ) -> Result<Tenant> {
        if scope.tenant.is_some() {
            return Err(Error::Unauthorized);
        }
        let mut errors = Errors::default();
        validate::named(&tenant.name, "tenant.name", &mut errors);
        crate::settings::check_tenant(&tenant, &mut errors);
        errors.into_result()?;
        self.check_connector_policies(None, &mut tenant, manages_connectors)
            .await?;
        let now = now_millis();
        tenant.id = Some(id.or(tenant.id).unwrap_or_else(crate::new_id));
        tenant.insert_instant = Some(now);
        tenant.last_update_instant = Some(now);
        self.store.insert_tenant(&tenant).await?;
        Ok(tenant)
    }

    pub async fn tenant(&self, scope: Scope, id: Uuid) -> Result<Tenant> {
        if !scope.sees(Some(id)) {
            return Err(Error::NotFound);
        }
        not_found(self.store.tenant(id).await?)
    }

    pub async fn tenants(&self, scope: Scope) -> Result<Vec<Tenant>> {
        let mut all = self.store.tenants().await?;
        all.retain(|t| scope.sees(t.id));
        Ok(all)
    }

    /// `manages_connectors`: whether the caller may set `connectorPolicies`
    /// (`ApiKey::manages_connectors`).
    pub async fn replace_tenant(
        &self,
        scope: Scope,
        id: Uuid,
        mut new: Tenant,
        manages_connectors: bool,
    ) -> Result<Tenant> {
        let old = self.tenant(scope, id).await?;
        let mut errors = Errors::default();
        validate::named(&new.name, "tenant.name", &mut errors);
        crate::settings::check_tenant(&new, &mut errors);
        errors.into_result()?;
        new.keep_secrets(&old);
        self.check_connector_policies(Some(&old), &mut new, manages_connectors)
            .await?;
        new.id = old.id;
        new.insert_instant = old.insert_instant;
        new.last_update_instant = Some(now_millis());
        self.store.update_tenant(&new).await?;
        Ok(new)
    }

    pub async fn patch_tenant(
        &self,
        scope: Scope,
        id: Uuid,
        p: &Value,
        manages_connectors: bool,
    ) -> Result<Tenant> {
        let old = self.tenant(scope, id).await?;
        let new = patched(&old, p, "tenant")?;
        self.replace_tenant(scope, id, new, manages_connectors)
            .await
    }

    pub async fn delete_tenant(&self, scope: Scope, id: Uuid) -> Result<()> {
        if scope.tenant.is_some() {
            return Err(Error::Unauthorized);
        }
        self.store
            .delete_tenant(id)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }

    // ---------------------------------------------------------------- applications

    fn check_application(app: &Application) -> Result<()> {
        let mut errors = Errors::default();
        validate::named(&app.name, "application.name", &mut errors);
        validate::roles(&app.roles, &mut errors);
        crate::settings::check_application(app, &mut errors);
        errors.into_result()
    }

    fn stamp_roles(roles: &mut [Role], now: Millis) {
        for r in roles {
            r.id.get_or_insert_with(crate::new_id);
            r.insert_instant.get_or_insert(now);
            r.last_update_instant = Some(now);
        }
    }

    pub async fn create_application(
        &self,
        scope: Scope,
        id: Option<Uuid>,
        mut app: Application,
    ) -> Result<Application> {
        Self::check_application(&app)?;
        let tenant = self.resolve_tenant(scope, app.tenant_id).await?;
        let now = now_millis();
        app.id = Some(id.or(app.id).unwrap_or_else(crate::new_id));
        app.tenant_id = Some(tenant);
        app.insert_instant = Some(now);
        app.last_update_instant = Some(now);
        Self::stamp_roles(&mut app.roles, now);
        self.store.insert_application(&app).await?;
        Ok(app)
    }

    pub async fn application(&self, scope: Scope, id: Uuid) -> Result<Application> {
        not_found(self.store.application(scope, id).await?)
    }

    pub async fn applications(&self, scope: Scope) -> Result<Vec<Application>> {
        Ok(self.store.applications(scope).await?)
    }

    pub async fn replace_application(
        &self,
        scope: Scope,
        id: Uuid,
        mut new: Application,
    ) -> Result<Application> {
        let old = self.application(scope, id).await?;
        Self::check_application(&new)?;
        new.id = old.id;
        new.tenant_id = old.tenant_id;
        new.insert_instant = old.insert_instant;
        let now = now_millis();
        new.last_update_instant = Some(now);
        Self::stamp_roles(&mut new.roles, now);
        self.store.update_application(&new).await?;
        Ok(new)
    }

    pub async fn patch_application(
        &self,
        scope: Scope,
        id: Uuid,
        p: &Value,
    ) -> Result<Application> {
        let old = self.application(scope, id).await?;
        let new = patched(&old, p, "application")?;
        self.replace_application(scope, id, new).await
    }

    /// FusionAuth's soft delete and reactivation of an application.
    pub async fn set_application_active(
        &self,
        scope: Scope,
        id: Uuid,
        active: bool,
    ) -> Result<Application> {
        let mut app = self.application(scope, id).await?;
        app.active = active;
        app.last_update_instant = Some(now_millis());
        self.store.update_application(&app).await?;
        Ok(app)
    }

    pub async fn delete_application(&self, scope: Scope, id: Uuid) -> Result<()> {
        self.store
            .delete_application(scope, id)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }

    /// Adds a role to an application (`POST /api/application/{id}/role`).
    pub async fn create_role(
        &self,
        scope: Scope,
        app_id: Uuid,
        role_id: Option<Uuid>,
        mut role: Role,
    ) -> Result<Role> {
        let mut app = self.application(scope, app_id).await?;
        role.id = Some(role_id.or(role.id).unwrap_or_else(crate::new_id));
        if app.roles.iter().any(|r| r.id == role.id) {
            return Err(Error::field(
                "role.id",
                "[duplicate]role.id",
                "A role with this id already exists.",
            ));
        }
        role.insert_instant = None;
        app.roles.push(role.clone());
        let app = self.replace_application(scope, app_id, app).await?;
        Ok(app
            .roles
            .into_iter()
            .find(|r| r.id == role.id)
            .expect("just added"))
    }

    pub async fn replace_role(
        &self,
        scope: Scope,
        app_id: Uuid,
        role_id: Uuid,
        mut role: Role,
    ) -> Result<Role> {
        let mut app = self.application(scope, app_id).await?;
        let slot = not_found(app.roles.iter_mut().find(|r| r.id == Some(role_id)))?;
        role.id = Some(role_id);
        role.insert_instant = slot.insert_instant;
        *slot = role;
        let app = self.replace_application(scope, app_id, app).await?;
        Ok(app
            .roles
            .into_iter()
            .find(|r| r.id == Some(role_id))
            .expect("kept"))
    }

    pub async fn patch_role(
        &self,
        scope: Scope,
        app_id: Uuid,
        role_id: Uuid,
        p: &Value,
    ) -> Result<Role> {
        let app = self.application(scope, app_id).await?;
        let old = not_found(app.roles.iter().find(|r| r.id == Some(role_id)))?;
        let new = patched(old, p, "role")?;
        self.replace_role(scope, app_id, role_id, new).await
    }

    pub async fn delete_role(&self, scope: Scope, app_id: Uuid, role_id: Uuid) -> Result<()> {
        let mut app = self.application(scope, app_id).await?;
        let before = app.roles.len();
        app.roles.retain(|r| r.id != Some(role_id));
        if app.roles.len() == before {
            return Err(Error::NotFound);
        }
        self.replace_application(scope, app_id, app).await?;
        Ok(())
    }

    // ---------------------------------------------------------------- groups

    async fn check_group(&self, group: &Group, tenant: Uuid) -> Result<()> {
        let mut errors = Errors::default();
        validate::named(&group.name, "group.name", &mut errors);
        if !group.role_ids.is_empty() {
            let apps = self.store.applications(Scope::tenant(tenant)).await?;
            for id in &group.role_ids {
                let known = apps
                    .iter()
                    .flat_map(|a| &a.roles)
                    .any(|r| r.id == Some(*id));
                if !known {
                    errors.add_field(
                        "roleIds",
                        "[invalid]roleIds",
                        format!(
                            "The role id [{id}] is not a role of an application in this tenant."
                        ),
                    );
                }
            }
        }
        errors.into_result()
    }

    /// The group as the API shows it: FusionAuth's `roles` map (application id → roles).
    pub async fn group_view(&self, group: &Group) -> Result<Value> {
        let mut v = serde_json::to_value(group).map_err(|e| Error::Store(e.to_string()))?;
        let mut roles: BTreeMap<String, Vec<Role>> = BTreeMap::new();
        if !group.role_ids.is_empty() {
            let apps = self
                .store
                .applications(Scope {
                    tenant: group.tenant_id,
                })
                .await?;
            for app in &apps {
                for r in app
                    .roles
                    .iter()
                    .filter(|r| r.id.is_some_and(|id| group.role_ids.contains(&id)))
                {
                    roles
                        .entry(app.id.expect("stored").to_string())
                        .or_default()
                        .push(r.clone());
                }
            }
        }
        v["roles"] = serde_json::to_value(roles).expect("roles serialize");
        Ok(v)
    }

    pub async fn create_group(
        &self,
        scope: Scope,
        id: Option<Uuid>,
        mut group: Group,
    ) -> Result<Group> {
        let tenant = self.resolve_tenant(scope, group.tenant_id).await?;
        self.check_group(&group, tenant).await?;
        let now = now_millis();
        group.id = Some(id.or(group.id).unwrap_or_else(crate::new_id));
        group.tenant_id = Some(tenant);
        group.insert_instant = Some(now);
        group.last_update_instant = Some(now);
        self.store.insert_group(&group).await?;
        Ok(group)
    }

    pub async fn group(&self, scope: Scope, id: Uuid) -> Result<Group> {
        not_found(self.store.group(scope, id).await?)
    }

    pub async fn groups(&self, scope: Scope) -> Result<Vec<Group>> {
        Ok(self.store.groups(scope).await?)
    }

    pub async fn replace_group(&self, scope: Scope, id: Uuid, mut new: Group) -> Result<Group> {
        let old = self.group(scope, id).await?;
        let tenant = old.tenant_id.expect("stored");
        self.check_group(&new, tenant).await?;
        new.id = old.id;
        new.tenant_id = old.tenant_id;
        new.insert_instant = old.insert_instant;
        new.last_update_instant = Some(now_millis());
        self.store.update_group(&new).await?;
        Ok(new)
    }

    pub async fn patch_group(&self, scope: Scope, id: Uuid, p: &Value) -> Result<Group> {
        let old = self.group(scope, id).await?;
        let new = patched(&old, p, "group")?;
        self.replace_group(scope, id, new).await
    }

    pub async fn delete_group(&self, scope: Scope, id: Uuid) -> Result<()> {
        self.store
            .delete_group(scope, id)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }

    /// Adds members to groups (`POST /api/group/member`): group id → members. All or nothing.
    pub async fn add_members(
        &self,
        scope: Scope,
        members: BTreeMap<Uuid, Vec<Membership>>,
    ) -> Result<BTreeMap<Uuid, Vec<Membership>>> {
        let mut errors = Errors::default();
        let mut out = BTreeMap::new();
        let mut tenant_of_all = None;
        let now = now_millis();
        for (group_id, list) in members {
            let Some(group) = self.store.group(scope, group_id).await? else {
                errors.add_field(
                    "members",
                    "[invalid]members",
                    format!("The group [{group_id}] does not exist."),
                );
                continue;
            };
            let tenant = group.tenant_id.expect("stored");
            if *tenant_of_all.get_or_insert(tenant) != tenant {
                errors.add_field(
                    "members",
                    "[invalid]members",
                    "All groups in one request must belong to the same tenant.",
                );
                continue;
            }
            let mut added = Vec::new();
            for (i, mut m) in list.into_iter().enumerate() {
                let field = format!("members[{group_id}][{i}].userId");
                match m.user_id {
                    None => errors.add_field(
                        &field,
                        &format!("[blank]{field}"),
                        "You must specify the userId.",
                    ),
                    Some(u) if self.store.user(Scope::tenant(tenant), u).await?.is_none() => errors
                        .add_field(
                            &field,
                            &format!("[invalid]{field}"),
                            format!("The user [{u}] does not exist in the group's tenant."),
                        ),
                    Some(_) => {
                        m.id.get_or_insert_with(crate::new_id);
                        m.group_id = Some(group_id);
                        m.insert_instant = Some(now);
                        added.push(m);
                    }
                }
            }
            out.insert(group_id, added);
        }
        errors.into_result()?;
        if let Some(tenant) = tenant_of_all {
            let all: Vec<Membership> = out.values().flatten().cloned().collect();
            self.store.insert_memberships(tenant, &all).await?;
        }
        Ok(out)
    }

    pub async fn remove_member(&self, scope: Scope, group: Uuid, user: Uuid) -> Result<()> {
        self.store
            .delete_membership(scope, group, user)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }

    pub async fn remove_member_by_id(&self, scope: Scope, id: Uuid) -> Result<()> {
        self.store
            .delete_membership_by_id(scope, id)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }

    // ---------------------------------------------------------------- users

    /// Hashes a new password with the tenant's `passwordEncryptionConfiguration` (argon2id by
    /// default) on the shared pool; only a scheme measured as cheap runs on the async runtime.
    async fn hash(&self, tenant: Uuid, password: Password) -> Result<portcullis_hash::Credential> {
        let config = match self.store.tenant(tenant).await? {
            Some(t) => crate::settings::PasswordEncryption::of(&t),
            None => Default::default(),
        };
        let scheme = config.scheme().to_string();
        let factor = config.encryption_scheme_factor;
        self.pool
            .hash_password(scheme, factor, password.0)
            .await?
            .map_err(|e| Error::Store(format!("hashing a new password failed: {e}")))
    }

    /// The tenant's `passwordValidationRules` decide a new password: they replace the built-in
    /// length check of [`validate::user`], whose limits are their defaults.
    async fn check_password_rules(
        &self,
        tenant: Uuid,
        user: &User,
        errors: &mut Errors,
    ) -> Result<()> {
        let Some(p) = &user.password else {
            return Ok(());
        };
        let rules = match self.store.tenant(tenant).await? {
            Some(t) => crate::settings::PasswordRules::of(&t),
            None => Default::default(),
        };
        errors.field_errors.remove("user.password");
        rules.check(&p.0, "user.password", errors);
        Ok(())
    }

    /// Duplicate email/username checks against the store, as field errors. The unique indexes
    /// catch races; this gives the common case a precise answer.
    async fn check_unique(&self, tenant: Uuid, user: &User, errors: &mut Errors) -> Result<()> {
        // A value `validate::user` refused is never looked up: the request fails anyway, and
        // PostgreSQL would refuse the statement itself.
        let lower = |s: &Option<String>, max| lower(s).filter(|s| validate::is_identifier(s, max));
        if let Some(email) = lower(&user.email, validate::EMAIL_MAX) {
            if let Some(other) = self.store.user_by_email(tenant, &email).await? {
                if other.user.id != user.id {
                    errors.add_field(
                        "user.email",
                        "[duplicate]user.email",
                        "A user with this email already exists in the tenant.",
                    );
                }
            }
        }
        if let Some(name) = lower(&user.username, validate::USERNAME_MAX) {
            if let Some(other) = self.store.user_by_username(tenant, &name).await? {
                if other.user.id != user.id {
                    errors.add_field(
                        "user.username",
                        "[duplicate]user.username",
                        "A user with this username already exists in the tenant.",
                    );
                }
            }
        }
        Ok(())
    }

    /// Validates the registrations a user is created with, filling ids, instants and the
    /// application's default roles.
    async fn prepare_registrations(
        &self,
        tenant: Uuid,
        regs: &mut [Registration],
        prefix: impl Fn(usize) -> String,
        errors: &mut Errors,
    ) -> Result<()> {
        let now = now_millis();
        let mut seen = std::collections::HashSet::new();
        for (i, r) in regs.iter_mut().enumerate() {
            let app = match r.application_id {
                Some(a) => self.store.application(Scope::tenant(tenant), a).await?,
                None => None,
            };
            validate::registration(r, app.as_ref(), &prefix(i), errors);
            if let Some(a) = r.application_id {
                if !seen.insert(a) {
                    let field = format!("{}.applicationId", prefix(i));
                    errors.add_field(
                        &field,
                        &format!("[duplicate]{field}"),
                        "The user is already registered for this application.",
                    );
                }
            }
            if let Some(app) = app {
                if r.roles.is_empty() {
                    r.roles = app
                        .roles
                        .iter()
                        .filter(|x| x.is_default)
                        .map(|x| x.name.clone())
                        .collect();
                }
            }
            r.id.get_or_insert_with(crate::new_id);
            r.insert_instant = Some(now);
            r.last_update_instant = Some(now);
        }
        Ok(())
    }

    /// Creates a user (with the registrations and memberships it carries) in one transaction.
    pub async fn create_user(
        &self,
        scope: Scope,
        id: Option<Uuid>,
        mut user: User,
    ) -> Result<User> {
        let tenant = self.resolve_tenant(scope, user.tenant_id).await?;
        user.id = Some(id.or(user.id).unwrap_or_else(crate::new_id));
        user.tenant_id = Some(tenant);
        let mut errors = Errors::default();
        validate::user(&user, "user", &mut errors);
        self.check_password_rules(tenant, &user, &mut errors)
            .await?;
        self.check_unique(tenant, &user, &mut errors).await?;
        if errors.is_empty() {
            self.check_not_in_legacy(tenant, &user, &mut errors).await?;
        }
        if self
            .store
            .user(Scope::ALL, user.id.expect("set"))
            .await?
            .is_some()
        {
            errors.add_field(
                "user.id",
                "[duplicate]user.id",
                "A user with this id already exists.",
            );
        }
        let mut regs = std::mem::take(&mut user.registrations);
        self.prepare_registrations(
            tenant,
            &mut regs,
            |i| format!("user.registrations[{i}]"),
            &mut errors,
        )
        .await?;
        user.registrations = regs;
        let now = now_millis();
        for (i, m) in user.memberships.iter_mut().enumerate() {
            let field = format!("user.memberships[{i}].groupId");
            let group = match m.group_id {
                Some(g) => self.store.group(Scope::tenant(tenant), g).await?,
                None => None,
            };
            if group.is_none() {
                errors.add_field(
                    &field,
                    &format!("[invalid]{field}"),
                    "The group does not exist in this tenant.",
                );
            }
            m.id.get_or_insert_with(crate::new_id);
            m.user_id = user.id;
            m.insert_instant = Some(now);
        }
        errors.into_result()?;
        let credential = match user.password.take() {
            Some(p) => {
                user.password_last_update_instant = Some(now);
                Some(self.hash(tenant, p).await?)
            }
            None => None,
        };
        user.insert_instant = Some(now);
        user.last_update_instant = Some(now);
        user.username_status.get_or_insert_with(|| "ACTIVE".into());
        let stored = StoredUser { user, credential };
        self.store.insert_user(&stored).await.map_err(user_dup)?;
        Ok(stored.user)
    }

    pub async fn user(&self, scope: Scope, id: Uuid) -> Result<User> {
        Ok(not_found(self.store.user(scope, id).await?)?.user)
    }

    pub async fn user_by_email(&self, scope: Scope, email: &str) -> Result<User> {
        let email = lookup_key(email, "email", validate::EMAIL_MAX)?;
        let tenant = self.resolve_tenant(scope, None).await?;
        let u = self.store.user_by_email(tenant, &email).await?;
        Ok(not_found(u)?.user)
    }

    pub async fn user_by_username(&self, scope: Scope, username: &str) -> Result<User> {
        let username = lookup_key(username, "username", validate::USERNAME_MAX)?;
        let tenant = self.resolve_tenant(scope, None).await?;
        let u = self.store.user_by_username(tenant, &username).await?;
        Ok(not_found(u)?.user)
    }

    /// A login id is an email or a username; email wins when both would match.
    pub async fn user_by_login_id(&self, scope: Scope, login_id: &str) -> Result<User> {
        let key = lookup_key(login_id, "loginId", validate::LOGIN_ID_MAX)?;
        let tenant = self.resolve_tenant(scope, None).await?;
        if let Some(u) = self.store.user_by_email(tenant, &key).await? {
            return Ok(u.user);
        }
        Ok(not_found(self.store.user_by_username(tenant, &key).await?)?.user)
    }

    /// Replaces a user's profile. Registrations and memberships have their own endpoints and are
    /// kept; the password changes only when the body carries one.
    pub async fn replace_user(&self, scope: Scope, id: Uuid, mut new: User) -> Result<User> {
        let old = not_found(self.store.user(scope, id).await?)?;
        let tenant = old.user.tenant_id.expect("stored");
        new.id = Some(id);
        new.tenant_id = Some(tenant);
        let mut errors = Errors::default();
        validate::user(&new, "user", &mut errors);
        self.check_password_rules(tenant, &new, &mut errors).await?;
        self.check_unique(tenant, &new, &mut errors).await?;
        errors.into_result()?;
        let now = now_millis();
        let mut credential = old.credential;
        new.password_last_update_instant = old.user.password_last_update_instant;
        if let Some(p) = new.password.take() {
            credential = Some(self.hash(tenant, p).await?);
            new.password_last_update_instant = Some(now);
        }
        new.registrations = old.user.registrations;
        new.memberships = old.user.memberships;
        new.insert_instant = old.user.insert_instant;
        new.last_login_instant = old.user.last_login_instant;
        new.last_update_instant = Some(now);
        if new.username_status.is_none() {
            new.username_status = old.user.username_status;
        }
        let stored = StoredUser {
            user: new,
            credential,
        };
        self.store.update_user(&stored).await.map_err(user_dup)?;
        Ok(stored.user)
    }

    pub async fn patch_user(&self, scope: Scope, id: Uuid, p: &Value) -> Result<User> {
        let old = self.user(scope, id).await?;
        let new = patched(&old, p, "user")?;
        self.replace_user(scope, id, new).await
    }

    /// FusionAuth's soft delete (`DELETE /api/user/{id}` without `hardDelete`): the user stays,
    /// inactive. Deleting for real is a separate, explicit call, so a script that "deactivates"
    /// never loses an account.
    pub async fn set_user_active(&self, scope: Scope, id: Uuid, active: bool) -> Result<User> {
        let mut stored = not_found(self.store.user(scope, id).await?)?;
        stored.user.active = active;
        stored.user.last_update_instant = Some(now_millis());
        self.store.update_user(&stored).await?;
        Ok(stored.user)
    }

    pub async fn delete_user(&self, scope: Scope, id: Uuid) -> Result<()> {
        self.store
            .delete_user(scope, id)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }

    // ---------------------------------------------------------------- registrations

    /// FusionAuth's *register*: with `user_id`, adds a registration to that existing user;
    /// without, creates `user` and the registration together (all or nothing).
    pub async fn register(
        &self,
        scope: Scope,
        user_id: Option<Uuid>,
        user: Option<User>,
        registration: Registration,
    ) -> Result<(User, Registration)> {
        match user_id {
            None => {
                let Some(mut user) = user else {
                    return Err(Error::field("user", "[blank]user", "You must specify the [user] to create, or add the registration to an existing user with POST /api/user/registration/{userId}."));
                };
                if registration.application_id.is_none() {
                    return Err(Error::field(
                        "registration.applicationId",
                        "[blank]registration.applicationId",
                        "You must specify the [registration.applicationId] property.",
                    ));
                }
                user.registrations = vec![registration];
                let app_id = user.registrations[0].application_id;
                let user = self
                    .create_user(scope, None, user)
                    .await
                    .map_err(rename_reg_errors)?;
                let reg = user
                    .registrations
                    .iter()
                    .find(|r| r.application_id == app_id)
                    .cloned()
                    .expect("created with it");
                Ok((user, reg))
            }
            Some(uid) => {
                let stored = not_found(self.store.user(scope, uid).await?)?;
                let tenant = stored.user.tenant_id.expect("stored");
                let mut regs = vec![registration];
                let mut errors = Errors::default();
                self.prepare_registrations(
                    tenant,
                    &mut regs,
                    |_| "registration".into(),
                    &mut errors,
                )
                .await?;
                if let Some(a) = regs[0].application_id {
                    if stored
                        .user
                        .registrations
                        .iter()
                        .any(|r| r.application_id == Some(a))
                    {
                        errors.add_field(
                            "registration.applicationId",
                            "[duplicate]registration.applicationId",
                            "The user is already registered for this application.",
                        );
                    }
                }
                errors.into_result()?;
                let reg = regs.pop().expect("one");
                self.store
                    .insert_registration(tenant, uid, &reg)
                    .await
                    .map_err(reg_dup)?;
                let user = self.user(scope, uid).await?;
                Ok((user, reg))
            }
        }
    }

    pub async fn registration(
        &self,
        scope: Scope,
        user_id: Uuid,
        app_id: Uuid,
    ) -> Result<Registration> {
        let user = self.user(scope, user_id).await?;
        not_found(
            user.registrations
                .into_iter()
                .find(|r| r.application_id == Some(app_id)),
        )
    }

    pub async fn replace_registration(
        &self,
        scope: Scope,
        user_id: Uuid,
        app_id: Uuid,
        mut new: Registration,
    ) -> Result<Registration> {
        let user = self.user(scope, user_id).await?;
        let old = not_found(
            user.registrations
                .iter()
                .find(|r| r.application_id == Some(app_id)),
        )?;
        let app = self
            .store
            .application(
                Scope {
                    tenant: user.tenant_id,
                },
                app_id,
            )
            .await?;
        new.id = old.id;
        new.application_id = Some(app_id);
        new.insert_instant = old.insert_instant;
        new.last_login_instant = old.last_login_instant;
        new.last_update_instant = Some(now_millis());
        let mut errors = Errors::default();
        validate::registration(&new, app.as_ref(), "registration", &mut errors);
        errors.into_result()?;
        self.store.update_registration(user_id, &new).await?;
        Ok(new)
    }

    pub async fn patch_registration(
        &self,
        scope: Scope,
        user_id: Uuid,
        app_id: Uuid,
        p: &Value,
    ) -> Result<Registration> {
        let old = self.registration(scope, user_id, app_id).await?;
        let new = patched(&old, p, "registration")?;
        self.replace_registration(scope, user_id, app_id, new).await
    }

    pub async fn delete_registration(
        &self,
        scope: Scope,
        user_id: Uuid,
        app_id: Uuid,
    ) -> Result<()> {
        self.store
            .delete_registration(scope, user_id, app_id)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }

    // ---------------------------------------------------------------- API keys

    /// The key a raw `Authorization` value names, if any.
    pub async fn authenticate(&self, raw: &str) -> Result<Option<ApiKey>> {
        if raw.is_empty() {
            return Ok(None);
        }
        Ok(self.store.api_key_by_hash(&api_key_hash(raw)).await?)
    }

    /// Managing keys needs a key that can do everything (no tenant lock, no endpoint limits) or a
    /// key manager; a tenant-locked key never manages keys.
    fn may_manage_keys(caller: &ApiKey) -> Result<()> {
        let unrestricted = caller.tenant_id.is_none() && caller.permissions.endpoints.is_empty();
        if unrestricted || (caller.key_manager && caller.tenant_id.is_none()) {
            Ok(())
        } else {
            Err(Error::Unauthorized)
        }
    }

    /// Creates an API key; the answer is the only time the secret is shown.
    pub async fn create_api_key(
        &self,
        caller: Option<&ApiKey>,
        id: Option<Uuid>,
        mut key: ApiKey,
    ) -> Result<ApiKey> {
        if let Some(c) = caller {
            Self::may_manage_keys(c)?;
        }
        let secret = key.key.take().unwrap_or_else(new_api_key);
        if secret.chars().any(char::is_control) {
            // Such a key could never be sent in an Authorization header.
            return Err(Error::field(
                "apiKey.key",
                "[invalid]apiKey.key",
                "An API key must not contain control characters.",
            ));
        }
        if secret.len() < 16 {
            return Err(Error::field(
                "apiKey.key",
                "[tooShort]apiKey.key",
                "An API key must be at least 16 characters long; leave it out to get a random one.",
            ));
        }
        if let Some(t) = key.tenant_id {
            if self.store.tenant(t).await?.is_none() {
                return Err(Error::field(
                    "apiKey.tenantId",
                    "[invalid]apiKey.tenantId",
                    format!("The tenant [{t}] does not exist."),
                ));
            }
        }
        let now = now_millis();
        key.id = Some(id.or(key.id).unwrap_or_else(crate::new_id));
        key.insert_instant = Some(now);
        key.last_update_instant = Some(now);
        self.store
            .insert_api_key(&key, &api_key_hash(&secret))
            .await
            .map_err(|e| match e {
                StoreError::Duplicate(_) => Error::field(
                    "apiKey.key",
                    "[duplicate]apiKey.key",
                    "This API key (or its id) already exists.",
                ),
                other => other.into(),
            })?;
        key.key = Some(secret);
        Ok(key)
    }

    pub async fn api_key(&self, caller: &ApiKey, id: Uuid) -> Result<ApiKey> {
        Self::may_manage_keys(caller)?;
        not_found(self.store.api_key(id).await?)
    }

    pub async fn api_keys(&self, caller: &ApiKey) -> Result<Vec<ApiKey>> {
        Self::may_manage_keys(caller)?;
        Ok(self.store.api_keys().await?)
    }

    /// Replaces a key's permissions and metadata; the secret itself never changes.
    pub async fn replace_api_key(
        &self,
        caller: &ApiKey,
        id: Uuid,
        mut new: ApiKey,
    ) -> Result<ApiKey> {
        let old = self.api_key(caller, id).await?;
        if let Some(t) = new.tenant_id {
            if self.store.tenant(t).await?.is_none() {
                return Err(Error::field(
                    "apiKey.tenantId",
                    "[invalid]apiKey.tenantId",
                    format!("The tenant [{t}] does not exist."),
                ));
            }
        }
        new.id = old.id;
        new.key = None;
        new.insert_instant = old.insert_instant;
        new.last_update_instant = Some(now_millis());
        self.store.update_api_key(&new).await?;
        Ok(new)
    }

    pub async fn patch_api_key(&self, caller: &ApiKey, id: Uuid, p: &Value) -> Result<ApiKey> {
        let old = self.api_key(caller, id).await?;
        let new = patched(&old, p, "apiKey")?;
        self.replace_api_key(caller, id, new).await
    }

    pub async fn delete_api_key(&self, caller: &ApiKey, id: Uuid) -> Result<()> {
        Self::may_manage_keys(caller)?;
        if caller.id == Some(id) {
            return Err(Error::general(
                "[CannotDeleteSelf]",
                "An API key cannot delete itself; use another key.",
            ));
        }
        self.store
            .delete_api_key(id)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }
}

/// A unique index caught a duplicate user field that the pre-check missed (a race).
fn user_dup(e: StoreError) -> Error {
    match e {
        StoreError::Duplicate("user.id") => Error::field(
            "user.id",
            "[duplicate]user.id",
            "A user with this id already exists.",
        ),
        other => other.into(),
    }
}

fn reg_dup(e: StoreError) -> Error {
    match e {
        StoreError::Duplicate(_) => Error::field(
            "registration.applicationId",
            "[duplicate]registration.applicationId",
            "The user is already registered for this application.",
        ),
        other => other.into(),
    }
}

/// In *register*, the registration travels inside the user; name its errors as the caller sent
/// them (`registration.applicationId`, not `user.registrations[0].applicationId`).
fn rename_reg_errors(e: Error) -> Error {
    match e {
        Error::Invalid(mut errs) => {
            let fields = std::mem::take(&mut errs.field_errors);
            for (k, items) in fields {
                let k2 = k.replace("user.registrations[0]", "registration");
                for mut it in items {
                    it.code = it.code.replace("user.registrations[0]", "registration");
                    it.message = it.message.replace("user.registrations[0]", "registration");
                    errs.field_errors.entry(k2.clone()).or_default().push(it);
                }
            }
            Error::Invalid(errs)
        }
        other => other,
    }
}
