//! The storage interface the services depend on. `portcullis-store` implements it for SQLite and
//! PostgreSQL; the domain never sees SQL.
//!
//! Every read that takes a [`Scope`] filters by tenant when the scope names one, so a caller
//! limited to tenant A cannot reach tenant B's rows by id.

use crate::model::*;
use crate::{Event, ImportJob, LoginLocks, StoreResult};
use portcullis_hash::Credential;
use uuid::Uuid;

/// What a successful login writes. Only `lastLoginInstant` of the user (and, with
/// `application`, of that registration) changes: the rest of the stored user is not rewritten,
/// so a profile update running at the same time is never lost.
#[derive(Debug, Clone, Copy)]
pub struct LoginWrites<'a> {
    pub user: Uuid,
    pub application: Option<Uuid>,
    pub now: Millis,
    /// `user.login.success`, riding with the change it describes.
    pub event: Option<&'a Event>,
    pub refresh_token: Option<&'a crate::StoredRefreshToken>,
    /// The brute-force counts this login takes back (see `SessionStore::forget_login_attempts`).
    pub attempts: Option<crate::AttemptsBack<'a>>,
}

#[async_trait::async_trait]
pub trait Store:
    crate::SessionStore
    + crate::migration::connectors::ConnectorStore
    + crate::oauth::OAuthStore
    + crate::identity::ThemeStore
    + crate::webhooks::WebhookStore
    + Send
    + Sync
    + 'static
{
    /// Database readiness for `/api/status`.
    async fn ping(&self) -> StoreResult<()>;
    /// True when no user and no API key exists (Kickstart runs only then).
    async fn is_pristine(&self) -> StoreResult<bool>;

    async fn insert_tenant(&self, tenant: &Tenant) -> StoreResult<()>;
    async fn tenant(&self, id: Uuid) -> StoreResult<Option<Tenant>>;
    async fn tenants(&self) -> StoreResult<Vec<Tenant>>;
    async fn update_tenant(&self, tenant: &Tenant) -> StoreResult<()>;
    /// Deletes the tenant and everything in it.
    async fn delete_tenant(&self, id: Uuid) -> StoreResult<bool>;

    async fn insert_application(&self, app: &Application) -> StoreResult<()>;
    async fn application(&self, scope: Scope, id: Uuid) -> StoreResult<Option<Application>>;
    async fn applications(&self, scope: Scope) -> StoreResult<Vec<Application>>;
    /// Updates the application; each role in `removed` (roles it no longer has) leaves the
    /// registrations of the application and the groups of its tenant, in the same transaction.
    async fn update_application(&self, app: &Application, removed: &[Role]) -> StoreResult<()>;
    /// Deletes the application and its registrations.
    async fn delete_application(&self, scope: Scope, id: Uuid) -> StoreResult<bool>;

    async fn insert_group(&self, group: &Group) -> StoreResult<()>;
    async fn group(&self, scope: Scope, id: Uuid) -> StoreResult<Option<Group>>;
    async fn groups(&self, scope: Scope) -> StoreResult<Vec<Group>>;
    async fn update_group(&self, group: &Group) -> StoreResult<()>;
    /// Deletes the group and its memberships.
    async fn delete_group(&self, scope: Scope, id: Uuid) -> StoreResult<bool>;

    /// Inserts memberships (each with id, group and user set) in one transaction.
    async fn insert_memberships(&self, tenant: Uuid, members: &[Membership]) -> StoreResult<()>;
    async fn delete_membership(&self, scope: Scope, group: Uuid, user: Uuid) -> StoreResult<bool>;
    async fn delete_membership_by_id(&self, scope: Scope, id: Uuid) -> StoreResult<bool>;

    /// Inserts the user with its credential, registrations and memberships in one transaction.
    async fn insert_user(&self, user: &StoredUser) -> StoreResult<()>;
    /// The user with registrations and memberships filled in.
    async fn user(&self, scope: Scope, id: Uuid) -> StoreResult<Option<StoredUser>>;
    async fn user_by_email(&self, tenant: Uuid, email: &str) -> StoreResult<Option<StoredUser>>;
    async fn user_by_username(
        &self,
        tenant: Uuid,
        username: &str,
    ) -> StoreResult<Option<StoredUser>>;
    /// The user whose email (first) or username is `login_id` (lower-cased), in one read.
    async fn user_by_login_id(
        &self,
        tenant: Uuid,
        login_id: &str,
    ) -> StoreResult<Option<StoredUser>> {
        match self.user_by_email(tenant, login_id).await? {
            Some(u) => Ok(Some(u)),
            None => self.user_by_username(tenant, login_id).await,
        }
    }
    /// What a login reads before it hashes, in one round trip: the user of `login_id` (as
    /// [`user_by_login_id`](Self::user_by_login_id)) and the locks of its subjects (as
    /// [`login_locks`](crate::SessionStore::login_locks)): `user:{id}` when the user exists,
    /// else `login_id` itself, then `extra` (the client's address).
    async fn user_for_login(
        &self,
        tenant: Uuid,
        login_id: &str,
        extra: Option<&str>,
        now: Millis,
    ) -> StoreResult<(Option<StoredUser>, LoginLocks)> {
        let user = self.user_by_login_id(tenant, login_id).await?;
        let mut subjects = vec![login_subject(user.as_ref(), login_id)];
        subjects.extend(extra.map(str::to_string));
        let locks = self.login_locks(tenant, &subjects, now).await?;
        Ok((user, locks))
    }
    /// [`user_for_login`](Self::user_for_login) and then, with `window_end` and unless a lock
    /// holds, the attempt counted against the same subjects
    /// ([`count_login_attempt`](crate::SessionStore::count_login_attempt)). A store may do both
    /// in one turn (SQLite: one turn of its writer, on its warm page cache); the counts are
    /// empty when nothing was counted.
    async fn user_for_login_counted(
        &self,
        tenant: Uuid,
        login_id: &str,
        extra: Option<&str>,
        now: Millis,
        window_end: Option<Millis>,
    ) -> StoreResult<CountedLoginRead> {
        read_then_count(self, tenant, login_id, extra, now, window_end).await
    }
    /// Replaces only the user's credential (a rehash on login).
    async fn update_credential(&self, user: Uuid, credential: &Credential) -> StoreResult<()>;
    /// The writes of a successful login, in one round trip (see [`LoginWrites`]).
    async fn record_login(&self, login: &LoginWrites<'_>) -> StoreResult<()>;
    /// Updates the user's profile and credential (not registrations or memberships).
    async fn update_user(&self, user: &StoredUser) -> StoreResult<()>;
    /// Updates the user's profile, in the user's tenant, and with `credential` a new password:
    /// `lastLoginInstant` (and, without a new password, the credential and
    /// `passwordLastUpdateInstant`) keep the row's current values, so a profile update racing
    /// a login or a password change loses neither. `false` when no such user exists.
    async fn update_profile(
        &self,
        user: &User,
        credential: Option<&Credential>,
    ) -> StoreResult<bool>;
    /// Sets the user's credential to a changed password in place: `passwordChangeRequired`
    /// turns false and `passwordLastUpdateInstant` and `lastUpdateInstant` become `now`; the
    /// rest of the profile is left as it is.
    async fn set_password(
        &self,
        user: Uuid,
        credential: &Credential,
        now: Millis,
    ) -> StoreResult<()>;
    async fn delete_user(&self, scope: Scope, id: Uuid) -> StoreResult<bool>;

    // The writes of the Identity service's user and registration changes with the events that
    // describe them (`user.create`, `user.update`...), in the change's transaction; the events
    // are written only when the change found its row.
    async fn insert_user_with_events(&self, user: &StoredUser, events: &[Event])
        -> StoreResult<()>;
    async fn update_profile_with_events(
        &self,
        user: &User,
        credential: Option<&Credential>,
        events: &[Event],
    ) -> StoreResult<bool>;
    async fn set_password_with_events(
        &self,
        user: Uuid,
        credential: &Credential,
        now: Millis,
        events: &[Event],
    ) -> StoreResult<()>;
    async fn delete_user_with_events(
        &self,
        scope: Scope,
        id: Uuid,
        events: &[Event],
    ) -> StoreResult<bool>;
    async fn insert_registration_with_events(
        &self,
        tenant: Uuid,
        user: Uuid,
        reg: &Registration,
        events: &[Event],
    ) -> StoreResult<()>;
    async fn update_registration_with_events(
        &self,
        user: Uuid,
        reg: &Registration,
        events: &[Event],
    ) -> StoreResult<()>;
    async fn delete_registration_with_events(
        &self,
        scope: Scope,
        user: Uuid,
        application: Uuid,
        events: &[Event],
    ) -> StoreResult<bool>;

    async fn insert_registration(
        &self,
        tenant: Uuid,
        user: Uuid,
        reg: &Registration,
    ) -> StoreResult<()>;
    async fn update_registration(&self, user: Uuid, reg: &Registration) -> StoreResult<()>;
    async fn delete_registration(
        &self,
        scope: Scope,
        user: Uuid,
        application: Uuid,
    ) -> StoreResult<bool>;

    /// Opens one import's write transaction: new users go in a slice at a time while the
    /// request is still read, and nothing of it is written unless [`ImportWriter::finish`]
    /// commits (a writer dropped unfinished rolls back).
    async fn begin_import(&self) -> StoreResult<Box<dyn ImportWriter>>;
    /// New users an import hands its writer at a time while the request is read.
    fn import_slice(&self) -> usize {
        crate::import::SLICE
    }
    /// One import's write, in one transaction, all or nothing: inserts `created` with their
    /// credentials, registrations and memberships through the store's bulk path; rewrites
    /// `updated` (profile, credential, and their whole lists of registrations and memberships);
    /// appends `events`. For an import job (`job`: the node's claim on it) it also records the
    /// job's end in that transaction, and writes nothing when the node no longer holds its
    /// claim; so a job's users and its end are committed together or not at all.
    async fn import_users(
        &self,
        created: &[crate::import::NewUserRow],
        updated: &[StoredUser],
        events: &[crate::event::EventText],
        job: Option<&crate::import::jobs::JobClaim>,
    ) -> StoreResult<()> {
        let mut write = self.begin_import().await?;
        for slice in created.chunks(self.import_slice()) {
            write.created(slice).await?;
        }
        write.finish(updated, events, job).await
    }
    /// The users of `tenant` whose id, lower-cased email or lower-cased username is listed, with
    /// credentials, registrations and memberships.
    async fn find_users(
        &self,
        tenant: Uuid,
        ids: &[Uuid],
        emails: &[String],
        usernames: &[String],
    ) -> StoreResult<Vec<StoredUser>>;
    /// Hard-deletes the users of `tenant` that `what` selects, with everything that hangs off
    /// them, in one transaction of set-based statements (none per user); with `dry_run` nothing
    /// is deleted. Answers the exact count and up to `id_limit` of the ids.
    async fn delete_users(
        &self,
        tenant: Uuid,
        what: &BulkDelete,
        dry_run: bool,
        id_limit: usize,
    ) -> StoreResult<(u64, Vec<Uuid>)>;

    /// One page of the users `query` selects, with registrations, memberships and credentials.
    async fn search_users(
        &self,
        query: &crate::search::UserQuery,
    ) -> StoreResult<crate::search::UserPage>;

    /// Appends events (normally a store writes them inside the transaction of their change;
    /// this is for events that describe no write of their own, such as a failed login).
    async fn append_events(&self, events: &[Event]) -> StoreResult<()>;
    /// The latest events, newest first, of `tenant` (or every tenant) and `kind` (or every kind).
    async fn events(
        &self,
        tenant: Option<Uuid>,
        kind: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Event>>;
    /// The user's latest `user.login.success` and `user.login.failed` events, newest first.
    async fn login_events(&self, user: Uuid, limit: usize) -> StoreResult<Vec<Event>>;

    /// Stores a new import job with its request body (a body job) or none (a file job).
    async fn insert_import_job(&self, job: &ImportJob, body: Option<&str>) -> StoreResult<()>;
    async fn import_job(&self, scope: Scope, id: Uuid) -> StoreResult<Option<ImportJob>>;
    /// The `limit` newest import jobs, newest first.
    async fn recent_import_jobs(&self, scope: Scope, limit: usize) -> StoreResult<Vec<ImportJob>>;
    /// Takes the oldest queued job, marks it running and claims it for `node` until `until`
    /// (atomically: of several nodes asking at once, each gets a different job); answers it
    /// with its stored body.
    async fn claim_import_job(
        &self,
        node: &str,
        now: Millis,
        until: Millis,
    ) -> StoreResult<Option<(ImportJob, Option<String>)>>;
    /// Moves the end of `node`'s claim on the running job `id` to `until`; false when `node`
    /// no longer holds it.
    async fn renew_import_job(&self, id: Uuid, node: &str, until: Millis) -> StoreResult<bool>;
    /// Records a job's end (state, counts, errors, finish instant) and drops its stored body,
    /// if `node` still holds its claim; false, and nothing written, otherwise.
    async fn finish_import_job(&self, job: &ImportJob, node: &str) -> StoreResult<bool>;
    /// Puts the running job `id` that `node` holds back in the queue; false when `node` no
    /// longer holds it.
    async fn release_import_job(&self, id: Uuid, node: &str) -> StoreResult<bool>;
    /// Puts running jobs whose claim ended before `now` (their node stopped) back in the
    /// queue; answers how many.
    async fn requeue_import_jobs(&self, now: Millis) -> StoreResult<u64>;
    /// Which of these ids (any tenant), lower-cased emails and usernames (in `tenant`) are taken.
    async fn taken(
        &self,
        tenant: Uuid,
        ids: &[Uuid],
        emails: &[String],
        usernames: &[String],
    ) -> StoreResult<Taken>;

    async fn insert_api_key(&self, key: &ApiKey, key_hash: &str) -> StoreResult<()>;
    async fn api_key(&self, id: Uuid) -> StoreResult<Option<ApiKey>>;
    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKey>>;
    async fn api_keys(&self) -> StoreResult<Vec<ApiKey>>;
    async fn update_api_key(&self, key: &ApiKey) -> StoreResult<()>;
    async fn delete_api_key(&self, id: Uuid) -> StoreResult<bool>;
}

/// One import's open write transaction (see [`Store::begin_import`]).
#[async_trait::async_trait]
pub trait ImportWriter: Send {
    /// Inserts new users with their credentials, registrations and memberships through the
    /// store's bulk path. A unique index that refuses one is [`crate::StoreError::Duplicate`];
    /// the writer is then of no further use.
    async fn created(&mut self, rows: &[crate::import::NewUserRow]) -> StoreResult<()>;
    /// Rewrites `updated` (profile, credential, their whole lists of registrations and
    /// memberships), appends `events`, records the end of the import job `job` names (nothing
    /// is committed when the node no longer holds its claim), and commits.
    async fn finish(
        self: Box<Self>,
        updated: &[StoredUser],
        events: &[crate::event::EventText],
        job: Option<&crate::import::jobs::JobClaim>,
    ) -> StoreResult<()>;
}

/// Which users a bulk delete removes: the conjunction of every filter given, inside one tenant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BulkDelete {
    /// Only these ids, when given.
    pub ids: Option<Vec<Uuid>>,
    /// The users a query selects, when given (see [`crate::search`]).
    pub filter: Option<crate::search::Pred>,
}

/// The answer of [`Store::taken`].
#[derive(Debug, Default)]
pub struct Taken {
    pub ids: std::collections::HashSet<Uuid>,
    pub emails: std::collections::HashSet<String>,
    pub usernames: std::collections::HashSet<String>,
}

/// What [`Store::user_for_login_counted`] answers: the user, the locks, and the counts (empty
/// when nothing was counted).
pub type CountedLoginRead = (Option<StoredUser>, LoginLocks, Vec<crate::AttemptCount>);

/// [`Store::user_for_login_counted`] in two round trips: the read, then the count.
pub async fn read_then_count<S: Store + ?Sized>(
    store: &S,
    tenant: Uuid,
    login_id: &str,
    extra: Option<&str>,
    now: Millis,
    window_end: Option<Millis>,
) -> StoreResult<CountedLoginRead> {
    let (user, locks) = store.user_for_login(tenant, login_id, extra, now).await?;
    let Some(window_end) = window_end.filter(|_| locks.locked_until.is_none()) else {
        return Ok((user, locks, Vec::new()));
    };
    let mut subjects = vec![login_subject(user.as_ref(), login_id)];
    subjects.extend(extra.map(str::to_string));
    let counts = store
        .count_login_attempt(tenant, &subjects, now, window_end)
        .await?;
    Ok((user, locks, counts))
}

/// The subject whose failures a login counts: the user once known (so a lock follows the
/// account whichever of its login ids is typed), else the typed login id (lower-cased), so a
/// lock tells nothing about which accounts exist.
pub fn login_subject(user: Option<&StoredUser>, login_id: &str) -> String {
    match user.and_then(|u| u.user.id) {
        Some(id) => user_subject(id),
        None => format!("login:{login_id}"),
    }
}

/// The subject of a known user's failures and lock (see [`login_subject`]).
pub fn user_subject(id: Uuid) -> String {
    format!("user:{id}")
}
