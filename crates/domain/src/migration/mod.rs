//! The slow migration: connectors to legacy user stores and the tenants' policies that use them
//! (`connectors`, `resources`), the first login that asks a legacy system and copies the user in
//! (`first_login`), forgot password for users still in a legacy system (`forgot`), and the exact
//! progress report with its forecast (`progress`).

mod adopt;
pub mod connectors;
pub mod first_login;
pub mod forgot;
pub mod progress;
mod resources;

pub use progress::{
    date_of, forecast, legacy_user_count, ConnectorStatus, DayCount, Forecast, MigrationStatus,
    StatusQuery, TenantStatus,
};

use crate::model::*;
use connectors::ConnectorPolicy;

/// `tenant.connectorPolicies`, in order. A malformed block reads as none (tenant saves refuse it).
pub fn policies(tenant: &Tenant) -> Vec<ConnectorPolicy> {
    tenant
        .settings
        .get("connectorPolicies")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// Outcome counter names besides the failure kinds.
pub const MIGRATED: &str = "migrated";
pub const LOGIN: &str = "login";
pub const NOT_FOUND: &str = "notFound";
