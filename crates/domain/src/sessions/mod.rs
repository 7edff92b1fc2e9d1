//! Sessions: password login with FusionAuth's outcomes and brute-force locks (`login`), changing
//! a password (`passwords`), the Key API (`keys`), refresh tokens (`refresh`), and the token
//! service every part that issues or verifies our tokens uses (`tokens`), and the second factor
//! of a login with FusionAuth's Two-Factor API (`two_factor`).
//!
//! [`Sessions`] sits beside [`Identity`] and uses its store and hashing pool.

mod history;
mod keys;
mod locks;
mod login;
mod passwords;
mod refresh;
mod sign_in;
pub mod tokens;
mod two_factor;

pub use history::LoginRecord;
pub use keys::KeyView;
pub use tokens::{TokenService, DEFAULT_ALGORITHM};
pub use two_factor::{
    new_secret as new_two_factor_secret, CodeOutcome, EnableTwoFactorRequest, SendCodeRequest,
    TwoFactorLoginRequest, TwoFactorPending,
};

use crate::model::*;
use crate::{Error, Identity};
use portcullis_hash::Credential;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

type Result<T, E = Error> = std::result::Result<T, E>;

/// FusionAuth's login request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    #[serde(default)]
    pub login_id: Option<String>,
    #[serde(default)]
    pub password: Option<Password>,
    #[serde(default)]
    pub application_id: Option<Uuid>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default, rename = "noJWT")]
    pub no_jwt: bool,
    /// A trust id an earlier two-factor login gave (`trustComputer`): skips the code step until
    /// it expires.
    #[serde(default)]
    pub two_factor_trust_id: Option<String>,
}

/// What a successful password check gives the caller.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub user: User,
    pub token: Option<String>,
    pub token_expiration_instant: Option<Millis>,
    pub refresh_token: Option<String>,
    pub refresh_token_id: Option<Uuid>,
    /// A two-factor login with `trustComputer`: the id that skips the step next time.
    pub two_factor_trust_id: Option<String>,
}

/// Every answer of a login besides 400, 404 (unknown user or wrong password: `Error::NotFound`)
/// and 503.
#[derive(Debug)]
pub enum LoginOutcome {
    /// 200.
    Success(Tokens),
    /// 202: the password is right but the user has no registration for the application.
    NotRegistered(Tokens),
    /// 212: the password is right but the tenant verifies emails and this one is not verified
    /// yet (FusionAuth's body, token included).
    EmailNotVerified(Tokens),
    /// 203: the user must change the password first, with this id.
    PasswordChangeRequired { change_password_id: String },
    /// 409: the user is deactivated.
    Inactive,
    /// 410: the account has expired.
    Expired,
    /// 423: too many failed logins, locked until this instant.
    Locked { until: Millis },
    /// 242: the password is right and a second factor is needed (or must be enrolled first).
    TwoFactorRequired(TwoFactorPending),
}

/// FusionAuth's change-password request: `loginId` and `currentPassword` (with an API key), or
/// just `password` with a change-password id.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    #[serde(default)]
    pub login_id: Option<String>,
    #[serde(default)]
    pub current_password: Option<Password>,
    #[serde(default)]
    pub password: Option<Password>,
    #[serde(default)]
    pub ip_address: Option<String>,
}

/// One token of `POST /api/user/refresh-token/import` (FusionAuth's names).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ImportedRefreshToken {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub user_id: Option<Uuid>,
    #[serde(default)]
    pub application_id: Option<Uuid>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    /// When the user logged in (the JWT's `auth_time`); default: `insertInstant`.
    #[serde(default)]
    pub start_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    /// When the old system issued the token; its lifetime counts from here. Default: now.
    #[serde(default)]
    pub insert_instant: Option<Millis>,
}

/// What `POST /api/jwt/refresh` gives.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub token: String,
    pub refresh_token: String,
    pub refresh_token_id: Uuid,
}

/// A scheme and factor to hash with (`None`: the scheme's default).
type HashTarget = (String, Option<u32>);

/// Login, passwords, refresh tokens and the Key API. Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    identity: Identity,
    tokens: TokenService,
    /// (scheme, factor) → a credential of a random password, verified when the user does not
    /// exist so that the answer takes as long as a wrong password.
    dummies: Arc<Mutex<HashMap<HashTarget, Credential>>>,
}

impl Sessions {
    pub fn new(identity: Identity) -> Self {
        Self {
            tokens: TokenService::new(identity.store().clone()),
            identity,
            dummies: Default::default(),
        }
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The token service these sessions issue and verify tokens with.
    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    fn store(&self) -> &Arc<dyn crate::Store> {
        self.identity.store()
    }
}
