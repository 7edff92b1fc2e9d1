//! The LDAP connector (OpenLDAP, Active Directory): search with a system account, bind as the
//! found DN to check the password, map attributes to the user.
//!
//! Not implemented yet: every call fails as `unsupported`, and saving an LDAP connector is
//! refused.

use crate::config::Reader;
use crate::guard::Limits;
use portcullis_domain::connectors::{
    FailureKind, LegacyError, LegacyLogin, LegacyResult, LegacyUser,
};
use uuid::Uuid;

pub struct Ldap {
    _connector_id: Uuid,
}

impl Ldap {
    pub fn read(r: &mut Reader, connector_id: Uuid, _limits: &Limits) -> Option<Self> {
        r.invalid("type", "LDAP connectors are not available yet.");
        Some(Self {
            _connector_id: connector_id,
        })
    }

    pub async fn authenticate(&self, _login: &LegacyLogin<'_>) -> LegacyResult<Option<LegacyUser>> {
        Err(LegacyError::new(
            FailureKind::Unsupported,
            "LDAP is not available yet",
        ))
    }

    pub async fn lookup(&self, _login_id: &str) -> LegacyResult<Option<LegacyUser>> {
        Err(LegacyError::new(
            FailureKind::Unsupported,
            "LDAP is not available yet",
        ))
    }
}
