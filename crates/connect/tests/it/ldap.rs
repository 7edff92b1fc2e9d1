//! The LDAP connector against a real OpenLDAP `slapd` on loopback: each test starts its own
//! server (mdb backend, the memberof overlay, a throw-away directory) seeded with `slapadd`, and
//! stops it on drop. The tests need `/usr/sbin/slapd`, `slapadd` and `slappasswd`
//! (`apt-get install slapd ldap-utils`; `scripts/test` installs them) and fail without them.

use portcullis_connect::{mapping, Connectors};
use portcullis_domain::connectors::{
    Connector, FailureKind, LegacyLogin, LegacyResult, LegacySystems, LegacyUser,
};
use portcullis_domain::Password;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

const SLAPD: &str = "/usr/sbin/slapd";
const BASE: &str = "dc=example,dc=org";
const ADMIN: &str = "cn=admin,dc=example,dc=org";
const ADMIN_PASSWORD: &str = "directory-secret";
const ALICE_UUID: &str = "6f1c2a9e-3b4d-4e5f-8a7b-1c2d3e4f5a6b";
/// Bob's `jpegPhoto` holds these 16 bytes, the way Active Directory stores the objectGUID
/// {f1e2d3c4-b5a6-9788-99aa-bbccddeeff00}.
const BOB_GUID_BYTES: [u8; 16] = [
    0xc4, 0xd3, 0xe2, 0xf1, 0xa6, 0xb5, 0x88, 0x97, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,
];
const BOB_GUID: &str = "f1e2d3c4-b5a6-9788-99aa-bbccddeeff00";

/// A running slapd in a temporary directory; killed on drop.
struct Slapd {
    child: Option<Child>,
    port: u16,
    tls_port: u16,
    ca_pem: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A CA and a server certificate for 127.0.0.1, made with the `openssl` CLI.
fn certificates(dir: &Path) {
    let d = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    run(Command::new("openssl")
        .args(["req", "-x509"])
        .args(ec)
        .args(["-keyout", &d("ca.key"), "-out", &d("ca.pem")])
        .args(["-days", "2", "-subj", "/CN=Portcullis test CA"]));
    run(Command::new("openssl")
        .arg("req")
        .args(ec)
        .args(["-keyout", &d("server.key"), "-out", &d("server.csr")])
        .args(["-subj", "/CN=localhost"]));
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-in", &d("server.csr")])
        .args([
            "-CA",
            &d("ca.pem"),
            "-CAkey",
            &d("ca.key"),
            "-CAcreateserial",
        ])
        .args(["-out", &d("server.pem"), "-days", "2"])
        .args(["-extfile", &d("ext.cnf")]));
}

fn person(uid: &str, password_hash: &str, extra: &str) -> String {
    format!(
        "dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\n\
         userPassword: {password_hash}\n{extra}\n"
    )
}

impl Slapd {
    fn start() -> Slapd {
        assert!(
            Path::new(SLAPD).exists(),
            "The LDAP tests need OpenLDAP's slapd at {SLAPD}: run scripts/test, or \
             `apt-get install -y slapd ldap-utils` as root."
        );
        let dir = tempfile::tempdir().unwrap();
        let p = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
        std::fs::create_dir(dir.path().join("db")).unwrap();
        certificates(dir.path());
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             moduleload memberof\n\
             pidfile {pid}\n\
             TLSCACertificateFile {ca}\n\
             TLSCertificateFile {cert}\n\
             TLSCertificateKeyFile {key}\n\
             database mdb\n\
             maxsize 16777216\n\
             suffix \"{BASE}\"\n\
             rootdn \"{ADMIN}\"\n\
             rootpw {ADMIN_PASSWORD}\n\
             directory {db}\n\
             overlay memberof\n",
            pid = p("slapd.pid"),
            ca = p("ca.pem"),
            cert = p("server.pem"),
            key = p("server.key"),
            db = p("db"),
        );
        std::fs::write(dir.path().join("slapd.conf"), conf).unwrap();

        let hash = |pw: &str| {
            run(Command::new("slappasswd").args(["-s", pw]))
                .trim()
                .to_string()
        };
        let right = hash("right");
        let groups = format!("ou=groups,{BASE}");
        let mut ldif = format!(
            "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
             dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: {groups}\nobjectClass: organizationalUnit\nou: groups\n\n"
        );
        ldif += &person(
            "alice",
            &right,
            &format!(
                "cn: Alice Liddell\nsn: Liddell\ngivenName: Alice\nmail: alice@example.com\n\
                 mobile: +44 20 7946 0000\nou: Wonderland\nentryUUID: {ALICE_UUID}\n\
                 memberOf: cn=admins,{groups}\nmemberOf: cn=Tea Party\\, Hatters,{groups}\n"
            ),
        );
        ldif += &person(
            "bob",
            &hash("builder"),
            &format!(
                "cn: Bob\nsn: Builder\nmail: bob@example.com\njpegPhoto:: {}\n",
                base64(&BOB_GUID_BYTES)
            ),
        );
        for uid in ["carol", "carol2"] {
            ldif += &person(
                uid,
                &right,
                "cn: Carol\nsn: Twin\nmail: twins@example.com\n",
            );
        }
        std::fs::write(dir.path().join("seed.ldif"), ldif).unwrap();
        run(Command::new("slapadd").args(["-f", &p("slapd.conf"), "-l", &p("seed.ldif")]));

        let (port, tls_port) = (free_port(), free_port());
        let child = Command::new(SLAPD)
            .args(["-f", &p("slapd.conf"), "-d", "0", "-h"])
            .arg(format!(
                "ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/"
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let ca_pem = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
        let slapd = Slapd {
            child: Some(child),
            port,
            tls_port,
            ca_pem,
            _dir: dir,
        };
        let start = Instant::now();
        while [port, tls_port]
            .iter()
            .any(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_err())
        {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "slapd did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        slapd
    }

    fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

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

fn failure(r: LegacyResult<Option<LegacyUser>>) -> portcullis_domain::connectors::LegacyError {
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
