//! `portcullis-bench ...`: end-to-end figures, each printed beside the limit it is judged by and
//! measured in the same run. One module per path measured. A binary of its own, so
//! the server's (`portcullis`) links none of the throw-away databases and bare connections these
//! need.

mod cpu;
mod gateway;
mod import;
mod login;
mod map;
mod migrate;
mod oauth;
mod search;
mod tenant_delete;
mod webhooks;

#[cfg(test)]
mod floor_sql;

#[derive(clap::Parser)]
#[command(
    name = "portcullis-bench",
    version,
    about = "End-to-end benchmarks of Portcullis on throw-away databases, each figure beside its target"
)]
pub enum BenchCommand {
    /// A fast upstream directly, through `portcullis gateway` (public and bearer-token routes),
    /// through nginx auth_request to /api/jwt/validate and through oauth2-proxy: requests/s and
    /// p50/p99 latency; the authenticated share of direct and the p99 added at half the peak.
    Gateway(gateway::GatewayBench),
    /// Import users/s through the API and into the store, against a bare INSERT (SQLite) and
    /// COPY (PostgreSQL) of the same rows.
    Import(import::ImportBench),
    /// Logins/s at the tenant's default hash against cores / verify time; CPU per login beside
    /// the hash; refresh-token grants/s. SQLite and PostgreSQL (PORTCULLIS_TEST_POSTGRES_URL).
    Login(login::LoginBench),
    /// Legacy rows in PostgreSQL (and MariaDB with --mysql) mapped by `portcullis map`'s laravel
    /// preset into import files, then imported: the pipeline's users/s beside the import's own.
    Map(map::MapBench),
    /// The slow-migration first login against an instant legacy endpoint: legacy call, hash and
    /// our own work timed apart (target ≤ 1 ms of our own); migrations/s at the default hash.
    Migrate(migrate::MigrateBench),
    /// The token endpoint over HTTP: client-credentials grants, code exchanges and refresh
    /// grants per second beside their floor (the grant's store calls and signatures alone), and
    /// Keycloak's same grants on the same cores with --keycloak.
    Oauth(oauth::OAuthBench),
    /// User search over N users (default 1 M): the exact total and the first page sorted by
    /// email of three queries, each beside a bare SELECT count(*) of the same predicate.
    /// SQLite, and PostgreSQL with --postgres.
    Search(search::SearchBench),
    /// Users/s deleting a tenant of imported users (DELETE /api/tenant, DELETE /api/user/bulk)
    /// against a bare DELETE FROM users; the time 1 M users would take.
    TenantDelete(tenant_delete::TenantDeleteBench),
    /// Webhook events delivered/s to a fast local receiver beside the receiver's own limit, and
    /// import users/s with a user.bulk.create webhook beside without.
    Webhooks(webhooks::WebhooksBench),
}

pub async fn run(cmd: BenchCommand) -> Result<(), String> {
    match cmd {
        BenchCommand::Gateway(b) => gateway::run(b).await,
        BenchCommand::Import(b) => import::run(b).await,
        BenchCommand::Login(b) => login::run(b).await,
        BenchCommand::Map(b) => map::run(b).await,
        BenchCommand::Migrate(b) => migrate::run(b).await,
        BenchCommand::Oauth(b) => oauth::run(b).await,
        BenchCommand::Search(b) => search::run(b).await,
        BenchCommand::TenantDelete(b) => tenant_delete::run(b).await,
        BenchCommand::Webhooks(b) => webhooks::run(b).await,
    }
}

fn main() -> std::process::ExitCode {
    // The server's allocator, set as the server sets it, so the figures are the server's.
    portcullis_alloc::return_freed_memory_promptly();
    let cmd = <BenchCommand as clap::Parser>::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    match rt.block_on(run(cmd)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portcullis-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
