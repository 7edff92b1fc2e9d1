//! Events: what happened, in FusionAuth's event shape, recorded by the store in the
//! same transaction as the change it describes — so a change is never committed without its event,
//! and the `webhooks` worker delivers them from the table as an outbox.
//!
//! Event bodies name users by id, email and username only: never a password, a hash or a
//! two-factor secret. An event made while an API request is served carries FusionAuth's `info`
//! block (the client's IP address and User-Agent) from [`REQUEST_INFO`].

use crate::model::*;
use serde_json::{json, Value};
use uuid::Uuid;

/// One recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    /// FusionAuth's `type`, e.g. `user.bulk.create`.
    pub kind: String,
    pub create_instant: Millis,
    /// The whole body as a webhook would send it: `{"event": {"type", "id", "tenantId",
    /// "createInstant", ...}}`.
    pub body: Value,
    /// The webhooks that already answered 2xx to this event, called before its change committed
    /// (a transaction level): the store records their attempts as succeeded with the event, so
    /// the worker does not send it to them again.
    pub delivered: Vec<Uuid>,
}

/// FusionAuth's `info` block of an event: who made the request that caused it. Never holds a
/// credential: the address and the User-Agent only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventInfo {
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

impl EventInfo {
    fn to_json(&self) -> Option<Value> {
        let mut m = Json::new();
        if let Some(ip) = &self.ip_address {
            m.insert("ipAddress".into(), json!(ip));
        }
        if let Some(ua) = &self.user_agent {
            m.insert("userAgent".into(), json!(ua));
        }
        (!m.is_empty()).then_some(Value::Object(m))
    }
}

tokio::task_local! {
    /// The request being served, set by the API around each handler, so that the events its
    /// changes write carry the `info` block without every operation taking it as an argument.
    pub static REQUEST_INFO: EventInfo;
}

impl Event {
    /// An event of `kind` now, with `fields` beside FusionAuth's common ones.
    pub fn new(kind: &str, tenant: Option<Uuid>, fields: Json) -> Event {
        let id = crate::new_id();
        let create_instant = now_millis();
        let mut e = fields;
        e.insert("type".into(), json!(kind));
        e.insert("id".into(), json!(id));
        e.insert("createInstant".into(), json!(create_instant));
        if let Some(t) = tenant {
            e.insert("tenantId".into(), json!(t));
        }
        if !e.contains_key("info") {
            if let Some(info) = REQUEST_INFO.try_with(EventInfo::to_json).ok().flatten() {
                e.insert("info".into(), info);
            }
        }
        Event {
            id,
            tenant_id: tenant,
            kind: kind.to_string(),
            create_instant,
            body: json!({ "event": e }),
            delivered: Vec::new(),
        }
    }

    /// `user.bulk.create` for the users one import created: their ids, emails and usernames.
    pub fn user_bulk_create<'a>(
        tenant: Uuid,
        users: impl Iterator<Item = &'a crate::import::NewUserRow>,
    ) -> EventText {
        let mut e = BulkCreateEvent::new(tenant);
        for u in users {
            e.push(u);
        }
        e.finish()
    }
}

/// `user.bulk.create` built as text, a user at a time as an import writes them: for a big
/// import, a `serde_json::Value` of it would take more memory than the users themselves, and
/// the users' rows are gone by the time the event is written.
pub struct BulkCreateEvent {
    event: Event,
    /// The body up to the last user given: `{"event":{...,"users":[` then each user, in parts
    /// of a bounded size joined at the end (one growing text would double its capacity
    /// again and again, copying itself each time).
    parts: Vec<String>,
    users: usize,
}

/// The size of a part of [`BulkCreateEvent`]'s body.
const EVENT_PART: usize = 1 << 20;

impl BulkCreateEvent {
    /// The event with no user yet. Made on the request's task, whose details it records.
    pub fn new(tenant: Uuid) -> Self {
        let event = Event::new("user.bulk.create", Some(tenant), Json::new());
        let head = match event.body.get("event") {
            Some(Value::Object(m)) => serde_json::to_string(m).expect("events serialize"),
            _ => "{}".to_string(),
        };
        let mut body = String::from("{\"event\":");
        body.push_str(&head[..head.len() - 1]);
        if head.len() > 2 {
            body.push(',');
        }
        body.push_str("\"users\":[");
        BulkCreateEvent {
            event,
            parts: vec![body],
            users: 0,
        }
    }

    /// Adds a created user.
    pub fn push(&mut self, u: &crate::import::NewUserRow) {
        #[derive(serde::Serialize)]
        struct UserRef<'a> {
            id: Uuid,
            #[serde(skip_serializing_if = "Option::is_none")]
            email: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            username: Option<&'a str>,
        }
        let user = UserRef {
            id: u.id,
            email: u.email(),
            username: u.username(),
        };
        let user = serde_json::to_string(&user).expect("events serialize");
        let part = match self.parts.last_mut() {
            Some(p) if p.len() + user.len() < EVENT_PART => p,
            _ => {
                self.parts.push(String::with_capacity(EVENT_PART));
                self.parts.last_mut().expect("just pushed")
            }
        };
        if self.users > 0 {
            part.push(',');
        }
        part.push_str(&user);
        self.users += 1;
    }

    /// How many users it names.
    pub fn users(&self) -> usize {
        self.users
    }

    pub fn finish(self) -> EventText {
        let mut body = String::with_capacity(self.parts.iter().map(String::len).sum::<usize>() + 3);
        for p in self.parts {
            body.push_str(&p);
        }
        body.push_str("]}}");
        let e = self.event;
        EventText {
            id: e.id,
            tenant_id: e.tenant_id,
            kind: e.kind,
            create_instant: e.create_instant,
            body,
            delivered: Vec::new(),
            login_user: None,
        }
    }
}

/// An event ready to be written: its body already JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct EventText {
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub kind: String,
    pub create_instant: Millis,
    pub body: String,
    /// As [`Event::delivered`].
    pub delivered: Vec<Uuid>,
    /// As [`Event::login_user`].
    pub login_user: Option<Uuid>,
}

impl From<&Event> for EventText {
    fn from(e: &Event) -> Self {
        EventText {
            id: e.id,
            tenant_id: e.tenant_id,
            kind: e.kind.clone(),
            create_instant: e.create_instant,
            body: e.body.to_string(),
            delivered: e.delivered.clone(),
            login_user: e.login_user(),
        }
    }
}

impl Event {
    /// The user a sign-in event (`user.login.success`, `user.login.failed`) names: the store
    /// files the event under that user so their recent sign-ins read back by index.
    pub fn login_user(&self) -> Option<Uuid> {
        if self.kind != "user.login.success" && self.kind != "user.login.failed" {
            return None;
        }
        let id = self.body.get("event")?.get("user")?.get("id")?.as_str()?;
        Uuid::parse_str(id).ok()
    }

    /// `user.migrated` (ours): a connector's user became Portcullis' own.
    pub fn user_migrated(user: &User, connector: Option<Uuid>) -> Event {
        let mut fields = Json::new();
        fields.insert("user".into(), user_ref(user));
        fields.insert("connectorId".into(), json!(connector));
        Event::new("user.migrated", user.tenant_id, fields)
    }

    /// `user.login.success`.
    pub fn login_success(user: &User, application: Option<Uuid>, ip: Option<&str>) -> Event {
        let mut fields = Json::new();
        fields.insert("user".into(), user_ref(user));
        fields.insert("applicationId".into(), json!(application));
        fields.insert("authenticationType".into(), json!("PASSWORD"));
        if let Some(c) = user.connector_id {
            fields.insert("connectorId".into(), json!(c));
        }
        if let Some(ip) = ip {
            fields.insert("ipAddress".into(), json!(ip));
        }
        Event::new("user.login.success", user.tenant_id, fields)
    }

    /// `user.login.failed`: names the user only when the login id belongs to one (never echoes
    /// what was typed, which is sometimes a password in the wrong field).
    pub fn login_failed(
        tenant: Uuid,
        user: Option<&User>,
        application: Option<Uuid>,
        ip: Option<&str>,
    ) -> Event {
        let mut fields = Json::new();
        if let Some(u) = user {
            fields.insert("user".into(), user_ref(u));
        }
        fields.insert("applicationId".into(), json!(application));
        if let Some(ip) = ip {
            fields.insert("ipAddress".into(), json!(ip));
        }
        Event::new("user.login.failed", Some(tenant), fields)
    }

    /// The event with `reason` beside its fields (why a login failed, when it is not the
    /// password: never anything the caller typed).
    pub fn with_reason(mut self, reason: &str) -> Event {
        if let Some(e) = self.body.get_mut("event").and_then(|e| e.as_object_mut()) {
            e.insert("reason".into(), json!(reason));
        }
        self
    }
}

impl Event {
    /// A user event (`user.create`, `user.update`, `user.delete`, `user.deactivate`,
    /// `user.reactivate`, `user.password.update`) naming the user.
    pub fn user(kind: &str, user: &User) -> Event {
        let mut fields = Json::new();
        fields.insert("user".into(), user_ref(user));
        Event::new(kind, user.tenant_id, fields)
    }

    /// `user.registration.create` / `.delete`: the user and the registration's id, application
    /// and roles (a registration holds no secret).
    pub fn registration(kind: &str, user: &User, reg: &Registration) -> Event {
        let mut fields = Json::new();
        fields.insert("user".into(), user_ref(user));
        fields.insert("applicationId".into(), json!(reg.application_id));
        fields.insert(
            "registration".into(),
            json!({"id": reg.id, "applicationId": reg.application_id, "roles": reg.roles}),
        );
        Event::new(kind, user.tenant_id, fields)
    }
}

impl Event {
    /// `jwt.refresh-token.revoke`: refresh tokens of `user` (or of every user of one application)
    /// were revoked; `ttls` maps each application concerned to its access tokens' time to live,
    /// how long an access token issued before the revocation may still be valid. Never carries a
    /// token.
    pub fn refresh_token_revoke(
        tenant: Uuid,
        user: Option<&User>,
        application: Option<Uuid>,
        ttls: &[(Uuid, i64)],
    ) -> Event {
        let mut fields = Json::new();
        let map: Json = ttls
            .iter()
            .map(|(a, t)| (a.to_string(), json!(t)))
            .collect();
        fields.insert("applicationTimeToLiveInSeconds".into(), Value::Object(map));
        if let Some(a) = application {
            fields.insert("applicationId".into(), json!(a));
        }
        if let Some(u) = user {
            fields.insert("userId".into(), json!(u.id));
            fields.insert("user".into(), user_ref(u));
        }
        Event::new("jwt.refresh-token.revoke", Some(tenant), fields)
    }
}

/// A user as events name them: never the whole body.
fn user_ref(u: &User) -> Value {
    let mut m = Json::new();
    m.insert("id".into(), json!(u.id));
    if let Some(e) = &u.email {
        m.insert("email".into(), json!(e));
    }
    if let Some(n) = &u.username {
        m.insert("username".into(), json!(n));
    }
    Value::Object(m)
}

/// Where an asynchronous import job is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "failed" => JobState::Failed,
            _ => return None,
        })
    }
}

/// An asynchronous import (`POST /api/user/import/job`): one import request, run later, all or
/// nothing like the synchronous one. Its input is the stored request body or a file on the server.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportJob {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub state: JobState,
    /// The file on the server the job reads, for a file job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Users in the request; unknown for a file job until it is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users_total: Option<u64>,
    /// Users written: 0 until the job succeeds (it is one transaction), then all of them.
    pub users_done: u64,
    pub users_created: u64,
    pub users_updated: u64,
    /// What the synchronous import would have answered with its 400, when the job failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<crate::Errors>,
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub insert_instant: Millis,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_instant: Option<Millis>,
}
