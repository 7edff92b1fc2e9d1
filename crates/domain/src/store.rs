//! The storage interface the services depend on. `portcullis-store` implements it for SQLite and
//! PostgreSQL; the domain never sees SQL.
//!
//! Every read that takes a [`Scope`] filters by tenant when the scope names one, so a caller
//! limited to tenant A cannot reach tenant B's rows by id.

use crate::model::*;
use crate::StoreResult;
use uuid::Uuid;

#[async_trait::async_trait]
pub trait Store:
    crate::SessionStore + crate::connectors::ConnectorStore + Send + Sync + 'static
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
    async fn update_application(&self, app: &Application) -> StoreResult<()>;
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
    /// Updates the user's profile and credential (not registrations or memberships).
    async fn update_user(&self, user: &StoredUser) -> StoreResult<()>;
    async fn delete_user(&self, scope: Scope, id: Uuid) -> StoreResult<bool>;

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

    /// Inserts many users with their credentials, registrations and memberships in one
    /// transaction, using the store's bulk path. All or nothing.
    async fn insert_users(&self, users: &[StoredUser]) -> StoreResult<()>;
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

/// The answer of [`Store::taken`].
#[derive(Debug, Default)]
pub struct Taken {
    pub ids: std::collections::HashSet<Uuid>,
    pub emails: std::collections::HashSet<String>,
    pub usernames: std::collections::HashSet<String>,
}
