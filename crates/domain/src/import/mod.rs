//! The big-bang import (`POST /api/user/import`, FusionAuth's Import API): many users with their
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

pub mod budget;
pub mod bulk_delete;
mod check;
pub mod jobs;
mod row;
mod stream;
mod upsert;

pub use budget::{BudgetShare, ImportBudget};
pub use row::{user_body, NewUserRow};
pub use stream::ImportBody;

use crate::event::EventText;
use crate::identity::{Identity, Result};
use crate::model::*;
use crate::{validate, Error, Errors, Event, StoreError};
use serde::{Deserialize, Deserializer};
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
    /// Whether the request asked for an upsert (whose answer counts the users).
    #[serde(skip)]
    pub upsert: bool,
}

/// Where a user's credential comes from, once its input is checked.
pub(super) enum Secret {
    None,
    Hashed(portcullis_hash::Credential),
    Plain(Password),
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

/// The email and username a store look-up searches for. A value `validate::user` refuses is
/// left out: the request fails on it anyway, and PostgreSQL would refuse the whole statement.
fn lookup_email(u: &User) -> Option<String> {
    validate::normalized(&u.email).filter(|e| validate::is_identifier(e, validate::EMAIL_MAX))
}

fn lookup_username(u: &User) -> Option<String> {
    validate::normalized(&u.username).filter(|n| validate::is_identifier(n, validate::USERNAME_MAX))
}

/// Where an import's users come from: a parsed request (tools, tests), or a request's JSON read
/// as a stream (the API and import jobs).
pub(crate) enum Input {
    Parsed(ImportRequest),
    Json(ImportBody),
}

/// A JSON body that does not parse as an import request: the API's answer to malformed JSON.
pub fn invalid_json(e: serde_json::Error) -> Error {
    let what = match e.classify() {
        serde_json::error::Category::Data => "The JSON does not have the expected shape",
        _ => "Unable to parse the request body as JSON",
    };
    // serde_json's message already ends with "at line L column C".
    Error::general("[invalidJSON]", format!("{what}: {e}."))
}

/// The new users an import builds, in the compact form the store writes, each with its index
/// in the request; plaintext passwords wait beside them until the checks pass.
#[derive(Default)]
struct NewRows {
    rows: Vec<NewUserRow>,
    order: Vec<usize>,
    plain: Vec<(usize, Password)>,
}

impl NewRows {
    fn push(&mut self, index: usize, user: User, secret: Secret) {
        let credential = match secret {
            Secret::None => None,
            Secret::Hashed(c) => Some(c),
            Secret::Plain(p) => {
                self.plain.push((self.rows.len(), p));
                None
            }
        };
        self.rows.push(NewUserRow::new(&user, credential.as_ref()));
        self.order.push(index);
    }
}

impl Identity {
    /// Imports `req.users` into the scope's tenant, all or nothing.
    pub async fn import_users(
        &self,
        scope: crate::Scope,
        req: ImportRequest,
    ) -> Result<ImportSummary> {
        self.import_users_for(scope, Input::Parsed(req), None, &invalid_json)
            .await
    }

    /// Imports the users of an import request's JSON `body`, all or nothing, reading it as a
    /// stream: each user is checked and turned into its row as it is parsed, and the body's
    /// chunks are freed behind the parse. Malformed JSON is an `[invalidJSON]` error.
    pub async fn import_json(
        &self,
        scope: crate::Scope,
        body: ImportBody,
    ) -> Result<ImportSummary> {
        self.import_users_for(scope, Input::Json(body), None, &invalid_json)
            .await
    }

    /// The import of `input`; for the import job `job` names when it is one, the job's end is
    /// written with its users. `json_error` words a body that does not parse.
    pub(crate) async fn import_users_for(
        &self,
        scope: crate::Scope,
        input: Input,
        job: Option<&jobs::JobClaim>,
        json_error: &(dyn Fn(serde_json::Error) -> Error + Sync),
    ) -> Result<ImportSummary> {
        let flags = match &input {
            Input::Parsed(req) => stream::Flags {
                users: req.users.len(),
                encryption_scheme: req.encryption_scheme.clone(),
                factor: req.factor,
                validate_db_constraints: req.validate_db_constraints,
                upsert: req.upsert,
            },
            Input::Json(body) => stream::flags(body).map_err(json_error)?,
        };
        if flags.users == 0 {
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
        let plain_scheme = flags
            .encryption_scheme
            .clone()
            .unwrap_or_else(|| portcullis_hash::DEFAULT_SCHEME.to_string());
        let upsert = flags.upsert;
        // A hash costlier to verify than the tenant allows would make each login attempt
        // against it seconds of CPU: refused here, per user, before anything is written.
        let (encryption, rules) = match self.store().tenant(tenant).await? {
            Some(t) => (
                crate::settings::PasswordEncryption::of(&t),
                crate::settings::PasswordRules::of(&t),
            ),
            None => Default::default(),
        };
        let budget = CostBudget::of(&encryption, self.pool().registry());

        let now = now_millis();
        let mut errors = Errors::default();
        let mut check = check::RequestCheck::new(
            self.pool().registry(),
            &apps,
            &groups,
            &budget,
            &rules,
            &plain_scheme,
            flags.factor,
            upsert,
            now,
        );
        // Without upsert each user becomes its row as soon as it is checked, and once a user
        // failed no more rows are built: the request writes nothing.
        let mut new = NewRows::default();
        let mut checked = Vec::new();
        {
            let keys = self.two_factor_keys();
            let mut each = |i: usize, input: ImportUser| {
                let mut c = check.user(i, input, &mut errors);
                // Authenticator secrets are sealed and recovery codes hashed before anything
                // holds them.
                let tf = &c.user.two_factor;
                if !tf.methods.is_empty() || !tf.recovery_codes.is_empty() {
                    crate::two_factor::seal(
                        &mut c.user.two_factor,
                        keys,
                        &format!("users[{i}].twoFactor"),
                        &mut errors,
                    );
                }
                if upsert {
                    checked.push(c);
                } else if errors.is_empty() {
                    let mut user = c.user;
                    let has_secret = !matches!(c.secret, Secret::None);
                    upsert::stamp_new(&mut user, tenant, has_secret, now);
                    new.push(i, user, c.secret);
                }
            };
            match input {
                Input::Parsed(req) => {
                    for (i, u) in req.users.into_iter().enumerate() {
                        each(i, u);
                    }
                }
                Input::Json(body) => stream::users(body, &mut each).map_err(json_error)?,
            }
        }

        // Upsert: each user is created, or updated over the stored user it matches.
        let (updated, updated_secrets) = if upsert {
            let matches = self.match_stored(tenant, &checked, &mut errors).await?;
            let plan = upsert::plan(tenant, upsert, now, checked, matches, &mut errors);
            for ((i, user), secret) in plan.created.into_iter().zip(plan.created_secrets) {
                new.push(i, user, secret);
            }
            (plan.updated, plan.updated_secrets)
        } else {
            Default::default()
        };

        if flags.validate_db_constraints {
            self.check_against_store(tenant, &new, &mut errors).await?;
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors.general(
                "[ImportRequestFailed]",
                "Nothing was imported: correct the users named in fieldErrors and send the request again.",
            )));
        }

        let (plain_rows, mut secrets): (Vec<usize>, Vec<Secret>) = std::mem::take(&mut new.plain)
            .into_iter()
            .map(|(k, p)| (k, Secret::Plain(p)))
            .unzip();
        secrets.extend(updated_secrets);
        let mut credentials = self.hash_all(&plain_scheme, flags.factor, secrets).await?;
        let updated_credentials = credentials.split_off(plain_rows.len());
        for (k, c) in plain_rows.into_iter().zip(credentials) {
            if let Some(c) = c {
                new.rows[k] = new.rows[k].with_credential(&c);
            }
        }
        // A matched user without a new password keeps the stored one.
        let updated_users: Vec<StoredUser> = updated
            .into_iter()
            .zip(updated_credentials)
            .map(|((user, old), new)| StoredUser {
                user,
                credential: new.or(old),
            })
            .collect();
        let mut events: Vec<EventText> = if new.rows.is_empty() {
            Vec::new()
        } else {
            vec![Event::user_bulk_create(tenant, new.rows.iter())]
        };
        self.transact_texts(&mut events).await?;
        match self
            .store()
            .import_users(&new.rows, &updated_users, &events, job)
            .await
        {
            Ok(()) => Ok(ImportSummary {
                users_created: new.rows.len(),
                users_updated: updated_users.len(),
                upsert,
            }),
            Err(StoreError::Duplicate(_)) => {
                // A unique index refused the batch: find out who, so the answer is precise.
                let mut errors = Errors::default();
                self.check_against_store(tenant, &new, &mut errors).await?;
                Err(Error::Invalid(errors.general(
                    "[ImportRequestFailed]",
                    "Nothing was imported: one or more users already exist (see fieldErrors). Send validateDbConstraints: true to check before writing.",
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reports new users whose id, email or username is already taken in the store.
    async fn check_against_store(
        &self,
        tenant: Uuid,
        new: &NewRows,
        errors: &mut Errors,
    ) -> Result<()> {
        let ids: Vec<Uuid> = new.rows.iter().map(|r| r.id).collect();
        let emails: Vec<String> = new
            .rows
            .iter()
            .filter_map(|r| r.email_lower())
            .filter(|e| validate::is_identifier(e, validate::EMAIL_MAX))
            .map(str::to_string)
            .collect();
        let names: Vec<String> = new
            .rows
            .iter()
            .filter_map(|r| r.username_lower())
            .filter(|n| validate::is_identifier(n, validate::USERNAME_MAX))
            .map(str::to_string)
            .collect();
        let taken = self.store().taken(tenant, &ids, &emails, &names).await?;
        for (i, u) in new.order.iter().zip(&new.rows) {
            let at = format!("users[{i}]");
            if taken.ids.contains(&u.id) {
                errors.add_field(
                    &format!("{at}.id"),
                    "[duplicate]user.id",
                    format!("{at}: a user with the id [{}] already exists.", u.id),
                );
            }
            if u.email_lower().is_some_and(|e| taken.emails.contains(e)) {
                errors.add_field(
                    &format!("{at}.email"),
                    "[duplicate]user.email",
                    format!(
                        "{at}: a user with the email [{}] already exists in the tenant.",
                        u.email().unwrap_or_default()
                    ),
                );
            }
            if u.username_lower()
                .is_some_and(|n| taken.usernames.contains(n))
            {
                errors.add_field(
                    &format!("{at}.username"),
                    "[duplicate]user.username",
                    format!(
                        "{at}: a user with the username [{}] already exists in the tenant.",
                        u.username().unwrap_or_default()
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
                            let registry = self.pool().registry().clone();
                            let job =
                                move || registry.hash_password(&for_job, factor, p.0.as_bytes());
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
    fn of(
        encryption: &crate::settings::PasswordEncryption,
        schemes: &portcullis_hash::Registry,
    ) -> Self {
        CostBudget {
            factor: encryption.import_cost_factor(),
            own: encryption.own_cost(schemes),
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
