//! `portcullis keys`: list and rotate the tenants' signing keys, straight on the database (every
//! node reads keys from there; nodes pick up a rotation within 30 seconds).

use clap::{Args, Subcommand};
use portcullis_domain::{Identity, SessionStore, Sessions};
use portcullis_hash::HashPool;
use portcullis_jwt::Algorithm;
use portcullis_store::SqlStore;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// List every signing key: tenant, kid, algorithm, status and, when retiring, until when.
    List(Db),
    /// Give a tenant a new signing key; the old one stays published until its tokens expire.
    Rotate(Rotate),
}

#[derive(Args)]
pub struct Db {
    /// The database, as for `serve`.
    #[arg(long, env = "PORTCULLIS_DATABASE")]
    database: String,
}

#[derive(Args)]
pub struct Rotate {
    #[command(flatten)]
    db: Db,
    /// The tenant whose key to rotate.
    #[arg(long)]
    tenant: Uuid,
    /// ES256, EdDSA, RS256 or HS256 (HS256 keys are not published; only Portcullis can verify
    /// their tokens). Default: the current key's algorithm.
    #[arg(long)]
    algorithm: Option<String>,
}

pub async fn run(cmd: KeysCommand) -> Result<(), String> {
    match cmd {
        KeysCommand::List(db) => {
            let store = SqlStore::connect(&db.database)
                .await
                .map_err(|e| e.to_string())?;
            let keys = store.signing_keys(None).await.map_err(|e| e.to_string())?;
            for k in keys {
                let until = k
                    .expires_instant
                    .map_or(String::new(), |e| format!(" until {e}"));
                println!(
                    "{} {} {} {}{until}",
                    k.tenant_id, k.kid, k.algorithm, k.status
                );
            }
            Ok(())
        }
        KeysCommand::Rotate(r) => {
            let algorithm = r
                .algorithm
                .as_deref()
                .map(Algorithm::parse)
                .transpose()
                .map_err(|e| format!("{e}: use ES256, EdDSA, RS256 or HS256"))?;
            let store = SqlStore::connect(&r.db.database)
                .await
                .map_err(|e| e.to_string())?;
            let sessions = Sessions::new(Identity::new(Arc::new(store), HashPool::new(1, 1)));
            let key = sessions
                .tokens()
                .rotate_key(r.tenant, algorithm)
                .await
                .map_err(|e| match e {
                    portcullis_domain::Error::NotFound => {
                        format!("no tenant [{}] in this database", r.tenant)
                    }
                    other => other.to_string(),
                })?;
            println!("{} {} active", key.kid(), key.algorithm().name());
            Ok(())
        }
    }
}
