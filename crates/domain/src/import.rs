//! The big-bang import (`POST /api/user/import`, MISSION §5): many users with their
//! registrations, memberships and existing password hashes, validated as a whole and written in
//! one transaction — all land or none do.
//!
//! Cheap checks (shape, references, duplicates inside the request, hash syntax and limits) always
//! run and name the user's index. Checks against the store's existing users are a query per
//! thousand users, so they run when `validateDbConstraints` asks for them — and, whatever the
//! flag, after a unique index refused the write, to say which user collided.
//!
//! With `upsert` (ours, for delta loads of a moving target) each user is first matched with a
//! stored user of the tenant — by id, else email, else username — and a matched user is updated:
//! the fields the request gives replace the stored ones (a JSON merge patch of exactly the keys
//! present, so `data` merges key by key), the others are kept; given registrations and
//! memberships are added or replace the one of the same application or group, the others stay.

use crate::model::*;
use crate::service::{Identity, Result};
use crate::{patch, validate, Error, Errors, Event, StoreError};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};
use uuid::Uuid;

/// FusionAuth's import request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<ImportUserFields>))]
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
    /// Ours: update users that already exist (matched by id, else email, else username) instead
    /// of refusing them; the answer then counts created and updated users.
    #[serde(default)]
    pub upsert: bool,
}

/// A user to import: the user JSON plus how its `password` is hashed. Without
/// `encryptionScheme` the password is plaintext and is hashed on import.
#[derive(Debug)]
pub struct ImportUser {
    pub user: User,
    pub encryption_scheme: Option<String>,
    pub factor: Option<u32>,
    pub salt: Option<String>,
    /// The top-level keys the request gave for this user: with `upsert`, the fields that replace
    /// the stored user's (an omitted field is kept, a `null` one is removed).
    pub given: BTreeSet<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ImportUser))]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportUserFields {
    #[serde(flatten)]
    user: User,
    #[serde(default)]
    encryption_scheme: Option<String>,
    #[serde(default)]
    factor: Option<u32>,
    #[serde(default)]
    salt: Option<String>,
}

impl<'de> Deserialize<'de> for ImportUser {
    /// Parses the user once into its fields and once more for its key names only, from the raw
    /// text: cheaper than going through a `serde_json::Value` for every user of a big file.
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        let f: ImportUserFields = serde_json::from_str(raw.get()).map_err(D::Error::custom)?;
        let keys: HashMap<String, serde::de::IgnoredAny> =
            serde_json::from_str(raw.get()).map_err(D::Error::custom)?;
        Ok(ImportUser {
            user: f.user,
            encryption_scheme: f.encryption_scheme,
            factor: f.factor,
            salt: f.salt,
            given: keys.into_keys().collect(),
        })
    }
}

/// What an import did.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSummary {
    pub users_created: usize,
    pub users_updated: usize,
}

/// Where a user's credential comes from, once its input is checked.
enum Secret {
    None,
    Hashed(portcullis_hash::Credential),
    Plain(Password),
}

/// A checked user of the request, before it is matched with the store.
struct Checked {
    index: usize,
    user: User,
    secret: Secret,
    given: BTreeSet<String>,
}

/// Keys of a user that an upsert does not merge into the stored body: identity, the password
/// (a credential, not a field) and the lists merged by application or group.
const NOT_MERGED: [&str; 8] = [
    "id",
    "tenantId",
    "password",
    "encryptionScheme",
    "factor",
    "salt",
    "registrations",
    "memberships",
];

fn lower(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase)
}

/// The email and username a store look-up searches for. A value `validate::user` refuses is
/// left out: the request fails on it anyway, and PostgreSQL would refuse the whole statement.
fn lookup_email(u: &User) -> Option<String> {
    lower(&u.email).filter(|e| validate::is_identifier(e, validate::EMAIL_MAX))
}

fn lookup_username(u: &User) -> Option<String> {
    lower(&u.username).filter(|n| validate::is_identifier(n, validate::USERNAME_MAX))
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
        let upsert = req.upsert;
        // A hash costlier to verify than the tenant allows would make each login attempt
        // against it seconds of CPU: refused here, per user, before anything is written.
        let encryption = match self.store().tenant(tenant).await? {
            Some(t) => crate::settings::PasswordEncryption::of(&t),
            None => Default::default(),
        };
        let budget = CostBudget::of(&encryption);

        let now = now_millis();
        let mut errors = Errors::default();
        let mut seen_ids: HashMap<Uuid, usize> = HashMap::new();
        let mut seen_emails: HashMap<String, usize> = HashMap::new();
        let mut seen_usernames: HashMap<String, usize> = HashMap::new();
        let mut checked = Vec::with_capacity(req.users.len());
        let mut plain_checked = false;

        for (i, input) in req.users.into_iter().enumerate() {
            let at = format!("users[{i}]");
            let ImportUser {
                mut user,
                encryption_scheme,
                factor,
                salt,
                given,
            } = input;
            let secret = match (encryption_scheme, user.password.take()) {
                (_, None) => Secret::None,
                (None, Some(p)) => {
                    validate::password(&p.0, &format!("{at}.password"), &mut errors);
                    Secret::Plain(p)
                }
                (Some(scheme), Some(p)) => {
                    match portcullis_hash::parse_import(&scheme, factor, salt.as_deref(), &p.0) {
                        Ok(c) => match budget.refuses(portcullis_hash::cost(&c)) {
                            Some(why) => {
                                errors.add_field(
                                    &format!("{at}.password"),
                                    "[tooCostly]user.password",
                                    format!("{at}: the password hash cannot be imported: {why}"),
                                );
                                Secret::None
                            }
                            None => Secret::Hashed(c),
                        },
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
            // An upsert may name a stored user by id alone: its own fields are checked once
            // merged.
            if !upsert {
                validate::user(&user, &at, &mut errors);
                user.id.get_or_insert_with(crate::new_id);
            }
            if let Some(id) = user.id {
                if let Some(first) = seen_ids.insert(id, i) {
                    errors.add_field(
                        &format!("{at}.id"),
                        "[duplicate]user.id",
                        format!("{at}: the id [{id}] is also used by users[{first}]."),
                    );
                }
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
                r.last_update_instant = Some(now);
            }
            let mut joined = HashSet::new();
            for (j, m) in user.memberships.iter().enumerate() {
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
            }
            if matches!(secret, Secret::Plain(_)) && !plain_checked {
                plain_checked = true;
                if let Ok(cost) = portcullis_hash::new_hash_cost(&plain_scheme, req.factor) {
                    if let Some(why) = budget.refuses(Some(cost)) {
                        errors.add_field(
                            "factor",
                            "[tooCostly]factor",
                            format!(
                                "Plaintext passwords hashed with [{plain_scheme}] at this factor \
                                 cannot be imported: {why}"
                            ),
                        );
                    }
                }
            }
            checked.push(Checked {
                index: i,
                user,
                secret,
                given,
            });
        }

        // Each user is created, or (upsert) updated over the stored user it matches.
        let matches = if upsert {
            self.match_stored(tenant, &checked, &mut errors).await?
        } else {
            checked.iter().map(|_| None).collect()
        };
        let mut created: Vec<(usize, User)> = Vec::new();
        let mut updated: Vec<(User, Option<portcullis_hash::Credential>)> = Vec::new();
        let (mut created_secrets, mut updated_secrets) = (Vec::new(), Vec::new());
        for (c, stored) in checked.into_iter().zip(matches) {
            let at = format!("users[{}]", c.index);
            let has_secret = !matches!(c.secret, Secret::None);
            match stored {
                None => {
                    let mut user = c.user;
                    if upsert {
                        validate::user(&user, &at, &mut errors);
                    }
                    stamp_new(&mut user, tenant, has_secret, now);
                    created.push((c.index, user));
                    created_secrets.push(c.secret);
                }
                Some(stored) => {
                    let mut user = match merge_user(&stored.user, &c.user, &c.given) {
                        Ok(u) => u,
                        Err(e) => {
                            errors.add_field(
                                &at,
                                "[invalid]user",
                                format!("{at}: the fields do not fit the stored user: {e}"),
                            );
                            continue;
                        }
                    };
                    validate::user(&user, &at, &mut errors);
                    user.id = stored.user.id;
                    user.tenant_id = Some(tenant);
                    user.last_update_instant = Some(now);
                    if has_secret && !c.given.contains("passwordLastUpdateInstant") {
                        user.password_last_update_instant = Some(now);
                    }
                    user.registrations =
                        merge_registrations(stored.user.registrations, c.user.registrations, now);
                    user.memberships = merge_memberships(
                        stored.user.memberships,
                        c.user.memberships,
                        user.id,
                        now,
                    );
                    updated.push((user, stored.credential));
                    updated_secrets.push(c.secret);
                }
            }
        }

        if req.validate_db_constraints {
            self.check_against_store(tenant, &created, &mut errors)
                .await?;
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors.general(
                "[ImportRequestFailed]",
                "Nothing was imported: correct the users named in fieldErrors and send the request again.",
            )));
        }

        let n_created = created.len();
        created_secrets.extend(updated_secrets);
        let mut credentials = self
            .hash_all(&plain_scheme, req.factor, created_secrets)
            .await?;
        let updated_credentials = credentials.split_off(n_created);
        let (order, created_users): (Vec<usize>, Vec<StoredUser>) = created
            .into_iter()
            .zip(credentials)
            .map(|((i, user), credential)| (i, StoredUser { user, credential }))
            .unzip();
        // A matched user without a new password keeps the stored one.
        let updated_users: Vec<StoredUser> = updated
            .into_iter()
            .zip(updated_credentials)
            .map(|((user, old), new)| StoredUser {
                user,
                credential: new.or(old),
            })
            .collect();
        let events: Vec<Event> = if created_users.is_empty() {
            Vec::new()
        } else {
            vec![Event::user_bulk_create(
                tenant,
                created_users.iter().map(|s| &s.user),
            )]
        };
        match self
            .store()
            .import_users(&created_users, &updated_users, &events)
            .await
        {
            Ok(()) => Ok(ImportSummary {
                users_created: created_users.len(),
                users_updated: updated_users.len(),
            }),
            Err(StoreError::Duplicate(_)) => {
                // A unique index refused the batch: find out who, so the answer is precise.
                let created: Vec<(usize, User)> = order
                    .into_iter()
                    .zip(created_users.into_iter().map(|s| s.user))
                    .collect();
                let mut errors = Errors::default();
                self.check_against_store(tenant, &created, &mut errors)
                    .await?;
                Err(Error::Invalid(errors.general(
                    "[ImportRequestFailed]",
                    "Nothing was imported: one or more users already exist (see fieldErrors). Send validateDbConstraints: true to check before writing.",
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Upsert: the stored user each checked user updates, or `None` to create it. Conflicts
    /// (an id that names another user than the email, two users of the request on one stored
    /// user, an email or username that another stored user has) are field errors.
    async fn match_stored(
        &self,
        tenant: Uuid,
        users: &[Checked],
        errors: &mut Errors,
    ) -> Result<Vec<Option<StoredUser>>> {
        let ids: Vec<Uuid> = users.iter().filter_map(|c| c.user.id).collect();
        let emails: Vec<String> = users.iter().filter_map(|c| lookup_email(&c.user)).collect();
        let names: Vec<String> = users
            .iter()
            .filter_map(|c| lookup_username(&c.user))
            .collect();
        let found = self
            .store()
            .find_users(tenant, &ids, &emails, &names)
            .await?;
        let mut by_id: HashMap<Uuid, usize> = HashMap::new();
        let mut by_email: HashMap<String, usize> = HashMap::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for (k, s) in found.iter().enumerate() {
            by_id.extend(s.user.id.map(|id| (id, k)));
            by_email.extend(lower(&s.user.email).map(|e| (e, k)));
            by_name.extend(lower(&s.user.username).map(|n| (n, k)));
        }
        let mut claimed: HashMap<usize, usize> = HashMap::new();
        let mut out = Vec::with_capacity(users.len());
        for c in users {
            let at = format!("users[{}]", c.index);
            let email = lower(&c.user.email);
            let name = lower(&c.user.username);
            let hit = c
                .user
                .id
                .and_then(|id| by_id.get(&id))
                .or_else(|| email.as_ref().and_then(|e| by_email.get(e)))
                .or_else(|| name.as_ref().and_then(|n| by_name.get(n)))
                .copied();
            let owner = |k: Option<&usize>| k.map(|&k| found[k].user.id);
            if let Some(k) = hit {
                let stored_id = found[k].user.id.unwrap_or_default();
                if let Some(id) = c.user.id.filter(|id| *id != stored_id) {
                    errors.add_field(
                        &format!("{at}.id"),
                        "[mismatch]user.id",
                        format!("{at}: the id [{id}] differs from the id [{stored_id}] of the stored user with this email or username: correct the id or leave it out."),
                    );
                }
                if let Some(first) = claimed.insert(k, c.index) {
                    errors.add_field(
                        &format!("{at}.id"),
                        "[duplicate]user.id",
                        format!(
                            "{at}: users[{first}] already updates the stored user [{stored_id}]."
                        ),
                    );
                }
            }
            let mine = hit.map(|k| found[k].user.id);
            // The email and username the user will have must not belong to another stored user.
            if email.is_some()
                && owner(email.as_ref().and_then(|e| by_email.get(e)))
                    .is_some_and(|o| Some(o) != mine)
            {
                errors.add_field(
                    &format!("{at}.email"),
                    "[duplicate]user.email",
                    format!(
                        "{at}: a user with the email [{}] already exists in the tenant.",
                        c.user.email.as_deref().unwrap_or_default()
                    ),
                );
            }
            if name.is_some()
                && owner(name.as_ref().and_then(|n| by_name.get(n)))
                    .is_some_and(|o| Some(o) != mine)
            {
                errors.add_field(
                    &format!("{at}.username"),
                    "[duplicate]user.username",
                    format!(
                        "{at}: a user with the username [{}] already exists in the tenant.",
                        c.user.username.as_deref().unwrap_or_default()
                    ),
                );
            }
            out.push(hit.map(|k| found[k].clone()));
        }
        Ok(out)
    }

    /// Reports users whose id, email or username is already taken in the store.
    async fn check_against_store(
        &self,
        tenant: Uuid,
        users: &[(usize, User)],
        errors: &mut Errors,
    ) -> Result<()> {
        let ids: Vec<Uuid> = users.iter().filter_map(|(_, u)| u.id).collect();
        let emails: Vec<String> = users.iter().filter_map(|(_, u)| lookup_email(u)).collect();
        let names: Vec<String> = users
            .iter()
            .filter_map(|(_, u)| lookup_username(u))
            .collect();
        let taken = self.store().taken(tenant, &ids, &emails, &names).await?;
        for (i, u) in users {
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

/// The most an imported credential may cost to verify in a tenant.
struct CostBudget {
    factor: u64,
    own: portcullis_hash::Cost,
    scheme: String,
}

impl CostBudget {
    fn of(encryption: &crate::settings::PasswordEncryption) -> Self {
        CostBudget {
            factor: encryption.import_cost_factor(),
            own: encryption.own_cost(),
            scheme: encryption.scheme().to_string(),
        }
    }

    /// Why a credential of `cost` is refused, or `None` when it fits (or has no cost model).
    fn refuses(&self, cost: Option<portcullis_hash::Cost>) -> Option<String> {
        let cost = cost?;
        let limit = self.own.saturating_mul(self.factor);
        let ms = |c: portcullis_hash::Cost| c.div_ceil(1_000_000);
        (cost > limit).then(|| {
            format!(
                "verifying it costs about {} ms of CPU per login attempt, over the tenant's \
                 limit of about {} ms (passwordEncryptionConfiguration.\
                 maximumImportedHashCostFactor = {} times the cost of its own scheme [{}]); \
                 rehash it with a lower cost in the legacy system, import this user without \
                 a password, or raise the tenant's maximumImportedHashCostFactor",
                ms(cost),
                ms(limit),
                self.factor,
                self.scheme
            )
        })
    }
}

/// Fills what a new user gets from the import: ids, tenant, instants.
fn stamp_new(user: &mut User, tenant: Uuid, has_secret: bool, now: Millis) {
    let id = *user.id.get_or_insert_with(crate::new_id);
    for r in &mut user.registrations {
        r.id.get_or_insert_with(crate::new_id);
        r.insert_instant.get_or_insert(now);
    }
    for m in &mut user.memberships {
        m.id.get_or_insert_with(crate::new_id);
        m.user_id = Some(id);
        m.insert_instant.get_or_insert(now);
    }
    user.tenant_id = Some(tenant);
    user.insert_instant.get_or_insert(now);
    user.last_update_instant = Some(now);
    user.username_status.get_or_insert_with(|| "ACTIVE".into());
    if has_secret {
        user.password_last_update_instant.get_or_insert(now);
    }
}

/// The stored user with the keys the request gave merged over it (RFC 7396): an omitted key is
/// kept, `null` removes, objects such as `data` merge key by key.
fn merge_user(
    stored: &User,
    given: &User,
    keys: &BTreeSet<String>,
) -> std::result::Result<User, serde_json::Error> {
    let mut base = serde_json::to_value(stored)?;
    let full = serde_json::to_value(given)?;
    let mut p = Json::new();
    for k in keys.iter().filter(|k| !NOT_MERGED.contains(&k.as_str())) {
        p.insert(k.clone(), full.get(k).cloned().unwrap_or(Value::Null));
    }
    patch::merge(&mut base, &Value::Object(p));
    serde_json::from_value(base)
}

/// Stored registrations plus the given ones; a given one replaces the stored registration of
/// the same application (keeping its id and insert instant unless given).
fn merge_registrations(
    mut stored: Vec<Registration>,
    given: Vec<Registration>,
    now: Millis,
) -> Vec<Registration> {
    for mut r in given {
        match stored
            .iter_mut()
            .find(|s| s.application_id == r.application_id)
        {
            Some(s) => {
                r.id = r.id.or(s.id);
                r.insert_instant = r.insert_instant.or(s.insert_instant);
                r.last_login_instant = r.last_login_instant.or(s.last_login_instant);
                *s = r;
            }
            None => {
                r.id.get_or_insert_with(crate::new_id);
                r.insert_instant.get_or_insert(now);
                stored.push(r);
            }
        }
    }
    stored
}

/// Stored memberships plus the given ones; a given one replaces the membership of the same group.
fn merge_memberships(
    mut stored: Vec<Membership>,
    given: Vec<Membership>,
    user: Option<Uuid>,
    now: Millis,
) -> Vec<Membership> {
    for mut m in given {
        m.user_id = user;
        match stored.iter_mut().find(|s| s.group_id == m.group_id) {
            Some(s) => {
                m.id = m.id.or(s.id);
                m.insert_instant = m.insert_instant.or(s.insert_instant);
                *s = m;
            }
            None => {
                m.id.get_or_insert_with(crate::new_id);
                m.insert_instant.get_or_insert(now);
                stored.push(m);
            }
        }
    }
    stored
}
