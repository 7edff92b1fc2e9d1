//! TLS to a legacy system: a real HTTPS server (Python's `ssl`, certificates from `openssl`) that
//! trusts only our test CA and, when asked, requires a client certificate.

use portcullis_connect::testing::{certificates, free_port};
use portcullis_connect::Connectors;
use portcullis_domain::migration::connectors::{
    Connector, FailureKind, LegacyLogin, LegacySystems,
};
use portcullis_domain::Password;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use uuid::Uuid;

const SERVER: &str = r#"
import json, ssl, sys
from http.server import HTTPServer, BaseHTTPRequestHandler
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        b = json.loads(self.rfile.read(int(self.headers.get('Content-Length') or 0)))
        peer = self.connection.getpeercert()
        cn = dict(x[0] for x in peer['subject'])['commonName'] if peer else None
        body = json.dumps({"user": {"email": b["loginId"], "data": {"clientCertificate": cn}}}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
port, d, require = int(sys.argv[1]), sys.argv[2], sys.argv[3] == '1'
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(d + '/server.pem', d + '/server.key')
if require:
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(d + '/ca.pem')
s = HTTPServer(('127.0.0.1', port), H)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print('ready', flush=True)
s.serve_forever()
"#;

struct Https {
    url: String,
    child: Child,
}

impl Drop for Https {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn https(dir: &std::path::Path, require_client_cert: bool) -> Https {
    let port = free_port();
    let mut child = Command::new("python3")
        .args(["-c", SERVER, &port.to_string(), dir.to_str().unwrap()])
        .arg(if require_client_cert { "1" } else { "0" })
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "the HTTPS test server did not start");
    Https {
        url: format!("https://127.0.0.1:{port}/auth"),
        child,
    }
}

fn generic(settings: serde_json::Value) -> Connector {
    let mut v = settings;
    v["type"] = json!("Generic");
    v["name"] = json!("tls");
    v["id"] = json!(Uuid::new_v4());
    v["connectTimeout"] = json!(2000);
    serde_json::from_value(v).unwrap()
}

async fn ask(
    c: &Connector,
) -> portcullis_domain::migration::connectors::LegacyResult<Option<String>> {
    let pw = Password("pw".into());
    let l = LegacyLogin {
        login_id: "tls@legacy.example",
        password: &pw,
        application_id: None,
        ip_address: None,
    };
    Connectors::default().authenticate(c, &l).await.map(|u| {
        u.map(|u| {
            u.user.data["clientCertificate"]
                .as_str()
                .unwrap_or("none")
                .to_string()
        })
    })
}

#[tokio::test]
async fn the_configured_ca_is_trusted_and_the_client_certificate_is_presented() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
    let server = https(dir.path(), true);

    let c = generic(
        json!({"authenticationURL": server.url, "trustedCertificate": read("ca.pem"),
                           "clientCertificate": read("client.pem"), "clientKey": read("client.key")}),
    );
    assert_eq!(
        ask(&c).await.unwrap().as_deref(),
        Some("portcullis-connector"),
        "mutual TLS: the server saw our client certificate"
    );

    // The server requires a client certificate: without one the handshake fails — a failure of
    // the legacy connection, never "wrong password".
    let c = generic(json!({"authenticationURL": server.url, "trustedCertificate": read("ca.pem")}));
    let e = ask(&c).await.unwrap_err();
    assert!(
        matches!(e.kind, FailureKind::Unreachable | FailureKind::BadAnswer),
        "{e}"
    );
}

#[tokio::test]
async fn a_server_signed_by_an_unknown_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let server = https(dir.path(), false);
    // The public roots do not include our test CA.
    let c = generic(json!({"authenticationURL": server.url}));
    let e = ask(&c).await.unwrap_err();
    assert_eq!(e.kind, FailureKind::Unreachable, "{e}");
    // With the CA configured, the same server is fine.
    let ca = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
    let c = generic(json!({"authenticationURL": server.url, "trustedCertificate": ca}));
    assert_eq!(ask(&c).await.unwrap().as_deref(), Some("none"));
}

#[test]
fn a_certificate_that_does_not_parse_is_a_field_error() {
    let c = generic(
        json!({"authenticationURL": "https://x", "trustedCertificate": "not pem",
                           "clientCertificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}),
    );
    let Err(portcullis_domain::Error::Invalid(e)) = Connectors::default().check(&c) else {
        panic!("accepted")
    };
    assert!(
        e.field_errors.contains_key("connector.trustedCertificate"),
        "{e:?}"
    );
    assert!(
        e.field_errors.contains_key("connector.clientCertificate"),
        "{e:?}"
    );
}
