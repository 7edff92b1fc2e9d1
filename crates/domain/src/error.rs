//! The domain's one error type and FusionAuth's error body (`fieldErrors` / `generalErrors`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorItem {
    pub code: String,
    pub message: String,
}

/// FusionAuth's error body. Field keys are JSON paths (`user.email`, `users[3].email`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Errors {
    pub field_errors: BTreeMap<String, Vec<ErrorItem>>,
    pub general_errors: Vec<ErrorItem>,
}

impl Errors {
    pub fn field(mut self, field: &str, code: &str, message: impl Into<String>) -> Self {
        self.add_field(field, code, message);
        self
    }
    pub fn add_field(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.field_errors
            .entry(field.to_string())
            .or_default()
            .push(ErrorItem {
                code: code.to_string(),
                message: message.into(),
            });
    }
    pub fn general(mut self, code: &str, message: impl Into<String>) -> Self {
        self.general_errors.push(ErrorItem {
            code: code.to_string(),
            message: message.into(),
        });
        self
    }
    /// Adds `other`'s errors after this one's.
    pub fn append(&mut self, other: Errors) {
        for (field, items) in other.field_errors {
            self.field_errors.entry(field).or_default().extend(items);
        }
        self.general_errors.extend(other.general_errors);
    }

    pub fn is_empty(&self) -> bool {
        self.field_errors.is_empty() && self.general_errors.is_empty()
    }
    /// `Ok(())` when nothing was found wrong, else the collected errors.
    pub fn into_result(self) -> Result<(), Error> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self))
        }
    }
}

/// Everything a domain operation can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request was understood but is wrong: 400 with the collected errors.
    #[error("the request is invalid: {0:?}")]
    Invalid(Errors),
    /// No such entity in the caller's scope: 404, and deliberately the same answer as for an
    /// entity of another tenant.
    #[error("not found")]
    NotFound,
    /// The caller may not do this: 401 with an empty body.
    #[error("unauthorized")]
    Unauthorized,
    /// Overloaded (the hashing pool is full): 503, retry later.
    #[error("{0}")]
    Busy(String),
    /// The node holds all the work of this kind it can (the import budget is spent): 503 with
    /// `Retry-After: retry_after_secs`.
    #[error("{message}")]
    Overloaded {
        message: String,
        retry_after_secs: u32,
    },
    /// A legacy system asked through a connector failed (down, slow, garbage, circuit open):
    /// 503 with a general error that says so — never a 404, which would read as a wrong password.
    #[error("legacy system of connector {connector} failed: {failure}")]
    Legacy {
        connector: String,
        failure: crate::migration::connectors::LegacyError,
    },
    /// A stored two-factor secret cannot be opened, or no key is configured to open it: 500
    /// with a general error saying which (never the secret).
    #[error("two-factor key: {0}")]
    TwoFactorKey(String),
    /// The webhooks of a transactional event did not meet the tenant's transaction level, so
    /// the change was not made: 504 with FusionAuth's `[WebhookTransactionException]`.
    #[error("{0}")]
    WebhookTransaction(String),
    /// The store failed: 500. The message is for logs, not for callers.
    #[error("storage failed: {0}")]
    Store(String),
}

impl Error {
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Error::Invalid(Errors::default().field(field, code, message))
    }
    pub fn general(code: &str, message: impl Into<String>) -> Self {
        Error::Invalid(Errors::default().general(code, message))
    }
    pub fn tenant_required() -> Self {
        Error::general(
            "[TenantIdRequired]",
            "More than one tenant exists: send the X-FusionAuth-TenantId header or use an API key locked to a tenant.",
        )
    }
}

/// What a store can answer besides success.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// A unique constraint caught a duplicate; the string is the field (`user.email`).
    #[error("duplicate {0}")]
    Duplicate(&'static str),
    /// A referenced row does not exist (a foreign key).
    #[error("a referenced entity does not exist")]
    MissingReference,
    #[error("{0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate(field) => Error::field(
                field,
                &format!("[duplicate]{field}"),
                format!("The value of [{field}] is already in use."),
            ),
            StoreError::MissingReference => Error::general(
                "[invalid]reference",
                "The request refers to an entity that does not exist (it may have just been deleted).",
            ),
            StoreError::Backend(m) => Error::Store(m),
        }
    }
}

impl From<portcullis_hash::PoolBusy> for Error {
    fn from(e: portcullis_hash::PoolBusy) -> Self {
        Error::Busy(e.to_string())
    }
}
