//! The identity model of Portcullis and its rules, in FusionAuth's JSON shape, whatever the
//! transport or database. One folder per area:
//!
//! - `identity`: tenants, applications and roles, groups, users, registrations, API keys;
//! - `sessions`: login, passwords, refresh tokens, the Key API and the token service;
//! - `migration`: connectors to legacy systems, first login, forgot password, progress;
//! - `import`: the bulk import, import jobs, bulk delete;
//! - `search`: the user search query languages, their predicate tree, sorting and paging;
//! - `oauth`: the OAuth 2.0 / OpenID Connect provider (clients, codes, SSO sessions, grants);
//! - `event`: the events written with the changes they describe;
//! - `webhooks`: webhook resources, their delivery attempts from the events outbox, signatures.
//!
//! Beside them: the model (`model`, `settings`), validation (`validate`), random secrets
//! (`secrets`), second factors' stored form, TOTP and the encryption of their secrets
//! (`two_factor`), the one domain `Error`, and the interfaces a backend implements ([`Store`],
//! `SessionStore`, `ConnectorStore`) or the server provides (`LegacySystems`, `mail::Mailer`).
//! It knows nothing of HTTP or SQL.

mod error;
pub mod event;
pub mod identity;
pub mod import;
pub mod mail;
pub mod migration;
pub mod model;
pub mod oauth;
pub mod patch;
pub mod search;
pub mod secrets;
mod session_store;
pub mod sessions;
pub mod settings;
mod store;
pub mod two_factor;
pub mod validate;
pub mod webhooks;

pub use error::{Error, ErrorItem, Errors, StoreError, StoreResult};
pub use event::{Event, ImportJob, JobState};
pub use identity::{DefaultIds, Identity, Theme, ThemeCheck, ThemeStore, ADMIN_ROLE};
pub use import::bulk_delete::{BulkDeleteOutcome, BulkDeleteRequest};
pub use import::jobs::{ClaimedJob, JobInput};
pub use import::{ImportRequest, ImportSummary, ImportUser};
pub use migration::connectors::{Connector, ConnectorPolicy, LegacySystems};
pub use migration::forgot::{reset_queue, PendingReset, ResetInbox, ResetQueue};
pub use model::*;
pub use session_store::{
    AttemptCount, AttemptsBack, LoginLocks, RefreshTokens, SessionStore, StoredKey,
    StoredRefreshToken, TwoFactorRow,
};
pub use sessions::{
    ChangePasswordRequest, ImportedRefreshToken, KeyView, LoginOutcome, LoginRequest, Sessions,
    TokenService,
};
pub use store::{
    login_subject, read_then_count, user_subject, BulkDelete, CountedLoginRead, ImportWriter,
    LoginWrites, Store, Taken,
};
pub use validate::normalize_login_id;
pub use webhooks::{Webhook, WebhookSender, WebhookStore};
