//! The big-bang import (`POST /api/user/import`, FusionAuth's Import API): many users with their
//! registrations, memberships and existing password hashes, validated as a whole and written in
//! one transaction — all land or none do.
//!
//! Cheap checks (shape, references, duplicates inside the request, hash syntax and limits) always
//! run and name the user's index. Checks against the store's existing users are a query per
//! thousand users, so they run when `validateDbConstraints` asks for them — and, whatever the
//! flag, after a unique index refused the write, to say which user collided.
//!
//! New users are written while the request is parsed: a blocking thread parses and checks the
//! body and hands the new users' rows, a slice at a time over a bounded channel, to the
//! request's task, which writes each slice into the import's open transaction while the next
//! is built. A request so holds its body, the keys its duplicate checks need and some slices
//! of rows, never all its rows; the transaction commits only once the whole request parsed and
//! passed, and any failure rolls it back. Plaintext passwords are hashed a slice at a time
//! before its write. An upsert, and an import whose tenant holds `user.bulk.create` for its
//! webhooks before the write (no database lock is held while they answer), keep every row
//! until the write.
//!
//! With `upsert` (ours, for delta loads of a moving target) each user is first matched with a
//! stored user of the tenant — by id, else email, else username — and a matched user is updated:
//! the fields the request gives replace the stored ones (a JSON merge patch of exactly the keys
//! present, so `data` merges key by key), the others are kept; given registrations and
//! memberships are added or replace the one of the same application or group, the others stay.

mod body;
pub mod budget;
pub mod bulk_delete;
mod check;
pub mod jobs;
mod row;
mod stream;
mod upsert;

pub use body::user_body;
pub use budget::{BudgetShare, ImportBudget};
pub use row::NewUserRow;
pub use stream::ImportBody;

use crate::event::EventText;
use crate::identity::{Identity, Result};
use crate::model::*;
use crate::{validate, Error, Errors, Event, StoreError};
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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

/// The shape of a user to import, for the API's schema: the user's fields and the three that
/// say how its password is hashed.
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema, Deserialize)]
#[schema(as = ImportUser)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
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
    /// Parses the user from its raw text twice: once into the user, once for its key names and
    /// the three fields beside the user's own. Cheaper than going through a `serde_json::Value`
    /// or serde's buffering of flattened fields for every user of a big file.
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        let user: User = serde_json::from_str(raw.get()).map_err(D::Error::custom)?;
        let beside: Beside = serde_json::from_str(raw.get()).map_err(D::Error::custom)?;
        Ok(ImportUser {
            user,
            encryption_scheme: beside.encryption_scheme,
            factor: beside.factor,
            salt: beside.salt,
            given: beside.given,
        })
    }
}

/// What an import's user gives beside the user's own fields: how its password is hashed, and
/// the names of all its keys.
#[derive(Default)]
struct Beside {
    encryption_scheme: Option<String>,
    factor: Option<u32>,
    salt: Option<String>,
    given: BTreeSet<String>,
}

impl<'de> Deserialize<'de> for Beside {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(BesideVisitor)
    }
}

struct BesideVisitor;

impl<'de> serde::de::Visitor<'de> for BesideVisitor {
    type Value = Beside;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("struct ImportUser")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Beside, A::Error> {
        use serde::de::Error as _;
        let mut b = Beside::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let key = key.into_owned();
            match key.as_str() {
                "encryptionScheme" | "factor" | "salt" if b.given.contains(&key) => {
                    return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
                }
                "encryptionScheme" => b.encryption_scheme = map.next_value()?,
                "factor" => b.factor = map.next_value()?,
                "salt" => b.salt = map.next_value()?,
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            b.given.insert(key);
        }
        Ok(b)
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

/// New users the parse hands to the writer at a time, unless the store asks for another size
/// ([`crate::Store::import_slice`]): enough for the store's bulk statements to run at full
/// speed, few enough that the rows in flight (one slice being built, one waiting, one being
/// written) stay some megabytes whatever the size of the request.
pub const SLICE: usize = 2_000;

/// The first slice of a request at most: small, so the writer starts on it while the parse
/// builds the next, instead of waiting for a whole slice to be parsed.
const FIRST_SLICE: usize = 250;

/// The answer when users of the request already exist in the store, found after a unique index
/// refused them.
fn already_exist(errors: Errors) -> Error {
    Error::Invalid(errors.general(
        "[ImportRequestFailed]",
        "Nothing was imported: one or more users already exist (see fieldErrors). Send validateDbConstraints: true to check before writing.",
    ))
}

/// The parse of an import on its blocking thread, with what checking its users needs.
struct Parse {
    identity: Identity,
    input: Input,
    apps: HashMap<Uuid, Application>,
    groups: HashSet<Uuid>,
    budget: CostBudget,
    rules: crate::settings::PasswordRules,
    plain_scheme: String,
    plain_factor: Option<u32>,
    upsert: bool,
    /// Whether the first pass scanned the body ([`stream::Flags::plain`]).
    plain: bool,
    /// New users per slice ([`crate::Store::import_slice`]).
    size: usize,
    tenant: Uuid,
    now: Millis,
    /// The new users' rows, a slice at a time (without upsert).
    out: tokio::sync::mpsc::Sender<NewRows>,
    /// The slices the writer is done with, freed here: memory goes back fastest to the thread
    /// that allocated it, and the writer's thread is the import's busiest.
    written: std::sync::mpsc::Receiver<NewRows>,
    /// `user.bulk.create`, a user added as each row is built.
    event: crate::event::BulkCreateEvent,
    /// Raised at the first user that fails a check: the writer then writes nothing more.
    failed: Arc<AtomicBool>,
}

/// What the parse found.
struct Parsed {
    /// `user.bulk.create` naming every new user (without upsert).
    event: crate::event::BulkCreateEvent,
    /// A body that is not an import request's JSON.
    result: serde_json::Result<()>,
    /// Every problem of every user, keyed `users[i]...`.
    errors: Errors,
    /// With upsert: the checked users, matched with the store once all are read.
    checked: Vec<check::Checked>,
    now: Millis,
}

impl Parse {
    fn run(self) -> Parsed {
        let Parse {
            identity,
            input,
            apps,
            groups,
            budget,
            rules,
            plain_scheme,
            plain_factor,
            upsert,
            plain,
            size,
            tenant,
            now,
            out,
            written,
            mut event,
            failed,
        } = self;
        let mut errors = Errors::default();
        let mut check = check::RequestCheck::new(
            identity.pool().registry(),
            &apps,
            &groups,
            &budget,
            &rules,
            &plain_scheme,
            plain_factor,
            upsert,
            now,
        );
        let mut new = NewRows::default();
        let mut slice = FIRST_SLICE.min(size);
        let mut checked = Vec::new();
        // The writer stopped (it failed): the rest of the body is only read through.
        let mut gone = false;
        let result = {
            let keys = identity.two_factor_keys();
            let mut each = |i: usize, input: ImportUser| {
                if gone {
                    return;
                }
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
                } else if !errors.is_empty() {
                    // Once a user failed no more rows are built: the request writes nothing.
                    // The rows before it still go to the writer, which checks them against
                    // the store when asked to.
                    if !failed.swap(true, Ordering::Relaxed) && !new.rows.is_empty() {
                        gone = out.blocking_send(std::mem::take(&mut new)).is_err();
                    }
                } else {
                    let mut user = c.user;
                    let has_secret = !matches!(c.secret, Secret::None);
                    upsert::stamp_new(&mut user, tenant, has_secret, now);
                    new.push(i, user, c.secret);
                    event.push(new.rows.last().expect("just pushed"));
                    if new.rows.len() >= slice {
                        gone = out.blocking_send(std::mem::take(&mut new)).is_err();
                        slice = size;
                        written.try_iter().for_each(drop);
                    }
                }
            };
            match input {
                Input::Parsed(req) => {
                    for (i, u) in req.users.into_iter().enumerate() {
                        each(i, u);
                    }
                    Ok(())
                }
                Input::Json(body) => stream::users(body, plain, &mut each),
            }
        };
        if result.is_ok() && !gone && !new.rows.is_empty() {
            let _ = out.blocking_send(new);
        }
        Parsed {
            event,
            result,
            errors,
            checked,
            now,
        }
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
    ///
    /// The body is parsed and checked on a blocking thread, which hands the new users' rows
    /// over a bounded channel a [`SLICE`] at a time; this task writes each slice into the
    /// import's open transaction while the thread builds the next. Once a user fails a check,
    /// no more rows are written and the transaction rolls back; it commits only after the
    /// whole request parsed and passed.
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
                plain: false,
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
        // Webhooks that hold the event before the write are called with every user in it, and
        // no database lock may be held while they are waited for: the rows wait in memory
        // until then.
        let held = !upsert && self.holds_events(tenant, "user.bulk.create").await?;

        let (out, mut slices) = tokio::sync::mpsc::channel::<NewRows>(1);
        let (done, written) = std::sync::mpsc::channel::<NewRows>();
        let failed = Arc::new(AtomicBool::new(false));
        let parse = Parse {
            identity: self.clone(),
            input,
            apps,
            groups,
            budget,
            rules,
            plain_scheme: plain_scheme.clone(),
            plain_factor: flags.factor,
            upsert,
            plain: flags.plain,
            size: self.store().import_slice(),
            tenant,
            now: now_millis(),
            out,
            written,
            event: crate::event::BulkCreateEvent::new(tenant),
            failed: failed.clone(),
        };
        let parsing = tokio::task::spawn_blocking(move || parse.run());

        let mut write: Option<Box<dyn crate::ImportWriter>> = None;
        let mut waiting: Vec<NewRows> = Vec::new();
        let mut store_errors = Errors::default();
        // A unique index refused a slice: the rest is only checked against the store, to name
        // every user that collides.
        let mut refused = false;
        while let Some(mut slice) = slices.recv().await {
            if flags.validate_db_constraints || refused {
                self.check_against_store(tenant, &slice, &mut store_errors)
                    .await?;
            }
            if refused || failed.load(Ordering::Relaxed) || !store_errors.is_empty() {
                // Dropped: the transaction rolls back.
                write = None;
                continue;
            }
            self.hash_new(&plain_scheme, flags.factor, &mut slice)
                .await?;
            if held {
                waiting.push(slice);
            } else if !self.write_new(&mut write, &slice).await? {
                refused = true;
                write = None;
                self.check_against_store(tenant, &slice, &mut store_errors)
                    .await?;
            } else {
                // Freed by the parse, or here once it has ended.
                let _ = done.send(slice);
            }
        }
        let parsed = match parsing.await {
            Ok(p) => p,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => return Err(Error::Store(format!("the import's parse stopped: {e}"))),
        };
        parsed.result.map_err(json_error)?;
        let event = parsed.event;
        let mut errors = parsed.errors;
        if upsert {
            return self
                .upsert_users(
                    tenant,
                    &flags,
                    &plain_scheme,
                    parsed.now,
                    parsed.checked,
                    errors,
                    job,
                )
                .await;
        }

        if flags.validate_db_constraints {
            errors.append(std::mem::take(&mut store_errors));
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors.general(
                "[ImportRequestFailed]",
                "Nothing was imported: correct the users named in fieldErrors and send the request again.",
            )));
        }
        if refused {
            return Err(already_exist(store_errors));
        }
        let users_created = event.users();
        let mut events: Vec<EventText> = if users_created == 0 {
            Vec::new()
        } else {
            vec![event.finish()]
        };
        self.transact_texts(&mut events).await?;
        for (n, slice) in waiting.iter().enumerate() {
            if !self.write_new(&mut write, slice).await? {
                drop(write.take());
                let mut errors = Errors::default();
                for s in &waiting[n..] {
                    self.check_against_store(tenant, s, &mut errors).await?;
                }
                return Err(already_exist(errors));
            }
        }
        let write = match write {
            Some(w) => w,
            None => self.store().begin_import().await?,
        };
        match write.finish(&[], &events, job).await {
            Ok(()) => Ok(ImportSummary {
                users_created,
                users_updated: 0,
                upsert,
            }),
            Err(StoreError::Duplicate(_)) => Err(already_exist(Errors::default())),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a slice of new users into the import's transaction, opening it first if need be;
    /// false when a unique index refused them (the transaction is then of no further use).
    async fn write_new(
        &self,
        write: &mut Option<Box<dyn crate::ImportWriter>>,
        slice: &NewRows,
    ) -> Result<bool> {
        if slice.rows.is_empty() {
            return Ok(true);
        }
        let w = match write {
            Some(w) => w,
            None => write.insert(self.store().begin_import().await?),
        };
        match w.created(&slice.rows).await {
            Ok(()) => Ok(true),
            Err(StoreError::Duplicate(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Hashes the slice's plaintext passwords on the pool and puts each credential in its row.
    async fn hash_new(&self, scheme: &str, factor: Option<u32>, new: &mut NewRows) -> Result<()> {
        if new.plain.is_empty() {
            return Ok(());
        }
        let (rows, secrets): (Vec<usize>, Vec<Secret>) = std::mem::take(&mut new.plain)
            .into_iter()
            .map(|(k, p)| (k, Secret::Plain(p)))
            .unzip();
        let credentials = self.hash_all(scheme, factor, secrets).await?;
        for (k, c) in rows.into_iter().zip(credentials) {
            if let Some(c) = c {
                new.rows[k] = new.rows[k].with_credential(&c);
            }
        }
        Ok(())
    }

    /// The rest of an upsert once its request is parsed and checked: each user is created, or
    /// updated over the stored user it matches, all written together at the end.
    #[allow(clippy::too_many_arguments)]
    async fn upsert_users(
        &self,
        tenant: Uuid,
        flags: &stream::Flags,
        plain_scheme: &str,
        now: Millis,
        checked: Vec<check::Checked>,
        mut errors: Errors,
        job: Option<&jobs::JobClaim>,
    ) -> Result<ImportSummary> {
        let mut new = NewRows::default();
        let matches = self.match_stored(tenant, &checked, &mut errors).await?;
        let plan = upsert::plan(tenant, true, now, checked, matches, &mut errors);
        for ((i, user), secret) in plan.created.into_iter().zip(plan.created_secrets) {
            new.push(i, user, secret);
        }
        let (updated, updated_secrets) = (plan.updated, plan.updated_secrets);

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
        let mut credentials = self.hash_all(plain_scheme, flags.factor, secrets).await?;
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
                upsert: true,
            }),
            Err(StoreError::Duplicate(_)) => {
                // A unique index refused the batch: find out who, so the answer is precise.
                let mut errors = Errors::default();
                self.check_against_store(tenant, &new, &mut errors).await?;
                Err(already_exist(errors))
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
