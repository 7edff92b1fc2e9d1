//! What login and tokens need from storage, beside the identity model: signing keys, refresh
//! tokens, change-password ids and login-attempt counts. Kept in the database so that several
//! nodes share keys, sessions and lockouts.

use crate::model::Millis;
use crate::StoreResult;
use uuid::Uuid;

/// A tenant's signing key as stored. `secret` is private key material (see `portcullis-jwt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: String,
    pub tenant_id: Uuid,
    pub algorithm: String,
    pub secret: String,
    /// `active` signs new tokens; `retiring` only verifies until its tokens have expired.
    pub status: String,
    pub insert_instant: Millis,
    /// For a retiring key: when its last token expires; it is dropped after that.
    pub expires_instant: Option<Millis>,
}

/// A refresh token as stored: only its SHA-256 is kept, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRefreshToken {
    /// FusionAuth's `refreshTokenId`.
    pub id: Uuid,
    pub token_hash: String,
    /// Every token rotated from one login shares the family (also the JWT's `sid`).
    pub family_id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub application_id: Uuid,
    /// When the user typed the password (the JWT's `auth_time`), kept across rotations.
    pub start_instant: Millis,
    pub insert_instant: Millis,
    pub expires_instant: Millis,
    /// Set when the token was exchanged (one-time use); a second use is a reuse.
    pub used_instant: Option<Millis>,
}

/// What a login learns before it hashes: see [`SessionStore::login_locks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginLocks {
    pub locked_until: Option<Millis>,
}

/// One subject's count after [`SessionStore::count_login_attempt`]: attempts in its window, the
/// counted one included, and when the count starts over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptCount {
    pub subject: String,
    pub n: u64,
    pub expires_instant: Millis,
}

/// Attempts a login takes back once it is decided without a failure (see
/// [`SessionStore::forget_login_attempts`]).
#[derive(Debug, Clone, Copy)]
pub struct AttemptsBack<'a> {
    pub tenant: Uuid,
    /// Counts that start over (the subject whose password was right).
    pub reset: &'a [String],
    /// Counts that lose this attempt only (a shared address behind which others may fail).
    pub give_back: &'a [String],
}

/// A row of two-factor state (see `0010_two_factor.sql`): a pending login, a trusted computer,
/// an emailed code or a used code, keyed by a hash (or, for used codes, a name that is no
/// secret), never by the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwoFactorRow {
    pub key: String,
    /// `login`, `trust`, `email` or `used`.
    pub kind: String,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub expires_instant: Millis,
    /// JSON the kind needs (a pending login's application and address; an emailed code's address).
    pub data: String,
}

/// Which refresh tokens to revoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshTokens<'a> {
    Hash(&'a str),
    Family(Uuid),
    User(Uuid),
    Application(Uuid),
    UserApplication(Uuid, Uuid),
}

#[async_trait::async_trait]
pub trait SessionStore: Send + Sync + 'static {
    async fn insert_signing_key(&self, key: &StoredKey) -> StoreResult<()>;
    /// Keys of one tenant (or of all with `None`), oldest first.
    async fn signing_keys(&self, tenant: Option<Uuid>) -> StoreResult<Vec<StoredKey>>;
    async fn signing_key(&self, kid: &str) -> StoreResult<Option<StoredKey>>;
    /// Marks a key `retiring` until `expires`; false when no such key.
    async fn retire_signing_key(&self, kid: &str, expires: Millis) -> StoreResult<bool>;
    /// Deletes one key; false when there was none.
    async fn delete_signing_key(&self, kid: &str) -> StoreResult<bool>;
    /// Drops retiring keys whose tokens have all expired.
    async fn delete_expired_signing_keys(&self, now: Millis) -> StoreResult<u64>;

    async fn insert_refresh_token(&self, token: &StoredRefreshToken) -> StoreResult<()>;
    /// Inserts tokens in one transaction (an import): all or none.
    async fn insert_refresh_tokens(&self, tokens: &[StoredRefreshToken]) -> StoreResult<()>;
    async fn refresh_token(&self, token_hash: &str) -> StoreResult<Option<StoredRefreshToken>>;
    /// Marks `token_hash` used and inserts `next` (its successor), together: `false`, and
    /// nothing written, when the token was used (or deleted) meanwhile. Atomic, so two nodes
    /// racing with one token cannot both win.
    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        now: Millis,
        next: &StoredRefreshToken,
    ) -> StoreResult<bool>;
    /// Deletes the matching tokens of `tenant`; returns how many.
    async fn delete_refresh_tokens(
        &self,
        tenant: Option<Uuid>,
        which: RefreshTokens<'_>,
    ) -> StoreResult<u64>;

    async fn insert_change_password_id(
        &self,
        id_hash: &str,
        tenant: Uuid,
        user: Uuid,
        expires: Millis,
    ) -> StoreResult<()>;
    /// The tenant, user and expiry of a change-password id.
    async fn change_password_id(&self, id_hash: &str) -> StoreResult<Option<(Uuid, Uuid, Millis)>>;
    /// Uses up a change-password id; false when it was already used (a race lost).
    async fn delete_change_password_id(&self, id_hash: &str) -> StoreResult<bool>;

    /// Counts one login attempt against each of `subjects` (`user:<id>`, `login:<loginId>`,
    /// `ip:<address>`, `reset:<loginId>`), all in one atomic statement, and answers each
    /// subject's count in its window, this attempt included. Called before any password is
    /// verified or legacy system asked, so attempts running at once on any node see each other.
    /// A count whose window has ended starts over at 1 with a window ending at `window_end`.
    async fn count_login_attempt(
        &self,
        tenant: Uuid,
        subjects: &[String],
        now: Millis,
        window_end: Millis,
    ) -> StoreResult<Vec<AttemptCount>>;
    /// Takes attempts back: the counts of `back.reset` start over, those of `back.give_back`
    /// lose one. One statement.
    async fn forget_login_attempts(&self, back: &AttemptsBack<'_>) -> StoreResult<()>;
    /// Locks `subject` until `until`; its attempt count starts over when the lock ends.
    async fn lock_login(&self, tenant: Uuid, subject: &str, until: Millis) -> StoreResult<()>;
    /// Ends `subject`'s lock and starts its attempt count over, in one write.
    async fn unlock_login(&self, tenant: Uuid, subject: &str) -> StoreResult<()>;
    /// The latest lock end among `subjects` that is after `now`, in one read.
    async fn login_locks(
        &self,
        tenant: Uuid,
        subjects: &[String],
        now: Millis,
    ) -> StoreResult<LoginLocks>;

    /// Inserts a two-factor row; `false`, and nothing written, when its key exists (a code used
    /// already). One statement, so two nodes racing with one code cannot both insert it.
    async fn insert_two_factor_row(&self, row: &TwoFactorRow) -> StoreResult<bool>;
    /// The row of `key` and `kind` that has not expired at `now`.
    async fn two_factor_row(
        &self,
        key: &str,
        kind: &str,
        now: Millis,
    ) -> StoreResult<Option<TwoFactorRow>>;
    /// Deletes the row of `key` and `kind` and answers it when it had not expired: the one caller
    /// that gets it uses it.
    async fn take_two_factor_row(
        &self,
        key: &str,
        kind: &str,
        now: Millis,
    ) -> StoreResult<Option<TwoFactorRow>>;
    /// Deletes every row of `kind` of a user (their trusted computers when two-factor is turned
    /// off); answers how many.
    async fn delete_two_factor_rows(&self, user: Uuid, kind: &str) -> StoreResult<u64>;
    /// Writes a user's `twoFactor` (JSON) in place, and with `enrolled` removes
    /// `data.twoFactorEnrolmentRequired`; false when no such user.
    async fn set_two_factor(
        &self,
        user: Uuid,
        two_factor: &str,
        enrolled: bool,
        now: Millis,
    ) -> StoreResult<bool>;
    /// Deletes the two-factor rows that expired at or before `now`; answers how many.
    async fn delete_expired_two_factor_rows(&self, now: Millis) -> StoreResult<u64>;

    /// Deletes the refresh tokens of every tenant that expired at or before `now` (none of them
    /// can be exchanged any more); answers how many. Set-based statements, none per row.
    async fn delete_expired_refresh_tokens(&self, now: Millis) -> StoreResult<u64>;
    /// Deletes the change-password ids that expired at or before `now`; answers how many.
    async fn delete_expired_change_password_ids(&self, now: Millis) -> StoreResult<u64>;
    /// Deletes login-attempt counts whose window ended at or before `now` (the next attempt
    /// would start them over at 1) and locks that ended; answers how many rows.
    async fn delete_ended_login_attempts(&self, now: Millis) -> StoreResult<u64>;
}
