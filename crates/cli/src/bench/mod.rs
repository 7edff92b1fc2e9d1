//! `portcullis bench ...`: end-to-end figures, each printed beside the limit it is judged by and
//! measured in the same run (MISSION §13). One module per path measured.

mod import;
mod login;
mod migrate;
mod tenant_delete;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Import users/s through the API and into the store, against a bare INSERT (SQLite) and
    /// COPY (PostgreSQL) of the same rows.
    Import(import::ImportBench),
    /// Logins/s at the tenant's default hash against cores / verify time; CPU per login beside
    /// the hash; refresh-token grants/s. SQLite and PostgreSQL (PORTCULLIS_TEST_POSTGRES_URL).
    Login(login::LoginBench),
    /// The slow-migration first login against an instant legacy endpoint: legacy call, hash and
    /// our own work timed apart (target ≤ 1 ms of our own); migrations/s at the default hash.
    Migrate(migrate::MigrateBench),
    /// Users/s deleting a tenant of imported users (DELETE /api/tenant, DELETE /api/user/bulk)
    /// against a bare DELETE FROM users; the time 1 M users would take.
    TenantDelete(tenant_delete::TenantDeleteBench),
}

pub async fn run(cmd: BenchCommand) -> Result<(), String> {
    match cmd {
        BenchCommand::Import(b) => import::run(b).await,
        BenchCommand::Login(b) => login::run(b).await,
        BenchCommand::Migrate(b) => migrate::run(b).await,
        BenchCommand::TenantDelete(b) => tenant_delete::run(b).await,
    }
}
