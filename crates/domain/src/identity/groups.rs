//! Groups (application roles given to their members) and memberships.

use super::{not_found, patched, Result};
use crate::model::*;
use crate::{validate, Error, Errors, Identity};
use serde_json::Value;
use std::collections::BTreeMap;
use uuid::Uuid;

impl Identity {
    async fn check_group(&self, group: &Group, tenant: Uuid) -> Result<()> {
        let mut errors = Errors::default();
        validate::named(&group.name, "group.name", &mut errors);
        if !group.role_ids.is_empty() {
            let apps = self.store.applications(Scope::tenant(tenant)).await?;
            for id in &group.role_ids {
                let known = apps
                    .iter()
                    .flat_map(|a| &a.roles)
                    .any(|r| r.id == Some(*id));
                if !known {
                    errors.add_field(
                        "roleIds",
                        "[invalid]roleIds",
                        format!(
                            "The role id [{id}] is not a role of an application in this tenant."
                        ),
                    );
                }
            }
        }
        errors.into_result()
    }

    /// The application roles the group gives its members, by application.
    pub async fn group_roles(&self, group: &Group) -> Result<BTreeMap<Uuid, Vec<Role>>> {
        let mut roles: BTreeMap<Uuid, Vec<Role>> = BTreeMap::new();
        if !group.role_ids.is_empty() {
            let apps = self
                .store
                .applications(Scope {
                    tenant: group.tenant_id,
                })
                .await?;
            for app in &apps {
                for r in app
                    .roles
                    .iter()
                    .filter(|r| r.id.is_some_and(|id| group.role_ids.contains(&id)))
                {
                    roles
                        .entry(app.id.expect("stored"))
                        .or_default()
                        .push(r.clone());
                }
            }
        }
        Ok(roles)
    }

    pub async fn create_group(
        &self,
        scope: Scope,
        id: Option<Uuid>,
        mut group: Group,
    ) -> Result<Group> {
        let tenant = self.resolve_tenant(scope, group.tenant_id).await?;
        self.check_group(&group, tenant).await?;
        let now = now_millis();
        group.id = Some(id.or(group.id).unwrap_or_else(crate::new_id));
        group.tenant_id = Some(tenant);
        group.insert_instant = Some(now);
        group.last_update_instant = Some(now);
        self.store.insert_group(&group).await?;
        Ok(group)
    }

    pub async fn group(&self, scope: Scope, id: Uuid) -> Result<Group> {
        not_found(self.store.group(scope, id).await?)
    }

    pub async fn groups(&self, scope: Scope) -> Result<Vec<Group>> {
        Ok(self.store.groups(scope).await?)
    }

    pub async fn replace_group(&self, scope: Scope, id: Uuid, mut new: Group) -> Result<Group> {
        let old = self.group(scope, id).await?;
        let tenant = old.tenant_id.expect("stored");
        self.check_group(&new, tenant).await?;
        new.id = old.id;
        new.tenant_id = old.tenant_id;
        new.insert_instant = old.insert_instant;
        new.last_update_instant = Some(now_millis());
        self.store.update_group(&new).await?;
        Ok(new)
    }

    pub async fn patch_group(&self, scope: Scope, id: Uuid, p: &Value) -> Result<Group> {
        let old = self.group(scope, id).await?;
        let new = patched(&old, p, "group")?;
        self.replace_group(scope, id, new).await
    }

    pub async fn delete_group(&self, scope: Scope, id: Uuid) -> Result<()> {
        self.store
            .delete_group(scope, id)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }

    /// Adds members to groups (`POST /api/group/member`): group id → members. All or nothing.
    pub async fn add_members(
        &self,
        scope: Scope,
        members: BTreeMap<Uuid, Vec<Membership>>,
    ) -> Result<BTreeMap<Uuid, Vec<Membership>>> {
        let mut errors = Errors::default();
        let mut out = BTreeMap::new();
        let mut tenant_of_all = None;
        let now = now_millis();
        for (group_id, list) in members {
            let Some(group) = self.store.group(scope, group_id).await? else {
                errors.add_field(
                    "members",
                    "[invalid]members",
                    format!("The group [{group_id}] does not exist."),
                );
                continue;
            };
            let tenant = group.tenant_id.expect("stored");
            if *tenant_of_all.get_or_insert(tenant) != tenant {
                errors.add_field(
                    "members",
                    "[invalid]members",
                    "All groups in one request must belong to the same tenant.",
                );
                continue;
            }
            let mut added = Vec::new();
            for (i, mut m) in list.into_iter().enumerate() {
                let field = format!("members[{group_id}][{i}].userId");
                match m.user_id {
                    None => errors.add_field(
                        &field,
                        &format!("[blank]{field}"),
                        "You must specify the userId.",
                    ),
                    Some(u) if self.store.user(Scope::tenant(tenant), u).await?.is_none() => errors
                        .add_field(
                            &field,
                            &format!("[invalid]{field}"),
                            format!("The user [{u}] does not exist in the group's tenant."),
                        ),
                    Some(_) => {
                        m.id.get_or_insert_with(crate::new_id);
                        m.group_id = Some(group_id);
                        m.insert_instant = Some(now);
                        added.push(m);
                    }
                }
            }
            out.insert(group_id, added);
        }
        errors.into_result()?;
        if let Some(tenant) = tenant_of_all {
            let all: Vec<Membership> = out.values().flatten().cloned().collect();
            self.store.insert_memberships(tenant, &all).await?;
        }
        Ok(out)
    }

    pub async fn remove_member(&self, scope: Scope, group: Uuid, user: Uuid) -> Result<()> {
        self.store
            .delete_membership(scope, group, user)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }

    pub async fn remove_member_by_id(&self, scope: Scope, id: Uuid) -> Result<()> {
        self.store
            .delete_membership_by_id(scope, id)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }
}
