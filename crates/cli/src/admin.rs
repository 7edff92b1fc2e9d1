//! `portcullis admin create`: makes a user an administrator of the admin pages, straight on the
//! database — the way to the first administrator when no Kickstart file made one. A new user
//! gets a random password, printed once; an existing user keeps theirs and gains the role.

use clap::{Args, Subcommand};
use portcullis_domain::{Error, Identity, Password, Registration, Scope, User, ADMIN_ROLE};
use portcullis_hash::HashPool;
use portcullis_store::SqlStore;
use std::sync::Arc;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Give a user (created when missing) the admin role of the admin application.
    Create(Create),
}

#[derive(Args)]
pub struct Create {
    /// The database, as for `serve`.
    #[arg(long, env = "PORTCULLIS_DATABASE")]
    database: String,
    /// The administrator's email, in the default tenant.
    #[arg(long)]
    email: String,
}

pub async fn run(cmd: AdminCommand) -> Result<(), String> {
    let AdminCommand::Create(c) = cmd;
    let store = SqlStore::connect(&c.database)
        .await
        .map_err(|e| e.to_string())?;
    let identity = Identity::new(Arc::new(store), HashPool::for_this_machine());
    identity
        .ensure_defaults()
        .await
        .map_err(|e| e.to_string())?;
    match make_admin(&identity, &c.email).await? {
        Some(password) => println!(
            "Created {} with the admin role; its password (shown once): {password}",
            c.email
        ),
        None => println!("{} has the admin role", c.email),
    }
    Ok(())
}

/// Gives `email` the admin role, creating the user with a random password when missing;
/// answers that password.
async fn make_admin(identity: &Identity, email: &str) -> Result<Option<String>, String> {
    let ids = identity
        .default_ids()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the default tenant or its Portcullis application was renamed or deleted")?;
    let scope = Scope::tenant(ids.tenant);
    let admin_registration = || Registration {
        application_id: Some(ids.application),
        roles: vec![ADMIN_ROLE.into()],
        ..Registration::default()
    };
    let shown = |e: Error| format!("{e:?}");
    match identity.user_by_email(scope, email).await {
        Ok(user) => {
            let id = user.id.expect("a stored user has its id");
            let existing = user
                .registrations
                .iter()
                .find(|r| r.application_id == Some(ids.application));
            match existing {
                Some(r) if r.roles.iter().any(|x| x == ADMIN_ROLE) => {}
                Some(r) => {
                    let mut r = r.clone();
                    r.roles.push(ADMIN_ROLE.into());
                    identity
                        .replace_registration(scope, id, ids.application, r)
                        .await
                        .map_err(shown)?;
                }
                None => {
                    identity
                        .register(scope, Some(id), None, admin_registration())
                        .await
                        .map_err(shown)?;
                }
            }
            Ok(None)
        }
        Err(Error::NotFound) => {
            let password = portcullis_domain::secrets::new_secret();
            identity
                .register(
                    scope,
                    None,
                    Some(User {
                        email: Some(email.into()),
                        password: Some(Password(password.clone())),
                        ..User::default()
                    }),
                    admin_registration(),
                )
                .await
                .map_err(shown)?;
            Ok(Some(password))
        }
        Err(e) => Err(shown(e)),
    }
}
