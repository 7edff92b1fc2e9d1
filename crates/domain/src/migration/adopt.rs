//! Turning a legacy system's answer into a user of ours: registrations, roles and groups mapped
//! onto what the tenant has, and the check that an answer does not name a user Portcullis holds.

use super::connectors::*;
use crate::identity::Result;
use crate::model::*;
use crate::Identity;
use serde_json::json;
use uuid::Uuid;

/// The users of a tenant a legacy answer names.
pub(super) enum Collision {
    /// None: the answer may be written.
    None,
    /// Only a profile this connector keeps without a credential (`migrate: false`, or a
    /// forgot-password look-up): the connector stays in charge and the profile is refreshed.
    Profile(StoredUser),
    /// A user Portcullis holds (or several users): the answer authenticates no one.
    Held(Option<StoredUser>, String),
}

impl Identity {
    /// Turns a legacy user into a user of `tenant`: registrations only on applications the
    /// tenant has, roles only those the application defines, groups found by name (others are
    /// dropped and logged: the legacy system cannot create our roles and groups).
    pub(super) async fn adopt(
        &self,
        tenant: Uuid,
        connector: &Connector,
        lu: LegacyUser,
    ) -> Result<User> {
        let mut user = lu.user;
        let now = now_millis();
        user.tenant_id = Some(tenant);
        user.connector_id = connector.id;
        user.data.insert("migrated".into(), json!(true));
        if lu.two_factor_enrolment_required {
            user.data
                .insert("twoFactorEnrolmentRequired".into(), json!(true));
        }
        // The legacy system's second factors are kept, their secrets sealed: a migration that
        // dropped them would let the user in with a password alone. One that cannot be stored
        // fails the login instead.
        let mut errors = crate::Errors::default();
        crate::two_factor::seal(
            &mut user.two_factor,
            self.two_factor_keys(),
            "user.twoFactor",
            &mut errors,
        );
        if !errors.is_empty() {
            let what: Vec<String> = errors
                .field_errors
                .iter()
                .flat_map(|(k, v)| v.iter().map(move |e| format!("{k}: {}", e.message)))
                .collect();
            return Err(crate::Error::TwoFactorKey(format!(
                "the legacy user's second factors cannot be stored: {}",
                what.join("; ")
            )));
        }
        user.password_change_required |= lu.password_change_required;
        user.insert_instant = Some(now);
        user.last_update_instant = Some(now);
        user.username_status.get_or_insert_with(|| "ACTIVE".into());
        let scope = Scope::tenant(tenant);
        let mut regs = Vec::new();
        for mut r in std::mem::take(&mut user.registrations) {
            let Some(app) = (match r.application_id {
                Some(a) => self.store().application(scope, a).await?,
                None => None,
            }) else {
                tracing::warn!(connector = ?connector.id, application = ?r.application_id, "legacy registration dropped: no such application in the tenant");
                continue;
            };
            let known: Vec<&str> = app.roles.iter().map(|x| x.name.as_str()).collect();
            let (keep, drop): (Vec<String>, Vec<String>) = r
                .roles
                .into_iter()
                .partition(|n| known.contains(&n.as_str()));
            if !drop.is_empty() {
                tracing::warn!(connector = ?connector.id, application = ?app.id, roles = ?drop, "legacy roles dropped: the application does not define them");
            }
            r.roles = keep;
            r.id = Some(crate::new_id());
            r.insert_instant = Some(now);
            r.last_update_instant = Some(now);
            if !regs
                .iter()
                .any(|x: &Registration| x.application_id == r.application_id)
            {
                regs.push(r);
            }
        }
        user.registrations = regs;
        user.memberships.clear();
        if !lu.groups.is_empty() {
            let groups = self.store().groups(scope).await?;
            for name in &lu.groups {
                match groups.iter().find(|g| g.name.eq_ignore_ascii_case(name)) {
                    Some(g) => user.memberships.push(Membership {
                        id: Some(crate::new_id()),
                        group_id: g.id,
                        user_id: user.id,
                        data: Json::new(),
                        insert_instant: Some(now),
                    }),
                    None => {
                        tracing::warn!(connector = ?connector.id, group = %name, "legacy group dropped: no group of that name in the tenant")
                    }
                }
            }
        }
        Ok(user)
    }

    /// Which users of `tenant` (other than `except`) a legacy answer for `user` names by id,
    /// email or username, and what that means for the login.
    pub(super) async fn collision(
        &self,
        tenant: Uuid,
        connector: &Connector,
        user: &User,
        except: Option<Uuid>,
    ) -> Result<Collision> {
        let lower = |v: &Option<String>| {
            crate::validate::normalized(v)
                .into_iter()
                .collect::<Vec<_>>()
        };
        let ids: Vec<Uuid> = user.id.into_iter().collect();
        let mut found = self
            .store()
            .find_users(tenant, &ids, &lower(&user.email), &lower(&user.username))
            .await?;
        found.retain(|u| u.user.id.is_some() && u.user.id != except);
        found.sort_by_key(|u| u.user.id);
        found.dedup_by_key(|u| u.user.id);
        let named = |u: &StoredUser| {
            let mut by = Vec::new();
            if u.user.id.is_some() && u.user.id == user.id {
                by.push("id");
            }
            let same = |a: &Option<String>, b: &Option<String>| {
                let a = crate::validate::normalized(a);
                a.is_some() && a == crate::validate::normalized(b)
            };
            if same(&u.user.email, &user.email) {
                by.push("email");
            }
            if same(&u.user.username, &user.username) {
                by.push("username");
            }
            by.join(", ")
        };
        Ok(match found.len() {
            0 => Collision::None,
            1 => {
                let existing = found.pop().expect("one");
                if existing.credential.is_none() && existing.user.connector_id == connector.id {
                    Collision::Profile(existing)
                } else {
                    let reason = format!(
                        "the legacy answer names a user Portcullis holds (same {})",
                        named(&existing)
                    );
                    Collision::Held(Some(existing), reason)
                }
            }
            n => Collision::Held(
                None,
                format!("the legacy answer names {n} users Portcullis holds"),
            ),
        })
    }
}
