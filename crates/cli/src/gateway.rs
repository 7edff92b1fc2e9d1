//! `portcullis gateway`: the authenticating reverse proxy (`portcullis-gateway`), started from a
//! `gateway.toml` with `PORTCULLIS_GATEWAY_*` environment variables over it.

use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct GatewayArgs {
    /// The route table and settings (see docs/gateway.md).
    #[arg(
        long,
        env = "PORTCULLIS_GATEWAY_CONFIG",
        default_value = "gateway.toml"
    )]
    pub config: PathBuf,
    /// Address to listen on, over the file's `bind` and PORTCULLIS_GATEWAY_BIND.
    #[arg(long)]
    pub bind: Option<String>,
    /// Log filter, e.g. `info` or `portcullis_gateway=debug` [default: info; RUST_LOG also works].
    #[arg(long, env = "PORTCULLIS_GATEWAY_LOG")]
    pub log: Option<String>,
}

pub async fn run(args: GatewayArgs) -> Result<(), String> {
    let filter = args
        .log
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".into());
    // Diagnostics go to stderr: stdout carries the access log, one JSON object a line.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
    portcullis_gateway::run(args.config, args.bind).await
}
