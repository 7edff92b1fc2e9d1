//! Browser sessions: the OAuth 2.0 code flow with PKCE and `state` against Portcullis (`/login`,
//! the redirect path, `/logout`), and the session itself held in the browser, in an AES-256-GCM
//! sealed, HttpOnly, SameSite=Lax cookie. The cookie key is derived from the OAuth client secret,
//! so every gateway copy with the same configuration reads every other's cookies and none keeps
//! state. A session's access token is refreshed with its refresh token shortly before it expires.
//! Return paths are same-origin paths only (`//evil`, `/\evil` and absolute URLs become `/`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::aead;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

pub const SESSION_COOKIE: &str = "__portcullis_gw";
pub const PENDING_COOKIE: &str = "__portcullis_gw_login";
/// A sign-in started more than this long ago is not finished.
pub const PENDING_SECS: i64 = 600;
/// An access token this close to its expiry is refreshed first.
pub const REFRESH_BEFORE_SECS: i64 = 30;

/// Seals and opens cookie values.
pub struct Sealer {
    key: aead::LessSafeKey,
}

impl Sealer {
    /// A key derived from the client secret: copies with the same secret share it.
    pub fn new(client_secret: &str) -> Sealer {
        let mut h = sha2::Sha256::new();
        h.update(b"portcullis-gateway session cookie\0");
        h.update(client_secret.as_bytes());
        let k = aead::UnboundKey::new(&aead::AES_256_GCM, &h.finalize()).expect("32 bytes");
        Sealer {
            key: aead::LessSafeKey::new(k),
        }
    }

    /// `name` is bound in, so one cookie cannot stand in for the other.
    pub fn seal<T: Serialize>(&self, name: &str, value: &T) -> String {
        use ring::rand::SecureRandom as _;
        let mut nonce = [0u8; 12];
        ring::rand::SystemRandom::new()
            .fill(&mut nonce)
            .expect("the OS random source");
        let mut data = serde_json::to_vec(value).expect("serializes");
        self.key
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(name.as_bytes()),
                &mut data,
            )
            .expect("sealing");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        URL_SAFE_NO_PAD.encode(out)
    }

    pub fn open<T: for<'de> Deserialize<'de>>(&self, name: &str, cookie: &str) -> Option<T> {
        let raw = URL_SAFE_NO_PAD.decode(cookie).ok()?;
        if raw.len() < 12 + 16 {
            return None;
        }
        let (nonce, rest) = raw.split_at(12);
        let mut rest = rest.to_vec();
        let plain = self
            .key
            .open_in_place(
                aead::Nonce::try_assume_unique_for_key(nonce).ok()?,
                aead::Aad::from(name.as_bytes()),
                &mut rest,
            )
            .ok()?;
        serde_json::from_slice(plain).ok()
    }
}

/// A sign-in under way, between `/login` and the redirect path.
#[derive(Serialize, Deserialize)]
pub struct Pending {
    pub state: String,
    pub verifier: String,
    pub return_to: String,
    pub started: i64,
}

/// A signed-in browser.
#[derive(Serialize, Deserialize)]
pub struct Session {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// When the access token expires (epoch seconds).
    pub expires: i64,
}

/// A random URL-safe secret of 32 bytes.
pub fn random() -> String {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("the OS random source");
    URL_SAFE_NO_PAD.encode(b)
}

/// PKCE S256 (RFC 7636 §4.2).
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// `rd` when it is a path on this origin, else `/`. Refused: anything not starting with one `/`
/// (`//evil`, `https://evil`), backslashes anywhere (`/\evil`: browsers read `\` as `/`), and
/// control characters or spaces (which browsers strip, turning `/\t/evil` into `//evil`).
pub fn safe_return(rd: Option<&str>) -> String {
    let Some(rd) = rd else { return "/".into() };
    let decoded = percent_encoding::percent_decode_str(rd).decode_utf8_lossy();
    let bad = |s: &str| {
        !s.starts_with('/')
            || s.starts_with("//")
            || s.contains('\\')
            || s.chars().any(|c| c.is_control() || c.is_whitespace())
    };
    if bad(rd) || bad(&decoded) {
        "/".into()
    } else {
        rd.to_string()
    }
}

/// Equal strings, compared in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The value of the cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure when the gateway is on https.
pub fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_paths_stay_on_this_origin() {
        for ok in ["/", "/me", "/products?x=1", "/a/b#c"] {
            assert_eq!(safe_return(Some(ok)), ok);
        }
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil.example",
            "/%5cevil.example",
            "%2f%2fevil.example",
            "/\t/evil.example",
            "/%09/evil.example",
            "",
        ] {
            assert_eq!(safe_return(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_return(None), "/");
    }

    #[test]
    fn sealed_cookies_open_only_with_the_same_secret_and_name() {
        let a = Sealer::new("secret");
        let s = Session {
            access_token: "t".into(),
            refresh_token: None,
            expires: 5,
        };
        let c = a.seal(SESSION_COOKIE, &s);
        assert_eq!(
            Sealer::new("secret")
                .open::<Session>(SESSION_COOKIE, &c)
                .unwrap()
                .access_token,
            "t"
        );
        assert!(Sealer::new("other")
            .open::<Session>(SESSION_COOKIE, &c)
            .is_none());
        assert!(a.open::<Session>(PENDING_COOKIE, &c).is_none());
        let mut tampered = URL_SAFE_NO_PAD.decode(&c).unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(a
            .open::<Session>(SESSION_COOKIE, &URL_SAFE_NO_PAD.encode(tampered))
            .is_none());
    }
}
