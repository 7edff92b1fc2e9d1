//! What every connector's answer must become before the login path may store it: a user with a
//! stable id, an email or a username, no password, and the tenant left to the caller.

use portcullis_domain::migration::connectors::{
    FailureKind, LegacyError, LegacyResult, LegacyUser,
};
use portcullis_domain::User;
use uuid::Uuid;

/// A stable user id for a legacy user without a UUID: the same legacy identity always maps to the
/// same id (UUIDv5 of the connector and the legacy key), so a re-run or a second node agrees.
pub fn stable_id(connector: Uuid, legacy_key: &str) -> Uuid {
    Uuid::new_v5(&connector, legacy_key.as_bytes())
}

/// Checks and tidies a legacy user. A user without email and username is a bad answer; a
/// missing id is derived from the email or username; a password in the answer is dropped.
pub fn finish(connector: Uuid, mut user: User, groups: Vec<String>) -> LegacyResult<LegacyUser> {
    let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
    if blank(&user.email) && blank(&user.username) {
        return Err(LegacyError::new(
            FailureKind::BadAnswer,
            "the legacy system answered a user with neither email nor username",
        ));
    }
    user.password = None;
    user.tenant_id = None;
    user.connector_id = Some(connector);
    if user.id.is_none() {
        let key = user
            .email
            .clone()
            .filter(|s| !s.trim().is_empty())
            .or(user.username.clone())
            .unwrap_or_default()
            .trim()
            .to_lowercase();
        user.id = Some(stable_id(connector, &key));
    }
    Ok(LegacyUser {
        user,
        groups,
        ..LegacyUser::default()
    })
}
