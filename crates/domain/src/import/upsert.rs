//! Upsert: matching each user of the request with a stored user of the tenant (by id, else
//! email, else username), and merging what the request gives over what is stored. Without
//! upsert every user is new and only gets its ids and instants stamped.

use super::check::Checked;
use super::{lookup_email, lookup_username, Secret, NOT_MERGED};
use crate::identity::{Identity, Result};
use crate::model::*;
use crate::{patch, validate, Errors};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

/// What the import writes: new users (with their index in the request) and updated ones (with
/// their stored credential), each with the secret to store for it, in the same order.
#[derive(Default)]
pub(super) struct Plan {
    pub created: Vec<(usize, User)>,
    pub created_secrets: Vec<Secret>,
    pub updated: Vec<(User, Option<portcullis_hash::Credential>)>,
    pub updated_secrets: Vec<Secret>,
}

/// Each checked user becomes a new user, or (upsert) the stored user it matches with the
/// request's fields merged over it. A merge that breaks the user's shape is a field error.
pub(super) fn plan(
    tenant: Uuid,
    upsert: bool,
    now: Millis,
    checked: Vec<Checked>,
    matches: Vec<Option<StoredUser>>,
    errors: &mut Errors,
) -> Plan {
    let Plan {
        mut created,
        mut created_secrets,
        mut updated,
        mut updated_secrets,
    } = Plan::default();
    for (c, stored) in checked.into_iter().zip(matches) {
        let at = format!("users[{}]", c.index);
        let has_secret = !matches!(c.secret, Secret::None);
        match stored {
            None => {
                let mut user = c.user;
                if upsert {
                    validate::user(&user, &at, errors);
                }
                stamp_new(&mut user, tenant, has_secret, now);
                created.push((c.index, user));
                created_secrets.push(c.secret);
            }
            Some(stored) => {
                let mut user = match merge_user(&stored.user, &c.user, &c.given) {
                    Ok(u) => u,
                    Err(e) => {
                        errors.add_field(
                            &at,
                            "[invalid]user",
                            format!("{at}: the fields do not fit the stored user: {e}"),
                        );
                        continue;
                    }
                };
                validate::user(&user, &at, errors);
                user.id = stored.user.id;
                user.tenant_id = Some(tenant);
                user.last_update_instant = Some(now);
                if has_secret && !c.given.contains("passwordLastUpdateInstant") {
                    user.password_last_update_instant = Some(now);
                }
                user.registrations =
                    merge_registrations(stored.user.registrations, c.user.registrations, now);
                user.memberships =
                    merge_memberships(stored.user.memberships, c.user.memberships, user.id, now);
                updated.push((user, stored.credential));
                updated_secrets.push(c.secret);
            }
        }
    }
    Plan {
        created,
        created_secrets,
        updated,
        updated_secrets,
    }
}

impl Identity {
    /// Upsert: the stored user each checked user updates, or `None` to create it. Conflicts
    /// (an id that names another user than the email, two users of the request on one stored
    /// user, an email or username that another stored user has) are field errors.
    pub(super) async fn match_stored(
        &self,
        tenant: Uuid,
        users: &[Checked],
        errors: &mut Errors,
    ) -> Result<Vec<Option<StoredUser>>> {
        let ids: Vec<Uuid> = users.iter().filter_map(|c| c.user.id).collect();
        let emails: Vec<String> = users.iter().filter_map(|c| lookup_email(&c.user)).collect();
        let names: Vec<String> = users
            .iter()
            .filter_map(|c| lookup_username(&c.user))
            .collect();
        let found = self
            .store()
            .find_users(tenant, &ids, &emails, &names)
            .await?;
        let mut by_id: HashMap<Uuid, usize> = HashMap::new();
        let mut by_email: HashMap<String, usize> = HashMap::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for (k, s) in found.iter().enumerate() {
            by_id.extend(s.user.id.map(|id| (id, k)));
            by_email.extend(validate::normalized(&s.user.email).map(|e| (e, k)));
            by_name.extend(validate::normalized(&s.user.username).map(|n| (n, k)));
        }
        let mut claimed: HashMap<usize, usize> = HashMap::new();
        let mut out = Vec::with_capacity(users.len());
        for c in users {
            let at = format!("users[{}]", c.index);
            let email = validate::normalized(&c.user.email);
            let name = validate::normalized(&c.user.username);
            let hit = c
                .user
                .id
                .and_then(|id| by_id.get(&id))
                .or_else(|| email.as_ref().and_then(|e| by_email.get(e)))
                .or_else(|| name.as_ref().and_then(|n| by_name.get(n)))
                .copied();
            let owner = |k: Option<&usize>| k.map(|&k| found[k].user.id);
            if let Some(k) = hit {
                let stored_id = found[k].user.id.unwrap_or_default();
                if let Some(id) = c.user.id.filter(|id| *id != stored_id) {
                    errors.add_field(
                        &format!("{at}.id"),
                        "[mismatch]user.id",
                        format!("{at}: the id [{id}] differs from the id [{stored_id}] of the stored user with this email or username: correct the id or leave it out."),
                    );
                }
                if let Some(first) = claimed.insert(k, c.index) {
                    errors.add_field(
                        &format!("{at}.id"),
                        "[duplicate]user.id",
                        format!(
                            "{at}: users[{first}] already updates the stored user [{stored_id}]."
                        ),
                    );
                }
            }
            let mine = hit.map(|k| found[k].user.id);
            // The email and username the user will have must not belong to another stored user.
            if email.is_some()
                && owner(email.as_ref().and_then(|e| by_email.get(e)))
                    .is_some_and(|o| Some(o) != mine)
            {
                errors.add_field(
                    &format!("{at}.email"),
                    "[duplicate]user.email",
                    format!(
                        "{at}: a user with the email [{}] already exists in the tenant.",
                        c.user.email.as_deref().unwrap_or_default()
                    ),
                );
            }
            if name.is_some()
                && owner(name.as_ref().and_then(|n| by_name.get(n)))
                    .is_some_and(|o| Some(o) != mine)
            {
                errors.add_field(
                    &format!("{at}.username"),
                    "[duplicate]user.username",
                    format!(
                        "{at}: a user with the username [{}] already exists in the tenant.",
                        c.user.username.as_deref().unwrap_or_default()
                    ),
                );
            }
            out.push(hit.map(|k| found[k].clone()));
        }
        Ok(out)
    }
}

/// Fills what a new user gets from the import: ids, tenant, instants.
pub(super) fn stamp_new(user: &mut User, tenant: Uuid, has_secret: bool, now: Millis) {
    let id = *user.id.get_or_insert_with(crate::new_id);
    for r in &mut user.registrations {
        r.id.get_or_insert_with(crate::new_id);
        r.insert_instant.get_or_insert(now);
    }
    for m in &mut user.memberships {
        m.id.get_or_insert_with(crate::new_id);
        m.user_id = Some(id);
        m.insert_instant.get_or_insert(now);
    }
    user.tenant_id = Some(tenant);
    user.insert_instant.get_or_insert(now);
    user.last_update_instant = Some(now);
    user.username_status.get_or_insert_with(|| "ACTIVE".into());
    if has_secret {
        user.password_last_update_instant.get_or_insert(now);
    }
}

/// The stored user with the keys the request gave merged over it (RFC 7396): an omitted key is
/// kept, `null` removes, objects such as `data` merge key by key.
fn merge_user(
    stored: &User,
    given: &User,
    keys: &BTreeSet<String>,
) -> std::result::Result<User, serde_json::Error> {
    let mut base = serde_json::to_value(stored)?;
    let full = serde_json::to_value(given)?;
    let mut p = Json::new();
    for k in keys.iter().filter(|k| !NOT_MERGED.contains(&k.as_str())) {
        p.insert(k.clone(), full.get(k).cloned().unwrap_or(Value::Null));
    }
    patch::merge(&mut base, &Value::Object(p));
    serde_json::from_value(base)
}

/// Stored registrations plus the given ones; a given one replaces the stored registration of
/// the same application (keeping its id and insert instant unless given).
fn merge_registrations(
    mut stored: Vec<Registration>,
    given: Vec<Registration>,
    now: Millis,
) -> Vec<Registration> {
    for mut r in given {
        match stored
            .iter_mut()
            .find(|s| s.application_id == r.application_id)
        {
            Some(s) => {
                r.id = r.id.or(s.id);
                r.insert_instant = r.insert_instant.or(s.insert_instant);
                r.last_login_instant = r.last_login_instant.or(s.last_login_instant);
                *s = r;
            }
            None => {
                r.id.get_or_insert_with(crate::new_id);
                r.insert_instant.get_or_insert(now);
                stored.push(r);
            }
        }
    }
    stored
}

/// Stored memberships plus the given ones; a given one replaces the membership of the same group.
fn merge_memberships(
    mut stored: Vec<Membership>,
    given: Vec<Membership>,
    user: Option<Uuid>,
    now: Millis,
) -> Vec<Membership> {
    for mut m in given {
        m.user_id = user;
        match stored.iter_mut().find(|s| s.group_id == m.group_id) {
            Some(s) => {
                m.id = m.id.or(s.id);
                m.insert_instant = m.insert_instant.or(s.insert_instant);
                *s = m;
            }
            None => {
                m.id.get_or_insert_with(crate::new_id);
                m.insert_instant.get_or_insert(now);
                stored.push(m);
            }
        }
    }
    stored
}
