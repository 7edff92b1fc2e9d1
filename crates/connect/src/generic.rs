//! FusionAuth's Generic Connector contract, byte for byte: `POST authenticationURL` with
//! `{"loginId", "password", "applicationId", "ipAddress", "noJWT": false}`; 200 with
//! `{"user": {...}}` (FusionAuth's user JSON) means authenticated, 404 means unknown user or wrong
//! password, anything else is a failure of the legacy system.

use crate::config::Reader;
use crate::guard::Limits;
use crate::http::{self, Auth};
use crate::mapping;
use portcullis_domain::migration::connectors::{LegacyLogin, LegacyResult, LegacyUser};
use portcullis_domain::User;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

pub struct Generic {
    connector_id: Uuid,
    url: reqwest::Url,
    auth: Auth,
    client: reqwest::Client,
    max_response_bytes: usize,
}

#[derive(Deserialize)]
struct Answer {
    user: User,
}

impl Generic {
    pub fn read(r: &mut Reader, connector_id: Uuid, limits: &Limits) -> Option<Self> {
        let url = r.url("authenticationURL", &["http", "https"]);
        let auth = Auth::read(r, false);
        let client = http::client(r, limits);
        Some(Self {
            connector_id,
            url: url?,
            auth,
            client: client?,
            max_response_bytes: limits.max_response_bytes,
        })
    }

    pub async fn authenticate(&self, login: &LegacyLogin<'_>) -> LegacyResult<Option<LegacyUser>> {
        let body = json!({
            "applicationId": login.application_id,
            "ipAddress": login.ip_address,
            "loginId": login.login_id,
            "noJWT": false,
            "password": login.password.0,
        });
        let req = self
            .auth
            .apply(self.client.post(self.url.clone()).json(&body));
        let res = req.send().await.map_err(http::failure)?;
        match res.status().as_u16() {
            200 => {
                let a: Answer = http::json_body(res, self.max_response_bytes).await?;
                mapping::finish(self.connector_id, a.user, Vec::new()).map(Some)
            }
            404 => Ok(None),
            _ => Err(http::unexpected(res.status(), &self.url)),
        }
    }
}
