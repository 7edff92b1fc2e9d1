//! A password scheme loaded at start (as a plugin hasher would be) joins the registry the
//! server's hashing pool carries: imports parse it, logins verify it, and tenants may write new
//! passwords with it. A server without it refuses the scheme.

use crate::support::*;
use portcullis_domain::{Identity, ImportRequest, LoginOutcome, LoginRequest, Scope, Sessions};
use portcullis_hash::{Credential, HashError, HashPool, Hasher, Registry};
use portcullis_store::testing::Backend;
use serde_json::json;
use std::sync::Arc;

portcullis_store::on_both_backends!(a_scheme_added_to_the_pools_registry_imports_and_verifies,);

/// A toy scheme: the hash is the password reversed. For this test only.
struct Reversed;

impl Hasher for Reversed {
    fn name(&self) -> &str {
        "test-reversed"
    }

    fn parse_import(
        &self,
        _: Option<u32>,
        _: Option<&str>,
        password: &str,
    ) -> Result<Credential, HashError> {
        Ok(Credential {
            scheme: self.name().into(),
            factor: 1,
            salt: String::new(),
            hash: password.into(),
        })
    }

    fn verify(&self, credential: &Credential, password: &[u8]) -> bool {
        let reversed: Vec<u8> = password.iter().rev().copied().collect();
        credential.hash.as_bytes() == reversed.as_slice()
    }

    fn hash(&self, _: Option<u32>, password: &[u8]) -> Result<Credential, HashError> {
        let hash = String::from_utf8_lossy(&password.iter().rev().copied().collect::<Vec<_>>())
            .into_owned();
        Ok(Credential {
            scheme: self.name().into(),
            factor: 1,
            salt: String::new(),
            hash,
        })
    }

    fn new_hash_cost(&self, _: Option<u32>) -> Result<portcullis_hash::Cost, HashError> {
        Ok(1)
    }
}

fn import(email: &str, hash: &str) -> ImportRequest {
    serde_json::from_value(json!({"users": [
        {"email": email, "password": hash, "encryptionScheme": "test-reversed"}
    ]}))
    .unwrap()
}

async fn a_scheme_added_to_the_pools_registry_imports_and_verifies(b: Backend) {
    let s = Server::start(b).await;
    let store = Arc::new(s.db.store.clone());

    // The built-in registry does not know the scheme.
    let builtin = Identity::new(store.clone(), HashPool::new(1, 4));
    let refused = builtin
        .import_users(Scope::ALL, import("a@example.com", "terces"))
        .await
        .unwrap_err();
    assert!(
        format!("{refused:?}").contains("users[0].password"),
        "{refused:?}"
    );

    let mut registry = Registry::with_builtin();
    registry.register(Box::new(Reversed));
    let pool = HashPool::new(1, 4).with_registry(Arc::new(registry));
    let identity = Identity::new(store, pool);
    identity
        .import_users(Scope::ALL, import("b@example.com", "terces"))
        .await
        .unwrap();
    let sessions = Sessions::new(identity.clone());
    let login = |password: &str| LoginRequest {
        login_id: Some("b@example.com".into()),
        password: Some(portcullis_domain::Password(password.into())),
        ..LoginRequest::default()
    };
    assert!(matches!(
        sessions.login(Scope::ALL, login("secret")).await.unwrap(),
        LoginOutcome::Success(_)
    ));
    assert!(sessions.login(Scope::ALL, login("terces")).await.is_err());

    // A tenant may hash new passwords with it: the save checks the scheme in this registry.
    let t = s.default_tenant().await.parse().unwrap();
    let mut tenant = identity.tenant(Scope::ALL, t).await.unwrap();
    tenant.settings.insert(
        "passwordEncryptionConfiguration".into(),
        json!({"encryptionScheme": "test-reversed"}),
    );
    identity
        .replace_tenant(Scope::ALL, t, tenant.clone(), true)
        .await
        .expect("a scheme of the pool's registry is accepted");
    assert!(builtin
        .replace_tenant(Scope::ALL, t, tenant, true)
        .await
        .is_err());
}
