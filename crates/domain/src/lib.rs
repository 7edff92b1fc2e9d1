//! The identity model of Portcullis and its rules: tenants, applications with roles, groups and
//! memberships, users, registrations and API keys, in FusionAuth's JSON shape.
//!
//! This crate owns what is true of identities whatever the transport or database: validation,
//! tenant scoping, and the services that turn one API call into one store operation. It knows
//! nothing of HTTP or SQL; [`Store`] is the interface a storage backend implements.

pub mod bulk_delete;
pub mod connectors;
mod error;
pub mod event;
pub mod forgot;
pub mod import;
pub mod jobs;
pub mod mail;
pub mod migration;
pub mod model;
pub mod patch;
pub mod service;
mod session_store;
pub mod sessions;
pub mod settings;
mod store;
pub mod validate;

pub use bulk_delete::{BulkDeleteOutcome, BulkDeleteRequest};
pub use connectors::{Connector, ConnectorPolicy, LegacySystems};
pub use error::{Error, ErrorItem, Errors, StoreError, StoreResult};
pub use event::{Event, ImportJob, JobState};
pub use forgot::{reset_queue, PendingReset, ResetInbox, ResetQueue};
pub use import::{ImportRequest, ImportSummary, ImportUser};
pub use jobs::{ClaimedJob, JobInput};
pub use model::*;
pub use service::Identity;
pub use session_store::{
    AttemptCount, AttemptsBack, LoginLocks, RefreshTokens, SessionStore, StoredKey,
    StoredRefreshToken,
};
pub use sessions::{
    ChangePasswordRequest, ImportedRefreshToken, KeyView, LoginOutcome, LoginRequest, Sessions,
};
pub use store::{login_subject, BulkDelete, LoginWrites, Store, Taken};
