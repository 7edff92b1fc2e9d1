//! The LDAP connector against a real OpenLDAP `slapd` on loopback: each test starts its own
//! server (mdb backend, the memberof overlay, a throw-away directory) seeded with `slapadd`, and
//! stops it on drop. The tests need `/usr/sbin/slapd`, `slapadd` and `slappasswd`
//! (`apt-get install slapd ldap-utils`; `scripts/test` installs them) and fail without them.

use portcullis_connect::testing::*;
use portcullis_connect::{mapping, Connectors};
use portcullis_domain::migration::connectors::{
    Connector, FailureKind, LegacyLogin, LegacyResult, LegacySystems, LegacyUser,
};
use portcullis_domain::Password;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use uuid::Uuid;

const APP: &str = "3c219e58-ed0e-4b18-ad48-f4f92793ae32";

/// The settings every test starts from; `changes` are merged over them.
fn settings(url: &str, changes: Value) -> Value {
    let mut s = json!({
        "authenticationURL": url,
        "baseStructure": BASE,
        "systemAccountDN": ADMIN,
        "systemAccountPassword": ADMIN_PASSWORD,
        "loginIdAttribute": "mail",
        "identifyingAttribute": "entryUUID",
        "requestedAttributes": ["cn", "mail"],
        "attributeMap": {"mobilePhone": "mobile", "data.department": "ou"},
        "roleMap": {"CN=Admins, OU=Groups, DC=example, DC=org": "admin"},
        "applicationId": APP,
        "connectTimeout": 1000,
        "readTimeout": 2000,
    });
    for (k, v) in changes.as_object().unwrap() {
        s[k] = v.clone();
    }
    s
}

fn connector(settings: Value) -> Connector {
    let mut v = settings;
    v["type"] = json!("LDAP");
    v["id"] = json!(Uuid::new_v4());
    v["name"] = json!("directory");
    serde_json::from_value(v).unwrap()
}

async fn login(c: &Connector, id: &str, pw: &str) -> LegacyResult<Option<LegacyUser>> {
    let password = Password(pw.to_string());
    let l = LegacyLogin {
        login_id: id,
        password: &password,
        application_id: None,
        ip_address: None,
    };
    Connectors::default().authenticate(c, &l).await
}

fn failure(
    r: LegacyResult<Option<LegacyUser>>,
) -> portcullis_domain::migration::connectors::LegacyError {
    match r {
        Err(e) => e,
        Ok(u) => panic!("expected a failure, got {u:?}"),
    }
}

fn roles(u: &LegacyUser) -> Vec<String> {
    let r = &u.user.registrations;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].application_id, Some(APP.parse().unwrap()));
    r[0].roles.clone()
}

#[tokio::test]
async fn search_and_bind_find_the_user_and_map_profile_roles_and_id() {
    let slapd = Slapd::start();
    let c = connector(settings(&slapd.url(), json!({})));
    let u = login(&c, "alice@example.com", "right")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.user.id, Some(ALICE_UUID.parse().unwrap()));
    assert_eq!(u.user.connector_id, c.id);
    assert_eq!(u.user.email.as_deref(), Some("alice@example.com"));
    assert_eq!(u.user.username.as_deref(), Some("alice"));
    assert_eq!(u.user.first_name.as_deref(), Some("Alice"));
    assert_eq!(u.user.last_name.as_deref(), Some("Liddell"));
    assert_eq!(u.user.full_name.as_deref(), Some("Alice Liddell"));
    assert_eq!(u.user.mobile_phone.as_deref(), Some("+44 20 7946 0000"));
    assert_eq!(u.user.data.get("department"), Some(&json!("Wonderland")));
    assert!(u.user.password.is_none());
    assert!(u.user.active);
    // Mapped group → its role; unmapped → its first RDN's value, unescaped.
    assert_eq!(roles(&u), vec!["Tea Party, Hatters", "admin"]);
}

#[tokio::test]
async fn unmapped_groups_are_dropped_when_asked() {
    let slapd = Slapd::start();
    let c = connector(settings(
        &slapd.url(),
        json!({"migrateUnmappedRoles": false, "loginIdAttribute": "uid"}),
    ));
    let u = login(&c, "alice", "right").await.unwrap().unwrap();
    assert_eq!(roles(&u), vec!["admin"]);
}

#[tokio::test]
async fn wrong_password_unknown_user_and_empty_password_are_not_found() {
    let slapd = Slapd::start();
    let c = connector(settings(&slapd.url(), json!({})));
    assert!(login(&c, "alice@example.com", "wrong")
        .await
        .unwrap()
        .is_none());
    assert!(login(&c, "nobody@example.com", "right")
        .await
        .unwrap()
        .is_none());
    assert!(login(&c, "alice@example.com", "").await.unwrap().is_none());
    assert!(login(&c, "", "right").await.unwrap().is_none());
}

#[tokio::test]
async fn an_empty_password_never_reaches_the_directory() {
    // Nothing listens here: an answer other than "not found" would mean a connection was tried.
    let c = connector(settings(
        &format!("ldap://127.0.0.1:{}", free_port()),
        json!({}),
    ));
    assert!(login(&c, "alice@example.com", "").await.unwrap().is_none());
}

#[tokio::test]
async fn filter_metacharacters_in_the_login_id_match_nobody() {
    let slapd = Slapd::start();
    let c = connector(settings(&slapd.url(), json!({"loginIdAttribute": "uid"})));
    for id in [
        "*)(uid=*",
        "*",
        "alice)(|(uid=*",
        "al*",
        "alice\\",
        "alice\0",
    ] {
        assert!(
            login(&c, id, "right").await.unwrap().is_none(),
            "{id:?} matched"
        );
    }
    // The escaping does not get in the way of the real name.
    assert!(login(&c, "alice", "right").await.unwrap().is_some());
}

#[tokio::test]
async fn a_login_id_shared_by_two_entries_is_a_failure() {
    let slapd = Slapd::start();
    let c = connector(settings(&slapd.url(), json!({})));
    let e = failure(login(&c, "twins@example.com", "right").await);
    assert_eq!(e.kind, FailureKind::BadAnswer);
    assert!(e.message.contains("loginIdAttribute"), "{e}");
}

/// A search answer larger than `maxResponseBytes` (here one huge attribute) is a failure, not
/// a user, for a login and for a look-up; the same entry within the limit is a user.
#[tokio::test]
async fn a_search_answer_over_max_response_bytes_is_a_failure() {
    let slapd = Slapd::start();
    let wanted = json!({"requestedAttributes": ["cn", "mail", "description"],
                        "attributeMap": {"data.description": "description"}});
    let mut small = settings(&slapd.url(), wanted.clone());
    small["maxResponseBytes"] = json!(64 << 10);
    let c = connector(small);
    let e = failure(login(&c, "huge@example.com", "right").await);
    assert_eq!(e.kind, FailureKind::BadAnswer);
    assert!(e.message.contains("maxResponseBytes"), "{e}");
    let e = Connectors::default()
        .lookup(&c, "huge@example.com")
        .await
        .unwrap_err();
    assert_eq!(e.kind, FailureKind::BadAnswer);
    // Alice is small enough.
    assert!(login(&c, "alice@example.com", "right")
        .await
        .unwrap()
        .is_some());
    // Within the default limit (1 MiB) the huge entry is read.
    let c = connector(settings(&slapd.url(), wanted));
    let u = login(&c, "huge@example.com", "right")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        u.user.data["description"].as_str().map(str::len),
        Some(HUGE_DESCRIPTION_BYTES)
    );
    let mut bad = settings(&slapd.url(), json!({}));
    bad["maxResponseBytes"] = json!(10);
    let e = Connectors::default().check(&connector(bad)).unwrap_err();
    assert!(
        format!("{e:?}").contains("connector.maxResponseBytes"),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_stopped_directory_is_unreachable_not_a_wrong_password() {
    let mut slapd = Slapd::start();
    let c = connector(settings(&slapd.url(), json!({})));
    assert!(login(&c, "alice@example.com", "right")
        .await
        .unwrap()
        .is_some());
    slapd.stop();
    let e = failure(login(&c, "alice@example.com", "right").await);
    assert_eq!(e.kind, FailureKind::Unreachable, "{e}");
}

#[tokio::test]
async fn a_refused_system_account_is_a_failure_that_names_the_setting() {
    let slapd = Slapd::start();
    let c = connector(settings(
        &slapd.url(),
        json!({"systemAccountPassword": "not-the-secret"}),
    ));
    let e = failure(login(&c, "alice@example.com", "right").await);
    assert_eq!(e.kind, FailureKind::BadAnswer);
    assert!(e.message.contains("systemAccountPassword"), "{e}");
    assert!(!e.message.contains("not-the-secret") && !e.message.contains("right"));
}

#[tokio::test]
async fn a_base_that_does_not_exist_is_a_failure() {
    let slapd = Slapd::start();
    let c = connector(settings(
        &slapd.url(),
        json!({"baseStructure": "ou=nowhere,dc=example,dc=org"}),
    ));
    let e = failure(login(&c, "alice@example.com", "right").await);
    assert_eq!(e.kind, FailureKind::BadAnswer);
    assert!(e.message.contains("baseStructure"), "{e}");
}

#[tokio::test]
async fn a_server_that_is_not_ldap_is_a_bad_answer() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let c = connector(settings(&format!("ldap://127.0.0.1:{port}"), json!({})));
    let e = failure(login(&c, "alice@example.com", "right").await);
    assert_eq!(e.kind, FailureKind::BadAnswer, "{e}");
}

#[tokio::test]
async fn a_directory_that_does_not_answer_is_a_timeout() {
    // Accepts connections, reads, never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = [0u8; 512];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    let c = connector(settings(
        &format!("ldap://127.0.0.1:{port}"),
        json!({"readTimeout": 300}),
    ));
    let start = Instant::now();
    let e = failure(login(&c, "alice@example.com", "right").await);
    assert_eq!(e.kind, FailureKind::Timeout, "{e}");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn lookup_finds_a_user_without_a_password() {
    let slapd = Slapd::start();
    let c = connector(settings(&slapd.url(), json!({})));
    let cs = Connectors::default();
    assert!(cs.can_lookup(&c));
    let u = cs.lookup(&c, "alice@example.com").await.unwrap().unwrap();
    assert_eq!(u.user.id, Some(ALICE_UUID.parse().unwrap()));
    assert_eq!(u.user.first_name.as_deref(), Some("Alice"));
    assert!(cs.lookup(&c, "nobody@example.com").await.unwrap().is_none());
    assert!(cs.lookup(&c, "*").await.unwrap().is_none());
}

#[tokio::test]
async fn a_binary_identifier_is_read_as_an_active_directory_guid() {
    let slapd = Slapd::start();
    let c = connector(settings(
        &slapd.url(),
        json!({"identifyingAttribute": "jpegPhoto"}),
    ));
    let u = login(&c, "bob@example.com", "builder")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.user.id, Some(BOB_GUID.parse().unwrap()));
    // Bob has no groups: a registration without roles.
    assert_eq!(roles(&u), Vec::<String>::new());
}

#[tokio::test]
async fn an_identifier_that_is_no_uuid_gives_a_stable_id() {
    let slapd = Slapd::start();
    let c = connector(settings(
        &slapd.url(),
        json!({"identifyingAttribute": "uid"}),
    ));
    let u = login(&c, "alice@example.com", "right")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        u.user.id,
        Some(mapping::stable_id(c.id.unwrap(), "id:alice"))
    );
    let again = login(&c, "alice@example.com", "right")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.user.id, u.user.id);
}

#[tokio::test]
async fn ldaps_and_starttls_trust_the_configured_certificate() {
    let slapd = Slapd::start();
    let ldaps = format!("ldaps://127.0.0.1:{}", slapd.tls_port);
    let c = connector(settings(
        &ldaps,
        json!({"securityMethod": "LDAPS", "trustedCertificate": slapd.ca_pem}),
    ));
    assert!(login(&c, "alice@example.com", "right")
        .await
        .unwrap()
        .is_some());
    let c = connector(settings(
        &slapd.url(),
        json!({"securityMethod": "StartTLS", "trustedCertificate": slapd.ca_pem}),
    ));
    assert!(login(&c, "alice@example.com", "right")
        .await
        .unwrap()
        .is_some());
    // Without the CA the server's certificate is not trusted: a failure, not "wrong password".
    let c = connector(settings(&ldaps, json!({})));
    let e = failure(login(&c, "alice@example.com", "right").await);
    assert_eq!(e.kind, FailureKind::Unreachable, "{e}");
}

#[test]
fn settings_are_checked_on_save() {
    let cs = Connectors::default();
    let fields = |s: Value| -> Vec<String> {
        match cs.check(&connector(s)) {
            Err(portcullis_domain::Error::Invalid(e)) => e.field_errors.keys().cloned().collect(),
            other => panic!("accepted: {other:?}"),
        }
    };
    let missing = fields(json!({}));
    for f in [
        "connector.authenticationURL",
        "connector.baseStructure",
        "connector.loginIdAttribute",
        "connector.identifyingAttribute",
    ] {
        assert!(
            missing.contains(&f.to_string()),
            "{f} missing in {missing:?}"
        );
    }
    let url = "ldap://127.0.0.1:389";
    assert_eq!(
        fields(settings("http://127.0.0.1", json!({}))),
        ["connector.authenticationURL"]
    );
    assert_eq!(
        fields(settings(url, json!({"loginIdAttribute": "uid=*)(cn"}))),
        ["connector.loginIdAttribute"]
    );
    assert_eq!(
        fields(settings(url, json!({"systemAccountPassword": null}))),
        ["connector.systemAccountPassword"]
    );
    assert_eq!(
        fields(settings(url, json!({"securityMethod": "LDAPS"}))),
        ["connector.securityMethod"]
    );
    assert_eq!(
        fields(settings(url, json!({"securityMethod": "SSL"}))),
        ["connector.securityMethod"]
    );
    assert_eq!(
        fields(settings(url, json!({"attributeMap": {"shoeSize": "x"}}))),
        ["connector.attributeMap"]
    );
    assert_eq!(
        fields(settings(
            url,
            json!({"securityMethod": "StartTLS", "trustedCertificate": "not PEM"})
        )),
        ["connector.trustedCertificate"]
    );
    assert!(cs.check(&connector(settings(url, json!({})))).is_ok());
    // An anonymous search is allowed.
    assert!(cs
        .check(&connector(settings(
            url,
            json!({"systemAccountDN": null, "systemAccountPassword": null})
        )))
        .is_ok());
}
