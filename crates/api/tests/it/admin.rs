//! The admin web UI: sign-in through the hosted login as the built-in admin application, the
//! admin role checked on every page, the dashboard's chart, CSRF on sign-out.

use crate::oauth::{login_form, Browser, Seen};
use crate::support::*;
use portcullis_domain::migration::connectors::{day_of, ConnectorStore};
use portcullis_store::testing::Backend;
use serde_json::json;

portcullis_store::on_both_backends!(
    an_admin_signs_in_through_the_hosted_login_and_sees_the_migration_chart,
    a_user_without_the_admin_role_gets_403_and_losing_the_role_ends_the_pages,
    the_callback_refuses_a_state_this_browser_did_not_start,
    an_admin_creates_finds_deactivates_and_deletes_a_user,
    trying_a_sign_in_on_a_connector_shows_the_answer_and_migrates_nothing,
    the_settings_pages_list_tenants_keys_and_webhooks_and_rotate_a_key,
    the_groups_api_keys_themes_and_import_jobs_pages_list_them_and_show_no_secret,
    an_admin_unlocks_a_user_locked_by_failed_sign_ins,
    a_user_page_shows_their_recent_sign_ins_and_no_one_elses,
    the_users_page_searches_with_exact_totals_and_pages_on_with_the_cursor,
    an_admin_edits_a_tenants_name_password_rules_and_connector_policies,
    an_admin_edits_an_applications_name_roles_and_oauth_settings,
    a_user_without_the_admin_role_gets_403_on_the_edit_pages,
);

const PASSWORD: &str = "correct horse battery";

/// The admin application's id, as a fresh instance has it.
async fn admin_app(s: &Server) -> String {
    let a = s.get("/api/application").await;
    let apps = a.json["applications"].as_array().unwrap();
    let app = apps.iter().find(|a| a["name"] == "Portcullis").unwrap();
    app["id"].as_str().unwrap().to_string()
}

async fn user(s: &Server, email: &str, roles: &[&str]) -> String {
    let app = admin_app(s).await;
    let a = s
        .call(
            "POST",
            "/api/user/registration",
            json!({"user": {"email": email, "password": PASSWORD},
                   "registration": {"applicationId": app, "roles": roles}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    a.json["user"]["id"].as_str().unwrap().to_string()
}

/// Follows `/admin` through the hosted login to the page it lands on.
async fn sign_in(s: &Server, b: &mut Browser, email: &str) -> Seen {
    let first = b.get("/admin").await;
    assert_eq!(first.status, 303, "{first:?}");
    assert_eq!(first.location.as_deref(), Some("/admin/login"));
    let start = b.get("/admin/login").await;
    assert_eq!(start.status, 303, "{start:?}");
    let to = start.location.clone().unwrap();
    assert!(to.starts_with("/oauth2/authorize?"), "{to}");
    assert_eq!(
        start.param("code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        start.param("redirect_uri").unwrap(),
        format!("{}/admin/callback", s.url)
    );
    let page = b.get(&to).await;
    assert_eq!(page.status, 200, "{page:?}");
    let back = b
        .post_form("/oauth2/authorize", &login_form(&page, email, PASSWORD))
        .await;
    assert_eq!(back.status, 303, "{back:?}");
    let callback = back.location.clone().unwrap();
    let path = callback.strip_prefix(&s.url).expect("back to this server");
    assert!(path.starts_with("/admin/callback?"), "{path}");
    let landed = b.get(path).await;
    assert_eq!(landed.status, 303, "{landed:?}");
    assert_eq!(landed.location.as_deref(), Some("/admin"));
    let cookie = landed
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_string())
        .find(|c| c.starts_with("portcullis_admin="))
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(cookie.contains("Path=/admin"));
    b.get("/admin").await
}

async fn an_admin_signs_in_through_the_hosted_login_and_sees_the_migration_chart(b: Backend) {
    let s = Server::start(b).await;
    let tenant = s.default_tenant().await;
    let a = s
        .call(
            "PATCH",
            &format!("/api/tenant/{tenant}"),
            json!({"tenant": {"data": {"legacyUserCount": 1000}}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    // Three days of a connector's migrations: 10, 20 and 30 users.
    let connector: uuid::Uuid = crate::migration::connector(
        &s,
        json!({"type": "Generic", "name": "Old shop",
               "authenticationURL": "http://127.0.0.1:9/login"}),
    )
    .await
    .parse()
    .unwrap();
    let today = day_of(portcullis_domain::now_millis());
    let t: uuid::Uuid = tenant.parse().unwrap();
    for (day, n) in [(today - 3, 10), (today - 2, 20), (today - 1, 30)] {
        for _ in 0..n {
            s.db.store
                .count_connector(t, connector, day, "migrated")
                .await
                .unwrap();
        }
    }
    user(&s, "root@example.com", &["admin"]).await;
    let mut br = Browser::new(&s);
    let page = sign_in(&s, &mut br, "root@example.com").await;
    assert_eq!(page.status, 200, "{page:?}");
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert!(
        !csp.contains("script-src"),
        "no script on admin pages: {csp}"
    );
    assert!(!page.body.contains("<script"));
    assert!(page.body.contains("root@example.com"));
    assert!(page.body.contains("<svg"), "{}", page.body);
    assert_eq!(page.body.matches("class=\"point\"").count(), 3);
    assert!(
        page.body.contains("6.0%"),
        "60 of 1000 migrated: {}",
        page.body
    );

    // Signing out needs the page's CSRF token.
    let refused = br
        .post_form("/admin/logout", &[("csrf", "forged".into())])
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(br.get("/admin").await.status, 200, "still signed in");
    let csrf = page
        .input("csrf")
        .expect("a CSRF token in the sign-out form");
    let out = br.post_form("/admin/logout", &[("csrf", csrf)]).await;
    assert_eq!(out.status, 303, "{out:?}");
    assert!(out.location.unwrap().starts_with("/oauth2/logout?"));
    assert_eq!(br.get("/admin").await.status, 303, "signed out");
}

async fn a_user_without_the_admin_role_gets_403_and_losing_the_role_ends_the_pages(b: Backend) {
    let s = Server::start(b).await;
    user(&s, "viewer@example.com", &[]).await;
    let mut br = Browser::new(&s);
    let page = sign_in(&s, &mut br, "viewer@example.com").await;
    assert_eq!(page.status, 403, "{page:?}");
    assert!(!page.body.contains("<svg"));

    let id = user(&s, "ops@example.com", &["admin"]).await;
    let mut br = Browser::new(&s);
    assert_eq!(sign_in(&s, &mut br, "ops@example.com").await.status, 200);
    let app = admin_app(&s).await;
    let a = s
        .call(
            "PUT",
            &format!("/api/user/registration/{id}/{app}"),
            json!({"registration": {"applicationId": app, "roles": []}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(
        br.get("/admin").await.status,
        403,
        "the role is read again on every page, not only at sign-in"
    );
}

async fn the_callback_refuses_a_state_this_browser_did_not_start(b: Backend) {
    let s = Server::start(b).await;
    let mut br = Browser::new(&s);
    let none = br.get("/admin/callback?code=abc&state=xyz").await;
    assert_eq!(none.status, 400, "no sign-in started here");
    let start = br.get("/admin/login").await;
    assert_eq!(start.status, 303);
    let wrong = br.get("/admin/callback?code=abc&state=not-the-state").await;
    assert_eq!(wrong.status, 400);
    assert!(!br.cookies.contains_key("portcullis_admin"));
    let state = start.param("state").unwrap();
    let bad_code = br
        .get(&format!("/admin/callback?code=made-up&state={state}"))
        .await;
    assert_eq!(bad_code.status, 400, "a code the server never issued");
    assert!(!br.cookies.contains_key("portcullis_admin"));
}

async fn an_admin_creates_finds_deactivates_and_deletes_a_user(b: Backend) {
    let s = Server::start(b).await;
    user(&s, "root@example.com", &["admin"]).await;
    let mut br = Browser::new(&s);
    let home = sign_in(&s, &mut br, "root@example.com").await;
    assert_eq!(home.status, 200);

    let form = br.get("/admin/users/new").await;
    assert_eq!(form.status, 200, "{form:?}");
    let csrf = form.input("csrf").unwrap();
    let forged = br
        .post_form(
            "/admin/users/new",
            &[
                ("csrf", "forged".into()),
                ("email", "eve@example.com".into()),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(
        s.get("/api/user?email=eve@example.com").await.status,
        404,
        "a forged form creates nothing"
    );
    let bad = br
        .post_form(
            "/admin/users/new",
            &[("csrf", csrf.clone()), ("email", "not an email".into())],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("not an email"),
        "the form keeps what was typed"
    );

    let made = br
        .post_form(
            "/admin/users/new",
            &[
                ("csrf", csrf.clone()),
                ("email", "grace@example.com".into()),
                ("firstName", "Grace".into()),
                ("password", "a long enough passphrase".into()),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{made:?}");
    let page_path = made.location.clone().unwrap();
    let id = page_path
        .strip_prefix("/admin/users/")
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let api = s.get(&format!("/api/user/{id}")).await;
    assert_eq!(api.json["user"]["email"], "grace@example.com");
    assert_eq!(api.json["user"]["firstName"], "Grace");

    let found = br.get("/admin/users?q=grace%40example.com").await;
    assert_eq!(found.status, 200);
    assert!(
        found.body.contains(&format!("/admin/users/{id}")),
        "{}",
        found.body
    );

    let shown = br.get(&page_path).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains("The user was created."));
    let act = |what: &'static str| format!("/admin/users/{id}/{what}");
    let forged = br
        .post_form(&act("deactivate"), &[("csrf", "forged".into())])
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(
        s.get(&format!("/api/user/{id}")).await.json["user"]["active"],
        true
    );
    let done = br
        .post_form(&act("deactivate"), &[("csrf", csrf.clone())])
        .await;
    assert_eq!(done.status, 303, "{done:?}");
    assert_eq!(
        s.get(&format!("/api/user/{id}")).await.json["user"]["active"],
        false
    );
    let shown = br.get(done.location.as_deref().unwrap()).await;
    assert!(shown.body.contains("deactivated"));
    assert_eq!(
        br.post_form(&act("reactivate"), &[("csrf", csrf.clone())])
            .await
            .status,
        303
    );
    assert_eq!(
        s.get(&format!("/api/user/{id}")).await.json["user"]["active"],
        true
    );
    let edited = br
        .post_form(
            &act("edit"),
            &[
                ("csrf", csrf.clone()),
                ("email", "grace@example.com".into()),
                ("firstName", "Grace B.".into()),
                ("lastName", "Hopper".into()),
            ],
        )
        .await;
    assert_eq!(edited.status, 303, "{edited:?}");
    let api = s.get(&format!("/api/user/{id}")).await;
    assert_eq!(api.json["user"]["firstName"], "Grace B.");
    assert_eq!(api.json["user"]["lastName"], "Hopper");
    let refused = br
        .post_form(
            &act("edit"),
            &[("csrf", csrf.clone()), ("email", "not an email".into())],
        )
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(
        s.get(&format!("/api/user/{id}")).await.json["user"]["email"],
        "grace@example.com",
        "a refused edit changes nothing"
    );
    assert_eq!(
        br.post_form(&act("revoke-tokens"), &[("csrf", csrf.clone())])
            .await
            .status,
        303
    );
    assert_eq!(
        br.post_form(&act("delete"), &[("csrf", csrf.clone())])
            .await
            .location
            .as_deref(),
        Some("/admin/users")
    );
    assert_eq!(s.get(&format!("/api/user/{id}")).await.status, 404);
    assert_eq!(br.get(&page_path).await.status, 404);

    // Someone without the role cannot act, whatever they post.
    user(&s, "viewer@example.com", &[]).await;
    let mut other = Browser::new(&s);
    assert_eq!(
        sign_in(&s, &mut other, "viewer@example.com").await.status,
        403
    );
    let victim = user(&s, "victim@example.com", &[]).await;
    let csrf = other
        .cookies
        .get("portcullis_csrf")
        .cloned()
        .unwrap_or_default();
    let refused = other
        .post_form(&format!("/admin/users/{victim}/delete"), &[("csrf", csrf)])
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(s.get(&format!("/api/user/{victim}")).await.status, 200);
}

async fn trying_a_sign_in_on_a_connector_shows_the_answer_and_migrates_nothing(b: Backend) {
    let s = Server::start(b).await;
    let legacy = crate::migration::Legacy::start().await;
    legacy.add(
        "ann@legacy.example",
        "legacy secret 123",
        json!({"email": "ann@legacy.example", "username": "ann"}),
    );
    let up = crate::migration::generic_connector(&s, &legacy, "/generic").await;
    let down = crate::migration::connector(
        &s,
        json!({"type": "Generic", "name": "Down", "authenticationURL": "http://127.0.0.1:9/auth",
               "connectTimeout": 500, "readTimeout": 300}),
    )
    .await;
    user(&s, "root@example.com", &["admin"]).await;
    let mut br = Browser::new(&s);
    assert_eq!(sign_in(&s, &mut br, "root@example.com").await.status, 200);
    let page = br.get("/admin/connectors").await;
    assert_eq!(page.status, 200, "{page:?}");
    let shown_url = format!("{}/generic", legacy.url).replace('/', "&#x2f;");
    assert!(
        page.body.contains(&shown_url),
        "the legacy system's URL, HTML-escaped"
    );
    let csrf = page.input("csrf").unwrap();
    let attempt = |connector: String, login: &'static str, password: &'static str, csrf: String| {
        let path = format!("/admin/connectors/{connector}/try");
        (
            path,
            vec![
                ("csrf", csrf),
                ("loginId", login.to_string()),
                ("password", password.to_string()),
            ],
        )
    };

    let (path, form) = attempt(
        up.clone(),
        "ann@legacy.example",
        "legacy secret 123",
        csrf.clone(),
    );
    let known = br.post_form(&path, &form).await;
    assert_eq!(known.status, 200, "{known:?}");
    assert!(
        known.body.contains("knows this user and password"),
        "{}",
        known.body
    );
    assert!(known.body.contains("username ann"));
    assert!(
        !known.body.contains("legacy secret 123"),
        "the password is never shown"
    );

    let (path, form) = attempt(up.clone(), "ann@legacy.example", "wrong", csrf.clone());
    let wrong = br.post_form(&path, &form).await;
    assert!(wrong.body.contains("Unknown user or wrong password"));

    let (path, form) = attempt(
        down,
        "ann@legacy.example",
        "legacy secret 123",
        csrf.clone(),
    );
    let failed = br.post_form(&path, &form).await;
    assert!(
        failed
            .body
            .contains("The legacy system failed: Unreachable"),
        "{}",
        failed.body
    );

    let (path, form) = attempt(
        up,
        "ann@legacy.example",
        "legacy secret 123",
        "forged".into(),
    );
    assert_eq!(br.post_form(&path, &form).await.status, 403);

    assert_eq!(
        s.get("/api/user?email=ann@legacy.example").await.status,
        404,
        "trying migrates nobody"
    );
}

async fn the_settings_pages_list_tenants_keys_and_webhooks_and_rotate_a_key(b: Backend) {
    let s = Server::start(b).await;
    let tenant = s.default_tenant().await;
    let hook = s
        .call(
            "POST",
            "/api/webhook",
            json!({"webhook": {"url": "http://127.0.0.1:9/hook", "global": true,
                               "eventsEnabled": {"user.create": true}}}),
        )
        .await;
    assert_eq!(hook.status, 200, "{hook:?}");
    user(&s, "root@example.com", &["admin"]).await;
    let mut br = Browser::new(&s);
    assert_eq!(sign_in(&s, &mut br, "root@example.com").await.status, 200);

    let t = br.get("/admin/tenants").await;
    assert_eq!(t.status, 200, "{t:?}");
    assert!(t.body.contains(&tenant) && t.body.contains("Portcullis"));
    assert!(!t.body.contains("clientSecret"), "no secret on the page");

    let w = br.get("/admin/webhooks").await;
    assert_eq!(w.status, 200);
    assert!(w.body.contains("127.0.0.1:9"), "{}", w.body);
    assert!(w.body.contains("user.create"));
    let csrf = w.input("csrf").unwrap();
    let unknown = uuid::Uuid::new_v4();
    let retry = format!("/admin/webhooks/attempts/{unknown}/retry");
    assert_eq!(
        br.post_form(&retry, &[("csrf", "forged".into())])
            .await
            .status,
        403
    );
    assert_eq!(
        br.post_form(&retry, &[("csrf", csrf.clone())]).await.status,
        404
    );

    let keys_before = s.get("/api/jwt/public-key").await.json["publicKeys"]
        .as_object()
        .map_or(0, |m| m.len());
    let k = br.get("/admin/keys").await;
    assert_eq!(k.status, 200);
    assert!(k.body.contains("active"));
    let rotate = format!("/admin/keys/{tenant}/rotate");
    assert_eq!(
        br.post_form(&rotate, &[("csrf", "forged".into())])
            .await
            .status,
        403
    );
    let done = br.post_form(&rotate, &[("csrf", csrf)]).await;
    assert_eq!(done.status, 303, "{done:?}");
    let shown = br.get(done.location.as_deref().unwrap()).await;
    assert!(
        shown.body.contains("retiring"),
        "the old key is retiring: {}",
        shown.body
    );
    let keys_after = s.get("/api/jwt/public-key").await.json["publicKeys"]
        .as_object()
        .map_or(0, |m| m.len());
    assert_eq!(
        keys_after,
        keys_before + 1,
        "a new key is published beside the old one"
    );
}

async fn the_groups_api_keys_themes_and_import_jobs_pages_list_them_and_show_no_secret(b: Backend) {
    let s = Server::start(b).await;
    let tenant = s.default_tenant().await;
    let app = s.new_app(&tenant, "Shop", &["buyer"]).await;
    let roles =
        s.get(&format!("/api/application/{app}")).await.json["application"]["roles"].clone();
    let buyer = roles[0]["id"].as_str().unwrap().to_string();
    let group = s
        .call(
            "POST",
            "/api/group",
            json!({"group": {"name": "Wholesale", "tenantId": tenant}, "roleIds": [buyer]}),
        )
        .await;
    assert_eq!(group.status, 200, "{group:?}");
    let secret = s
        .key_with(json!({"tenantId": tenant,
                         "metaData": {"attributes": {"description": "CRM sync"}},
                         "permissions": {"endpoints": {"/api/user": ["GET"]}}}))
        .await;
    let theme = send(
        s.req("POST", "/api/theme")
            .header("X-FusionAuth-TenantId", &tenant)
            .json(&json!({"theme": {"name": "Shop look",
                                    "stylesheet": "body { background: #fafafa; }",
                                    "localizedMessages": {"de": "sign_in=Anmelden"}}})),
    )
    .await;
    assert_eq!(theme.status, 200, "{theme:?}");
    user(&s, "root@example.com", &["admin"]).await;
    let mut br = Browser::new(&s);
    assert_eq!(sign_in(&s, &mut br, "root@example.com").await.status, 200);

    let g = br.get("/admin/groups").await;
    assert_eq!(g.status, 200, "{g:?}");
    assert!(
        g.body.contains("Wholesale") && g.body.contains("buyer"),
        "{}",
        g.body
    );

    let k = br.get("/admin/api-keys").await;
    assert_eq!(k.status, 200, "{k:?}");
    assert!(k.body.contains("CRM sync"), "{}", k.body);
    assert!(k.body.contains("user (GET)"), "{}", k.body);
    assert!(
        !k.body.contains(&secret),
        "an API key's secret is never shown"
    );

    let t = br.get("/admin/themes").await;
    assert_eq!(t.status, 200, "{t:?}");
    assert!(
        t.body.contains("Shop look") && t.body.contains(">de<"),
        "{}",
        t.body
    );

    let job = s
        .call(
            "POST",
            "/api/user/import/job",
            json!({"users": [{"email": "j1@example.com"}, {"email": "j2@example.com"}, {"email": "j3@example.com"}]}),
        )
        .await;
    assert_eq!(job.status, 202, "{job:?}");
    let j = br.get("/admin/import-jobs").await;
    assert_eq!(j.status, 200, "{j:?}");
    let id = job.json["job"]["id"].as_str().unwrap();
    assert!(j.body.contains(id), "{}", j.body);
    assert!(
        ["queued", "running", "succeeded"]
            .iter()
            .any(|state| j.body.contains(&format!("<td>{state}</td>")))
            && j.body.contains(" of 3</td>"),
        "{}",
        j.body
    );

    let stranger = Browser::new(&s).get("/admin/api-keys").await;
    assert_eq!(stranger.status, 303, "no page without a sign-in");
}

async fn an_admin_unlocks_a_user_locked_by_failed_sign_ins(b: Backend) {
    let s = Server::start(b).await;
    let tenant = s.default_tenant().await;
    let a = s
        .call(
            "PATCH",
            &format!("/api/tenant/{tenant}"),
            json!({"tenant": {"failedAuthenticationConfiguration": {"tooManyAttempts": 2,
                   "actionDuration": 10, "actionDurationUnit": "MINUTES"}}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    user(&s, "root@example.com", &["admin"]).await;
    let locked = user(&s, "locked@example.com", &[]).await;
    let login = |password: &'static str| {
        s.call(
            "POST",
            "/api/login",
            json!({"loginId": "locked@example.com", "password": password}),
        )
    };
    for _ in 0..2 {
        assert_eq!(login("a wrong guess").await.status, 404);
    }
    assert_eq!(
        login(PASSWORD).await.status,
        423,
        "locked after two failures"
    );

    let mut br = Browser::new(&s);
    assert_eq!(sign_in(&s, &mut br, "root@example.com").await.status, 200);
    let page = br.get(&format!("/admin/users/{locked}")).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("Locked until"), "{}", page.body);
    let unlock = format!("/admin/users/{locked}/unlock");
    assert!(page.body.contains(&unlock));
    assert_eq!(
        br.post_form(&unlock, &[("csrf", "forged".into())])
            .await
            .status,
        403
    );
    assert_eq!(
        login(PASSWORD).await.status,
        423,
        "a forged form unlocks nothing"
    );
    let done = br
        .post_form(&unlock, &[("csrf", page.input("csrf").unwrap())])
        .await;
    assert_eq!(done.status, 303, "{done:?}");
    let after = br.get(done.location.as_deref().unwrap()).await;
    assert!(!after.body.contains("Locked until"), "{}", after.body);
    assert!(!after.body.contains(&unlock), "no unlock once unlocked");
    assert_eq!(login(PASSWORD).await.status, 200, "the user signs in again");
}

async fn a_user_page_shows_their_recent_sign_ins_and_no_one_elses(b: Backend) {
    let s = Server::start(b).await;
    user(&s, "root@example.com", &["admin"]).await;
    let watched = user(&s, "watched@example.com", &[]).await;
    user(&s, "other@example.com", &[]).await;
    let login = |who: &'static str, password: &'static str| {
        s.call(
            "POST",
            "/api/login",
            json!({"loginId": who, "password": password}),
        )
    };

    let mut br = Browser::new(&s);
    assert_eq!(sign_in(&s, &mut br, "root@example.com").await.status, 200);
    let page = br.get(&format!("/admin/users/{watched}")).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("Recent sign-ins"), "{}", page.body);
    assert!(page.body.contains("None recorded."), "{}", page.body);

    assert_eq!(login("watched@example.com", PASSWORD).await.status, 200);
    assert_eq!(
        login("watched@example.com", "a wrong guess").await.status,
        404
    );
    assert_eq!(
        login("other@example.com", "another guess").await.status,
        404
    );
    let page = br.get(&format!("/admin/users/{watched}")).await;
    let section = page.body.split("Recent sign-ins").nth(1).unwrap();
    let section = section.split("</table>").next().unwrap();
    let rows: Vec<&str> = section.split("<tr><td>").skip(1).collect();
    assert_eq!(
        rows.len(),
        2,
        "the watched user's two attempts only: {section}"
    );
    assert!(rows[0].contains("failed"), "newest first: {section}");
    assert!(rows[1].contains("signed in"), "{section}");
    assert!(
        !page.body.contains("another guess") && !page.body.contains("a wrong guess"),
        "nothing typed is shown"
    );

    for _ in 0..12 {
        assert_eq!(login("watched@example.com", PASSWORD).await.status, 200);
    }
    let page = br.get(&format!("/admin/users/{watched}")).await;
    let section = page.body.split("Recent sign-ins").nth(1).unwrap();
    let section = section.split("</table>").next().unwrap();
    assert_eq!(
        section.matches("<tr><td>").count(),
        10,
        "the ten latest: {section}"
    );
    assert!(
        !section.contains("failed"),
        "the failure is older than ten: {section}"
    );
}

/// The user ids a users page links to.
fn linked_users(body: &str) -> Vec<String> {
    body.match_indices("href=\"/admin/users/")
        .map(|(at, m)| body[at + m.len()..].split('"').next().unwrap().to_string())
        .filter(|id| uuid::Uuid::parse_str(id).is_ok())
        .collect()
}

async fn the_users_page_searches_with_exact_totals_and_pages_on_with_the_cursor(b: Backend) {
    let s = Server::start(b).await;
    user(&s, "root@example.com", &["admin"]).await;
    let users: Vec<_> = (0..30)
        .map(|i| json!({"email": format!("shopper{i:02}@example.com"), "username": format!("buyer{i:02}")}))
        .collect();
    let imported = s
        .call("POST", "/api/user/import", json!({"users": users}))
        .await;
    assert_eq!(imported.status, 200, "{imported:?}");
    let mut br = Browser::new(&s);
    assert_eq!(sign_in(&s, &mut br, "root@example.com").await.status, 200);

    let first = br.get("/admin/users?q=shopper").await;
    assert_eq!(first.status, 200, "{first:?}");
    assert!(first.body.contains("30 users"), "{}", first.body);
    let mut seen = linked_users(&first.body);
    assert_eq!(seen.len(), 25, "a page of 25");
    let end = first
        .body
        .find("\">Next page</a>")
        .expect("a next page link");
    let start = first.body[..end].rfind("href=\"").unwrap() + "href=\"".len();
    let next = first.body[start..end]
        .replace("&amp;", "&")
        .replace("&#x2f;", "/");
    assert!(next.starts_with("/admin/users?q=shopper&next="), "{next}");
    let second = br.get(&next).await;
    assert_eq!(second.status, 200, "{second:?}");
    assert!(second.body.contains("30 users"));
    let rest = linked_users(&second.body);
    assert_eq!(rest.len(), 5, "{}", second.body);
    assert!(
        !second.body.contains("next="),
        "the last page has no next link"
    );
    seen.extend(rest);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 30, "every user once");

    let by_username = br.get("/admin/users?q=buyer0").await;
    assert!(
        by_username.body.contains("10 users"),
        "{}",
        by_username.body
    );
    let none = br.get("/admin/users?q=nobody%20here").await;
    assert!(none.body.contains("0 users"), "{}", none.body);
    let query = br
        .get("/admin/users?q=email%3Ashopper0*%20AND%20NOT%20username%3Abuyer01")
        .await;
    assert!(query.body.contains("9 users"), "{}", query.body);
    let bad = br.get("/admin/users?q=email%3A%22open").await;
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(bad.body.contains("never closed"), "{}", bad.body);
    let forged = br.get("/admin/users?next=not-a-cursor").await;
    assert_eq!(
        forged.status, 400,
        "a cursor the server did not make is refused"
    );
}

/// The application as the API answers it.
async fn api_application(s: &Server, id: &str) -> serde_json::Value {
    s.get(&format!("/api/application/{id}")).await.json["application"].clone()
}

/// A page's text with the `/` that HTML escaping writes as `&#x2f;` put back.
fn unescaped(page: &Seen) -> String {
    page.body.replace("&#x2f;", "/")
}

async fn an_admin_edits_a_tenants_name_password_rules_and_connector_policies(b: Backend) {
    let s = Server::start(b).await;
    // The administrator is made while the default tenant is the only one.
    user(&s, "root@example.com", &["admin"]).await;
    let made = s
        .call("POST", "/api/tenant", json!({"tenant": {"name": "Shops"}}))
        .await;
    assert_eq!(made.status, 200, "{made:?}");
    let tenant = made.json["tenant"]["id"].as_str().unwrap().to_string();
    let connector = crate::migration::connector(
        &s,
        json!({"type": "Generic", "name": "Old shop",
               "authenticationURL": "http://127.0.0.1:9/login"}),
    )
    .await;
    let mut br = Browser::new(&s);
    assert_eq!(sign_in(&s, &mut br, "root@example.com").await.status, 200);

    let list = br.get("/admin/tenants").await;
    assert!(
        unescaped(&list).contains(&format!("href=\"/admin/tenants/{tenant}\"")),
        "each tenant links to its page: {}",
        list.body
    );
    let path = format!("/admin/tenants/{tenant}");
    let page = br.get(&path).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("Password rules") && page.body.contains("Old shop"));
    let csrf = page.input("csrf").unwrap();
    let form = |csrf: &str, name: &str, min: &str| {
        vec![
            ("csrf", csrf.to_string()),
            ("name", name.to_string()),
            ("minLength", min.to_string()),
            ("maxLength", String::new()),
            ("requireNumber", "on".to_string()),
            ("policy.0.connectorId", connector.clone()),
            ("policy.0.domains", "example.com, old.example".to_string()),
            ("policy.0.migrate", "on".to_string()),
        ]
    };

    let forged = br.post_form(&path, &form("forged", "Forged", "12")).await;
    assert_eq!(forged.status, 403, "{forged:?}");
    let t = s.get(&format!("/api/tenant/{tenant}")).await;
    assert_eq!(
        t.json["tenant"]["name"], "Shops",
        "a forged form changes nothing"
    );

    let saved = br.post_form(&path, &form(&csrf, "Main", "12")).await;
    assert_eq!(saved.status, 303, "{saved:?}");
    let shown = br.get(saved.location.as_deref().unwrap()).await;
    assert!(
        shown.body.contains("The changes are saved."),
        "{}",
        shown.body
    );
    let t = s.get(&format!("/api/tenant/{tenant}")).await;
    let t = &t.json["tenant"];
    assert_eq!(t["name"], "Main");
    assert_eq!(t["passwordValidationRules"]["minLength"], 12);
    assert_eq!(t["passwordValidationRules"]["requireNumber"], true);
    assert_eq!(t["passwordValidationRules"]["requireMixedCase"], false);
    assert_eq!(
        t["connectorPolicies"],
        json!([{"connectorId": connector, "domains": ["example.com", "old.example"],
                "migrate": true}])
    );
    let short = send(
        s.req("POST", "/api/user")
            .header("X-FusionAuth-TenantId", &tenant)
            .json(&json!({"user": {"email": "new@example.com", "password": "only10chr1"}})),
    )
    .await;
    assert_eq!(
        short.status, 400,
        "the tenant's new rule decides: {short:?}"
    );

    let refused = br.post_form(&path, &form(&csrf, "Other", "0")).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(
        refused
            .body
            .contains("must be a whole number from 1 to 256"),
        "the domain's message: {}",
        refused.body
    );
    assert!(
        refused.body.contains("value=\"Other\""),
        "the form as typed"
    );
    let t = s.get(&format!("/api/tenant/{tenant}")).await;
    assert_eq!(
        t.json["tenant"]["name"], "Main",
        "a refused save changes nothing"
    );
    assert_eq!(t.json["tenant"]["passwordValidationRules"]["minLength"], 12);

    let mut removed = form(&csrf, "Main", "12");
    removed.push(("policy.0.remove", "on".to_string()));
    let done = br.post_form(&path, &removed).await;
    assert_eq!(done.status, 303, "{done:?}");
    let t = s.get(&format!("/api/tenant/{tenant}")).await;
    assert_eq!(t.json["tenant"]["connectorPolicies"], json!([]));

    // The admin pages find the default tenant by its name, so it keeps it.
    let default = s.default_tenant().await;
    let kept = br
        .post_form(
            &format!("/admin/tenants/{default}"),
            &[("csrf", csrf.clone()), ("name", "Renamed".into())],
        )
        .await;
    assert_eq!(kept.status, 400, "{kept:?}");
    let t = s.get(&format!("/api/tenant/{default}")).await;
    assert_eq!(t.json["tenant"]["name"], "Default");
    assert_eq!(br.get("/admin").await.status, 200, "the pages still open");
}

async fn an_admin_edits_an_applications_name_roles_and_oauth_settings(b: Backend) {
    let s = Server::start(b).await;
    let tenant = s.default_tenant().await;
    let app = s.new_app(&tenant, "Shop", &["buyer"]).await;
    user(&s, "root@example.com", &["admin"]).await;
    let mut br = Browser::new(&s);
    assert_eq!(sign_in(&s, &mut br, "root@example.com").await.status, 200);

    let list = br.get("/admin/tenants").await;
    assert!(
        unescaped(&list).contains(&format!("href=\"/admin/applications/{app}\"")),
        "each application links to its page: {}",
        list.body
    );
    let path = format!("/admin/applications/{app}");
    let page = br.get(&path).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("buyer"), "{}", page.body);
    assert!(!page.body.contains("clientSecret") && !page.body.contains("SecretHash"));
    let csrf = page.input("csrf").unwrap();

    let roles = format!("{path}/roles");
    let forged = br
        .post_form(
            &roles,
            &[("csrf", "forged".into()), ("name", "seller".into())],
        )
        .await;
    assert_eq!(forged.status, 403, "{forged:?}");
    let added = br
        .post_form(
            &roles,
            &[
                ("csrf", csrf.clone()),
                ("name", "seller".into()),
                ("description", "Sells things".into()),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{added:?}");
    let a = api_application(&s, &app).await;
    let names: Vec<&str> = a["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["buyer", "seller"], "{a}");
    let twice = br
        .post_form(&roles, &[("csrf", csrf.clone()), ("name", "seller".into())])
        .await;
    assert_eq!(twice.status, 400, "a role name appears once: {twice:?}");
    assert!(
        twice.body.contains("appears more than once"),
        "{}",
        twice.body
    );

    let form = |csrf: &str, name: &str, redirects: &str| {
        vec![
            ("csrf", csrf.to_string()),
            ("name", name.to_string()),
            ("authorizedRedirectURLs", redirects.to_string()),
            ("authorizedOriginURLs", String::new()),
            ("logoutURL", "https://shop.example/bye".to_string()),
            ("grant", "authorization_code".to_string()),
            ("grant", "refresh_token".to_string()),
            ("proofKeyForCodeExchangePolicy", "Required".to_string()),
            ("clientAuthenticationPolicy", "Required".to_string()),
        ]
    };
    let redirects = "https://shop.example/callback\r\nhttps://shop.example/other\r\n";
    let forged = br
        .post_form(&path, &form("forged", "Forged", redirects))
        .await;
    assert_eq!(forged.status, 403, "{forged:?}");
    assert_eq!(api_application(&s, &app).await["name"], "Shop");

    let saved = br.post_form(&path, &form(&csrf, "Shop 2", redirects)).await;
    assert_eq!(saved.status, 303, "{saved:?}");
    let a = api_application(&s, &app).await;
    assert_eq!(a["name"], "Shop 2");
    let oauth = &a["oauthConfiguration"];
    assert_eq!(
        oauth["authorizedRedirectURLs"],
        json!([
            "https://shop.example/callback",
            "https://shop.example/other"
        ])
    );
    assert_eq!(oauth["logoutURL"], "https://shop.example/bye");
    assert_eq!(
        oauth["enabledGrants"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(oauth["proofKeyForCodeExchangePolicy"], "Required");
    let shown = br.get(&path).await;
    assert!(
        unescaped(&shown).contains("https://shop.example/other"),
        "{}",
        shown.body
    );

    let refused = br
        .post_form(&path, &form(&csrf, "Shop 3", "not a URL"))
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(
        refused
            .body
            .contains("Each URL must be an absolute http or https URL without a fragment."),
        "the domain's message: {}",
        refused.body
    );
    assert!(refused.body.contains("not a URL"), "the form as typed");
    let a = api_application(&s, &app).await;
    assert_eq!(a["name"], "Shop 2", "a refused save changes nothing");
    assert_eq!(
        a["oauthConfiguration"]["authorizedRedirectURLs"],
        json!([
            "https://shop.example/callback",
            "https://shop.example/other"
        ])
    );

    let buyer = a["roles"][0]["id"].as_str().unwrap().to_string();
    let remove = format!("{path}/roles/{buyer}/delete");
    let forged = br.post_form(&remove, &[("csrf", "forged".into())]).await;
    assert_eq!(forged.status, 403, "{forged:?}");
    let gone = br.post_form(&remove, &[("csrf", csrf.clone())]).await;
    assert_eq!(gone.status, 303, "{gone:?}");
    let a = api_application(&s, &app).await;
    assert_eq!(a["roles"].as_array().unwrap().len(), 1);
    assert_eq!(a["roles"][0]["name"], "seller");

    // The admin application keeps the role that opens these pages.
    let admin = admin_app(&s).await;
    let admin_roles =
        s.get(&format!("/api/application/{admin}")).await.json["application"]["roles"].clone();
    let admin_role = admin_roles
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let kept = br
        .post_form(
            &format!("/admin/applications/{admin}/roles/{admin_role}/delete"),
            &[("csrf", csrf.clone())],
        )
        .await;
    assert_eq!(kept.status, 400, "{kept:?}");
    assert_eq!(br.get("/admin").await.status, 200, "still an administrator");
}

async fn a_user_without_the_admin_role_gets_403_on_the_edit_pages(b: Backend) {
    let s = Server::start(b).await;
    let tenant = s.default_tenant().await;
    let app = s.new_app(&tenant, "Shop", &["buyer"]).await;
    user(&s, "viewer@example.com", &[]).await;
    let mut br = Browser::new(&s);
    assert_eq!(sign_in(&s, &mut br, "viewer@example.com").await.status, 403);
    for path in [
        format!("/admin/tenants/{tenant}"),
        format!("/admin/applications/{app}"),
    ] {
        assert_eq!(br.get(&path).await.status, 403, "{path}");
        let post = br
            .post_form(&path, &[("csrf", "x".into()), ("name", "Taken".into())])
            .await;
        assert_eq!(post.status, 403, "{path}");
    }
    let post = br
        .post_form(
            &format!("/admin/applications/{app}/roles"),
            &[("name", "intruder".into())],
        )
        .await;
    assert_eq!(post.status, 403);
    assert_eq!(
        s.get(&format!("/api/tenant/{tenant}")).await.json["tenant"]["name"],
        "Default"
    );
    let a = s.get(&format!("/api/application/{app}")).await;
    assert_eq!(a.json["application"]["name"], "Shop");
    assert_eq!(a.json["application"]["roles"].as_array().unwrap().len(), 1);
}
