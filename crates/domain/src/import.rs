//! The big-bang import (`POST /api/user/import`, MISSION §5): many users with their
//! registrations, memberships and existing password hashes, validated as a whole and written in
//! one transaction — all land or none do.
//!
//! Cheap checks (shape, references, duplicates inside the request, hash syntax and limits) always
//! run and name the user's index. Checks against the store's existing users are a query per
//! thousand users, so they run when `validateDbConstraints` asks for them — and, whatever the
//! flag, after a unique index refused the write, to say which user collided.

use crate::model::*;
use crate::service::{Identity, Result};
use crate::{validate, Error, Errors, StoreError};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// FusionAuth's import request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportRequest {
    #[serde(default)]
    pub users: Vec<ImportUser>,
    /// The scheme plaintext passwords are hashed with (default: argon2id).
    #[serde(default)]
    pub encryption_scheme: Option<String>,
    #[serde(default)]
    pub factor: Option<u32>,
    /// Check ids, emails and usernames against the users already stored, and report each clash
    /// as a field error naming the user.
    #[serde(default)]
    pub validate_db_constraints: bool,
}

/// A user to import: the user JSON plus how its `password` is hashed. Without
/// `encryptionScheme` the password is plaintext and is hashed on import.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportUser {
    #[serde(flatten)]
    pub user: User,
    #[serde(default)]
    pub encryption_scheme: Option<String>,
    #[serde(default)]
    pub factor: Option<u32>,
    #[serde(default)]
    pub salt: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSummary {
    pub users_created: usize,
}

/// Where a user's credential comes from, once its input is checked.
enum Secret {
    None,
    Hashed(portcullis_hash::Credential),
    Plain(Password),
}

fn lower(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase)
}

impl Identity {
    /// Imports `req.users` into the scope's tenant, all or nothing.
    pub async fn import_users(
        &self,
        scope: crate::Scope,
        req: ImportRequest,
    ) -> Result<ImportSummary> {
        if req.users.is_empty() {
            return Err(Error::field(
                "users",
                "[missing]users",
                "The request has no users to import: give at least one in [users].",
            ));
        }
        let tenant = self.resolve_tenant(scope, None).await?;
        let apps: HashMap<Uuid, Application> = self
            .store()
            .applications(crate::Scope::tenant(tenant))
            .await?
            .into_iter()
            .filter_map(|a| a.id.map(|id| (id, a)))
            .collect();
        let groups: HashSet<Uuid> = self
            .store()
            .groups(crate::Scope::tenant(tenant))
            .await?
            .into_iter()
            .filter_map(|g| g.id)
            .collect();
        let plain_scheme = req
            .encryption_scheme
            .clone()
            .unwrap_or_else(|| portcullis_hash::DEFAULT_SCHEME.to_string());

        let now = now_millis();
        let mut errors = Errors::default();
        let mut seen_ids: HashMap<Uuid, usize> = HashMap::new();
        let mut seen_emails: HashMap<String, usize> = HashMap::new();
        let mut seen_usernames: HashMap<String, usize> = HashMap::new();
        let mut users = Vec::with_capacity(req.users.len());
        let mut secrets = Vec::with_capacity(req.users.len());

        for (i, input) in req.users.into_iter().enumerate() {
            let at = format!("users[{i}]");
            let ImportUser {
                mut user,
                encryption_scheme,
                factor,
                salt,
            } = input;
            let secret = match (encryption_scheme, user.password.take()) {
                (_, None) => Secret::None,
                (None, Some(p)) => {
                    validate::password(&p.0, &format!("{at}.password"), &mut errors);
                    Secret::Plain(p)
                }
                (Some(scheme), Some(p)) => {
                    match portcullis_hash::parse_import(&scheme, factor, salt.as_deref(), &p.0) {
                        Ok(c) => Secret::Hashed(c),
                        Err(e) => {
                            errors.add_field(
                                &format!("{at}.password"),
                                "[invalid]user.password",
                                format!("{at}: the password hash cannot be imported: {e}"),
                            );
                            Secret::None
                        }
                    }
                }
            };
            validate::user(&user, &at, &mut errors);

            let id = *user.id.get_or_insert_with(Uuid::new_v4);
            if let Some(first) = seen_ids.insert(id, i) {
                errors.add_field(
                    &format!("{at}.id"),
                    "[duplicate]user.id",
                    format!("{at}: the id [{id}] is also used by users[{first}]."),
                );
            }
            if let Some(email) = lower(&user.email) {
                if let Some(first) = seen_emails.insert(email, i) {
                    errors.add_field(
                        &format!("{at}.email"),
                        "[duplicate]user.email",
                        format!(
                            "{at}: the email [{}] is also used by users[{first}].",
                            user.email.as_deref().unwrap_or_default()
                        ),
                    );
                }
            }
            if let Some(name) = lower(&user.username) {
                if let Some(first) = seen_usernames.insert(name, i) {
                    errors.add_field(
                        &format!("{at}.username"),
                        "[duplicate]user.username",
                        format!(
                            "{at}: the username [{}] is also used by users[{first}].",
                            user.username.as_deref().unwrap_or_default()
                        ),
                    );
                }
            }

            let mut registered = HashSet::new();
            for (j, r) in user.registrations.iter_mut().enumerate() {
                let prefix = format!("{at}.registrations[{j}]");
                let app = r.application_id.and_then(|a| apps.get(&a));
                validate::registration(r, app, &prefix, &mut errors);
                if let Some(a) = r.application_id {
                    if !registered.insert(a) {
                        errors.add_field(
                            &format!("{prefix}.applicationId"),
                            "[duplicate]registration.applicationId",
                            format!(
                                "{prefix}: the user is registered twice for the application [{a}]."
                            ),
                        );
                    }
                }
                r.id.get_or_insert_with(Uuid::new_v4);
                r.insert_instant.get_or_insert(now);
                r.last_update_instant = Some(now);
            }
            let mut joined = HashSet::new();
            for (j, m) in user.memberships.iter_mut().enumerate() {
                let field = format!("{at}.memberships[{j}].groupId");
                match m.group_id {
                    Some(g) if groups.contains(&g) => {
                        if !joined.insert(g) {
                            errors.add_field(
                                &field,
                                "[duplicate]membership.groupId",
                                format!("{at}: the user joins the group [{g}] twice."),
                            );
                        }
                    }
                    Some(g) => errors.add_field(
                        &field,
                        "[invalid]membership.groupId",
                        format!("{at}: the group [{g}] does not exist in this tenant."),
                    ),
                    None => errors.add_field(
                        &field,
                        "[blank]membership.groupId",
                        format!("{at}: a membership needs a groupId."),
                    ),
                }
                m.id.get_or_insert_with(Uuid::new_v4);
                m.user_id = Some(id);
                m.insert_instant.get_or_insert(now);
            }

            user.tenant_id = Some(tenant);
            user.insert_instant.get_or_insert(now);
            user.last_update_instant = Some(now);
            user.username_status.get_or_insert_with(|| "ACTIVE".into());
            if !matches!(secret, Secret::None) {
                user.password_last_update_instant.get_or_insert(now);
            }
            users.push(user);
            secrets.push(secret);
        }

        if req.validate_db_constraints {
            self.check_against_store(tenant, &users, &mut errors)
                .await?;
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors.general(
                "[ImportRequestFailed]",
                "Nothing was imported: correct the users named in fieldErrors and send the request again.",
            )));
        }

        let credentials = self.hash_all(&plain_scheme, req.factor, secrets).await?;
        let stored: Vec<StoredUser> = users
            .into_iter()
            .zip(credentials)
            .map(|(user, credential)| StoredUser { user, credential })
            .collect();
        match self.store().insert_users(&stored).await {
            Ok(()) => Ok(ImportSummary {
                users_created: stored.len(),
            }),
            Err(StoreError::Duplicate(_)) => {
                // A unique index refused the batch: find out who, so the answer is precise.
                let users: Vec<User> = stored.into_iter().map(|s| s.user).collect();
                let mut errors = Errors::default();
                self.check_against_store(tenant, &users, &mut errors)
                    .await?;
                Err(Error::Invalid(errors.general(
                    "[ImportRequestFailed]",
                    "Nothing was imported: one or more users already exist (see fieldErrors). Send validateDbConstraints: true to check before writing.",
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reports users whose id, email or username is already taken in the store.
    async fn check_against_store(
        &self,
        tenant: Uuid,
        users: &[User],
        errors: &mut Errors,
    ) -> Result<()> {
        let ids: Vec<Uuid> = users.iter().filter_map(|u| u.id).collect();
        let emails: Vec<String> = users.iter().filter_map(|u| lower(&u.email)).collect();
        let names: Vec<String> = users.iter().filter_map(|u| lower(&u.username)).collect();
        let taken = self.store().taken(tenant, &ids, &emails, &names).await?;
        for (i, u) in users.iter().enumerate() {
            let at = format!("users[{i}]");
            if u.id.is_some_and(|id| taken.ids.contains(&id)) {
                errors.add_field(
                    &format!("{at}.id"),
                    "[duplicate]user.id",
                    format!(
                        "{at}: a user with the id [{}] already exists.",
                        u.id.unwrap_or_default()
                    ),
                );
            }
            if lower(&u.email).is_some_and(|e| taken.emails.contains(&e)) {
                errors.add_field(
                    &format!("{at}.email"),
                    "[duplicate]user.email",
                    format!(
                        "{at}: a user with the email [{}] already exists in the tenant.",
                        u.email.as_deref().unwrap_or_default()
                    ),
                );
            }
            if lower(&u.username).is_some_and(|n| taken.usernames.contains(&n)) {
                errors.add_field(
                    &format!("{at}.username"),
                    "[duplicate]user.username",
                    format!(
                        "{at}: a user with the username [{}] already exists in the tenant.",
                        u.username.as_deref().unwrap_or_default()
                    ),
                );
            }
        }
        Ok(())
    }

    /// Hashes the plaintext passwords on the shared pool, all cores busy, before any write.
    async fn hash_all(
        &self,
        scheme: &str,
        factor: Option<u32>,
        secrets: Vec<Secret>,
    ) -> Result<Vec<Option<portcullis_hash::Credential>>> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        // Enough jobs in flight to keep every worker busy, never more than the pool queues.
        let in_flight = self.pool().workers() * 2;
        stream::iter(secrets)
            .map(|s| {
                let scheme = scheme.to_string();
                async move {
                    match s {
                        Secret::None => Ok(None),
                        Secret::Hashed(c) => Ok(Some(c)),
                        Secret::Plain(p) => {
                            let for_job = scheme.clone();
                            let job = move || {
                                portcullis_hash::hash_password(&for_job, factor, p.0.as_bytes())
                            };
                            let c = self.pool().run(job).await?.map_err(|e| {
                                Error::field(
                                    "encryptionScheme",
                                    "[invalid]encryptionScheme",
                                    format!(
                                        "Plaintext passwords cannot be hashed with [{scheme}]: {e}"
                                    ),
                                )
                            })?;
                            Ok(Some(c))
                        }
                    }
                }
            })
            .buffered(in_flight)
            .try_collect()
            .await
    }
}
