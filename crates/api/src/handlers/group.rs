//! `/api/group` and memberships (`/api/group/member`).

use super::{patch_root, wrap};
use crate::error::{ApiError, ApiResult};
use crate::extract::{optional_uuid, uuid, Caller, JsonBody};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Json;
use portcullis_domain::{Errors, Group, Membership};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

/// FusionAuth sends the group's roles beside it, as `roleIds`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRequest {
    group: Group,
    #[serde(default)]
    role_ids: Option<Vec<Uuid>>,
}

impl GroupRequest {
    fn into_group(self) -> Group {
        let mut g = self.group;
        if let Some(ids) = self.role_ids {
            g.role_ids = ids;
        }
        g
    }
}

async fn view(s: &AppState, g: &Group) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "group": s.identity.group_view(g).await? })))
}

/// Creates with a generated id, or with the one the path names (`POST .../{groupId}`).
pub async fn create(
    State(s): State<AppState>,
    c: Caller,
    id: Option<Path<String>>,
    JsonBody(req): JsonBody<GroupRequest>,
) -> ApiResult<Json<Value>> {
    let id = optional_uuid(id, "groupId")?;
    let g = s
        .identity
        .create_group(c.scope, id, req.into_group())
        .await?;
    view(&s, &g).await
}

pub async fn list(State(s): State<AppState>, c: Caller) -> ApiResult<Json<Value>> {
    let mut out = Vec::new();
    for g in s.identity.groups(c.scope).await? {
        out.push(s.identity.group_view(&g).await?);
    }
    Ok(wrap("groups", out))
}

pub async fn get(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = uuid(&id, "groupId")?;
    let g = s.identity.group(c.scope, id).await?;
    view(&s, &g).await
}

pub async fn replace(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<GroupRequest>,
) -> ApiResult<Json<Value>> {
    let id = uuid(&id, "groupId")?;
    let g = s
        .identity
        .replace_group(c.scope, id, req.into_group())
        .await?;
    view(&s, &g).await
}

pub async fn patch(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let id = uuid(&id, "groupId")?;
    let mut p = patch_root(&body, "group")?.clone();
    if let Some(ids) = body.get("roleIds") {
        p["roleIds"] = ids.clone();
    }
    let g = s.identity.patch_group(c.scope, id, &p).await?;
    view(&s, &g).await
}

/// Deletes the group and its memberships (the users stay).
pub async fn delete(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> ApiResult<()> {
    let id = uuid(&id, "groupId")?;
    Ok(s.identity.delete_group(c.scope, id).await?)
}

#[derive(Deserialize)]
pub struct MemberRequest {
    members: BTreeMap<Uuid, Vec<Membership>>,
}

/// Adds users to groups, all or nothing: `{"members": {"<groupId>": [{"userId": ...}]}}`.
pub async fn add_members(
    State(s): State<AppState>,
    c: Caller,
    JsonBody(req): JsonBody<MemberRequest>,
) -> ApiResult<Json<Value>> {
    Ok(wrap(
        "members",
        s.identity.add_members(c.scope, req.members).await?,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberQuery {
    group_id: Option<String>,
    user_id: Option<String>,
    member_id: Option<String>,
}

/// Removes memberships named by `?groupId=&userId=`, by `?memberId=`, or by a body
/// `{"members": {"<groupId>": ["<userId>", ...]}}`.
pub async fn remove_members(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<MemberQuery>,
    body: Bytes,
) -> ApiResult<()> {
    if let Some(m) = q.member_id {
        let id = uuid(&m, "memberId")?;
        return Ok(s.identity.remove_member_by_id(c.scope, id).await?);
    }
    if let (Some(g), Some(u)) = (q.group_id, q.user_id) {
        let (g, u) = (uuid(&g, "groupId")?, uuid(&u, "userId")?);
        return Ok(s.identity.remove_member(c.scope, g, u).await?);
    }
    if body.is_empty() {
        return Err(ApiError::bad_request(Errors::default().general(
            "[missing]members",
            "Name the memberships to remove: ?groupId=&userId=, ?memberId=, or a body {\"members\": {groupId: [userId]}}.",
        )));
    }
    #[derive(Deserialize)]
    struct Body {
        members: BTreeMap<Uuid, Vec<Uuid>>,
    }
    let b: Body = crate::extract::parse_json(&body)?;
    for (g, users) in b.members {
        for u in users {
            s.identity.remove_member(c.scope, g, u).await?;
        }
    }
    Ok(())
}
