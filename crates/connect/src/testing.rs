//! Test support (feature `testing`): a real OpenLDAP `slapd` on loopback for the LDAP
//! connector's tests and the API's end-to-end slow-migration tests. Each [`Slapd`] runs in its
//! own temporary directory (mdb backend, the memberof overlay), seeded with `slapadd`, and is
//! killed on drop. It needs `/usr/sbin/slapd`, `slapadd` and `slappasswd`
//! (`apt-get install slapd ldap-utils`; `scripts/test` installs them) and fails without them.
//!
//! Seeded: `alice@example.com` / `right` (uid alice, entryUUID [`ALICE_UUID`], member of
//! `cn=Admins,ou=Groups` and `cn=Tea Party\, Hatters,ou=Groups`) and `bob@example.com`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SLAPD: &str = "/usr/sbin/slapd";
pub const BASE: &str = "dc=example,dc=org";
pub const ADMIN: &str = "cn=admin,dc=example,dc=org";
pub const ADMIN_PASSWORD: &str = "directory-secret";
/// The size of `huge@example.com`'s `description` (password `right`).
pub const HUGE_DESCRIPTION_BYTES: usize = 256 << 10;
pub const ALICE_UUID: &str = "6f1c2a9e-3b4d-4e5f-8a7b-1c2d3e4f5a6b";
/// Bob's `jpegPhoto` holds these 16 bytes, the way Active Directory stores the objectGUID
/// {f1e2d3c4-b5a6-9788-99aa-bbccddeeff00}.
pub const BOB_GUID_BYTES: [u8; 16] = [
    0xc4, 0xd3, 0xe2, 0xf1, 0xa6, 0xb5, 0x88, 0x97, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,
];
pub const BOB_GUID: &str = "f1e2d3c4-b5a6-9788-99aa-bbccddeeff00";

/// A running slapd in a temporary directory; killed on drop.
pub struct Slapd {
    child: Option<Child>,
    pub port: u16,
    pub tls_port: u16,
    pub ca_pem: String,
    _dir: tempfile::TempDir,
}

pub use portcullis_test_ports::free_port;

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
/// A CA (`ca.pem`, `ca.key`), a server certificate for 127.0.0.1/localhost (`server.pem`,
/// `server.key`) and a client certificate (`client.pem`, `client.key`), made with `openssl`.
pub fn certificates(dir: &Path) {
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
    // A key and certificate signed by the CA: `{name}.key`, `{name}.pem`.
    let signed = |name: &str, subject: &str, extensions: &str| {
        run(Command::new("openssl")
            .arg("req")
            .args(ec)
            .args([
                "-keyout",
                &d(&format!("{name}.key")),
                "-out",
                &d(&format!("{name}.csr")),
            ])
            .args(["-subj", subject]));
        std::fs::write(dir.join(format!("{name}.cnf")), extensions).unwrap();
        run(Command::new("openssl")
            .args(["x509", "-req", "-in", &d(&format!("{name}.csr"))])
            .args([
                "-CA",
                &d("ca.pem"),
                "-CAkey",
                &d("ca.key"),
                "-CAcreateserial",
            ])
            .args(["-out", &d(&format!("{name}.pem")), "-days", "2"])
            .args(["-extfile", &d(&format!("{name}.cnf"))]));
    };
    signed(
        "server",
        "/CN=localhost",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
    signed(
        "client",
        "/CN=portcullis-connector",
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    );
}

fn person(uid: &str, password_hash: &str, extra: &str) -> String {
    format!(
        "dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\n\
         userPassword: {password_hash}\n{extra}\n"
    )
}

impl Slapd {
    pub fn start() -> Slapd {
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
        // An entry whose description is 256 KiB, for the limits on what a search may return.
        ldif += &person(
            "huge",
            &right,
            &format!(
                "cn: Huge\nsn: Entry\nmail: huge@example.com\ndescription: {}\n",
                "x".repeat(HUGE_DESCRIPTION_BYTES)
            ),
        );
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

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
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
