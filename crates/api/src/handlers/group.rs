//! `/api/group` and memberships (`/api/group/member`).

use super::{patch_root, wrap};
use crate::error::{ApiError, ApiResult};
use crate::extract::{uuid, Caller, JsonBody, PathId, QueryParams};
use crate::wire::{GroupRequest, GroupView, MemberIdsBody, MembersBody};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use portcullis_domain::{Errors, Group};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// The group with FusionAuth's `roles` map, read from the applications it names.
async fn group_view(s: &AppState, g: &Group) -> ApiResult<GroupView> {
    Ok(GroupView {
        group: g.clone(),
        roles: s.identity.group_roles(g).await?,
    })
}

async fn view(s: &AppState, g: &Group) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "group": group_view(s, g).await? })))
}

/// Creates with a generated id, or with the one the path names (`POST .../{groupId}`).
pub async fn create(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Option<Uuid>>,
    JsonBody(req): JsonBody<GroupRequest>,
) -> ApiResult<Json<Value>> {
    let g = s
        .identity
        .create_group(c.scope, id, req.into_group())
        .await?;
    view(&s, &g).await
}

pub async fn list(State(s): State<AppState>, c: Caller) -> ApiResult<Json<Value>> {
    let mut out = Vec::new();
    for g in s.identity.groups(c.scope).await? {
        out.push(group_view(&s, &g).await?);
    }
    Ok(wrap("groups", out))
}

pub async fn get(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<Json<Value>> {
    let g = s.identity.group(c.scope, id).await?;
    view(&s, &g).await
}

pub async fn replace(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    JsonBody(req): JsonBody<GroupRequest>,
) -> ApiResult<Json<Value>> {
    let g = s
        .identity
        .replace_group(c.scope, id, req.into_group())
        .await?;
    view(&s, &g).await
}

pub async fn patch(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let mut p = patch_root(&body, "group")?.clone();
    if let Some(ids) = body.get("roleIds") {
        p["roleIds"] = ids.clone();
    }
    let g = s.identity.patch_group(c.scope, id, &p).await?;
    view(&s, &g).await
}

/// Deletes the group and its memberships (the users stay).
pub async fn delete(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<()> {
    Ok(s.identity.delete_group(c.scope, id).await?)
}

/// Adds users to groups, all or nothing: `{"members": {"<groupId>": [{"userId": ...}]}}`.
pub async fn add_members(
    State(s): State<AppState>,
    c: Caller,
    JsonBody(req): JsonBody<MembersBody>,
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
    QueryParams(q): QueryParams<MemberQuery>,
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
    let b: MemberIdsBody = crate::extract::parse_json(&body)?;
    for (g, users) in b.members {
        for u in users {
            s.identity.remove_member(c.scope, g, u).await?;
        }
    }
    Ok(())
}
