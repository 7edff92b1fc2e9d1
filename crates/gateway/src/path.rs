//! Request paths: normalizing what a client sent into the one path the gateway matches and
//! forwards, and the route patterns (`/products`, `/products/{id}`, `/static/*`) matched against
//! it.
//!
//! The path is percent-decoded once, its `.` and `..` segments resolved and empty segments (`//`)
//! dropped; the result is both what the route table sees and what the upstream receives
//! (re-encoded), so an upstream can never be handed a path that matched a different route than
//! it reads. Encoded separators (`%2f`, `%5c`), backslashes, NUL and control characters, and `..`
//! above the root are refused outright: no upstream's reading of them can then differ from ours.
//! The query string is never part of the path.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Why a path is refused (answered 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path holds an encoded separator, a backslash or a control character")]
    Forbidden,
    #[error("the path is not UTF-8 once decoded")]
    NotUtf8,
    #[error("the path climbs above the root")]
    AboveRoot,
}

/// A normalized path: its decoded segments (none empty, none `.` or `..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalPath {
    pub segments: Vec<String>,
    pub trailing_slash: bool,
}

/// What may stand unencoded in a forwarded segment (RFC 3986 `pchar` minus `%`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@');

/// The normalized form of a request's raw (still percent-encoded) path.
pub fn normalize(raw: &str) -> Result<NormalPath, PathError> {
    // `;` starts a path parameter that servlet containers and others strip before routing
    // (`/public/..;/admin` is `/admin` to Tomcat): a path with one could match a route here
    // and another there, so it is refused.
    if !raw.starts_with('/') || raw.contains('\\') || raw.contains(';') {
        return Err(PathError::Forbidden);
    }
    let lower = raw.to_ascii_lowercase();
    if ["%2f", "%5c", "%00", "%3b"]
        .iter()
        .any(|e| lower.contains(e))
    {
        return Err(PathError::Forbidden);
    }
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| PathError::NotUtf8)?;
    if decoded.chars().any(|c| c.is_control() || c == '\\') {
        return Err(PathError::Forbidden);
    }
    let mut segments: Vec<String> = Vec::new();
    let mut trailing_slash = false;
    for seg in decoded.split('/') {
        trailing_slash = false;
        match seg {
            "" | "." => trailing_slash = true,
            ".." => {
                if segments.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
                trailing_slash = true;
            }
            s => segments.push(s.to_string()),
        }
    }
    Ok(NormalPath {
        trailing_slash: trailing_slash && !segments.is_empty(),
        segments,
    })
}

impl NormalPath {
    /// The path as the upstream receives it: `base` (the upstream's own path), then the
    /// segments after `strip` segments, each percent-encoded.
    pub fn forwarded(&self, base: &str, strip: usize) -> String {
        let mut out = String::from(base);
        let rest = &self.segments[strip.min(self.segments.len())..];
        for s in rest {
            out.push('/');
            out.extend(utf8_percent_encode(s, SEGMENT));
        }
        if out.is_empty() || (self.trailing_slash && !rest.is_empty()) {
            out.push('/');
        }
        out
    }

    /// The path for logs.
    pub fn display(&self) -> String {
        self.forwarded("", 0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Literal(String),
    Param,
}

/// A route's path: literal segments, `{name}` for any one segment, and a final `*` for any
/// number of further segments (none included: `/static/*` matches `/static` too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    segs: Vec<Seg>,
    rest: bool,
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, String> {
        if !text.starts_with('/') {
            return Err(format!("{text:?} must start with /"));
        }
        let mut segs = Vec::new();
        let mut rest = false;
        let parts: Vec<&str> = if text == "/" {
            Vec::new()
        } else {
            text[1..].split('/').collect()
        };
        for (i, p) in parts.iter().enumerate() {
            if rest {
                return Err(format!("{text:?}: * may only be the last segment"));
            }
            match *p {
                "" => return Err(format!("{text:?} has an empty segment")),
                "." | ".." => return Err(format!("{text:?} has a dot segment")),
                "*" => rest = true,
                p if p.starts_with('{') && p.ends_with('}') && p.len() > 2 => segs.push(Seg::Param),
                p if p.contains(['{', '}', '*', '%', '\\', '?', '#']) => {
                    return Err(format!(
                        "{text:?}: segment {} holds a character patterns do not allow",
                        i + 1
                    ))
                }
                p => segs.push(Seg::Literal(p.to_string())),
            }
        }
        Ok(Pattern {
            text: text.to_string(),
            segs,
            rest,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn matches(&self, path: &NormalPath) -> bool {
        let n = self.segs.len();
        if path.segments.len() < n || (!self.rest && path.segments.len() != n) {
            return false;
        }
        self.segs.iter().zip(&path.segments).all(|(p, s)| match p {
            Seg::Param => true,
            Seg::Literal(l) => l == s,
        })
    }

    /// Whether the pattern's first segments are these literals (for `strip_prefix`).
    pub fn starts_with(&self, prefix: &[String]) -> bool {
        prefix.len() <= self.segs.len()
            && prefix
                .iter()
                .zip(&self.segs)
                .all(|(p, s)| matches!(s, Seg::Literal(l) if l == p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> Result<String, PathError> {
        normalize(raw).map(|p| p.display())
    }

    #[test]
    fn dots_and_double_slashes_resolve() {
        assert_eq!(norm("/"), Ok("/".into()));
        assert_eq!(norm("/products"), Ok("/products".into()));
        assert_eq!(norm("/products/"), Ok("/products/".into()));
        assert_eq!(norm("//products//1"), Ok("/products/1".into()));
        assert_eq!(norm("/branches/1/../../admin"), Ok("/admin".into()));
        assert_eq!(norm("/branches/1/%2e%2e/%2E%2E/admin"), Ok("/admin".into()));
        assert_eq!(norm("/a/./b/."), Ok("/a/b/".into()));
        assert_eq!(norm("/a/.."), Ok("/".into()));
        assert_eq!(norm("/caf%C3%A9"), Ok("/caf%C3%A9".into()));
        assert_eq!(norm("/a%20b"), Ok("/a%20b".into()));
        // Double encoding stays one level down: the upstream decodes to the literal `%2e%2e`.
        assert_eq!(norm("/a/%252e%252e/b"), Ok("/a/%252e%252e/b".into()));
    }

    #[test]
    fn tricks_are_refused() {
        assert_eq!(norm("/branches%2f1"), Err(PathError::Forbidden));
        assert_eq!(norm("/public/..;/admin"), Err(PathError::Forbidden));
        assert_eq!(norm("/admin%3Bx"), Err(PathError::Forbidden));
        assert_eq!(norm("/branches%2F1"), Err(PathError::Forbidden));
        assert_eq!(norm("/a%5c..%5cadmin"), Err(PathError::Forbidden));
        assert_eq!(norm("/a\\b"), Err(PathError::Forbidden));
        assert_eq!(norm("/a%00"), Err(PathError::Forbidden));
        assert_eq!(norm("/a%0d%0aX-User-Id:%201"), Err(PathError::Forbidden));
        assert_eq!(norm("/.."), Err(PathError::AboveRoot));
        assert_eq!(norm("/a/../../b"), Err(PathError::AboveRoot));
        assert_eq!(norm("/%ff"), Err(PathError::NotUtf8));
        assert_eq!(norm("*"), Err(PathError::Forbidden));
    }

    #[test]
    fn patterns_match_whole_segments() {
        let p = |t: &str| Pattern::parse(t).unwrap();
        let n = |t: &str| normalize(t).unwrap();
        assert!(p("/products").matches(&n("/products")));
        assert!(p("/products").matches(&n("/products/")));
        assert!(!p("/products").matches(&n("/products/1")));
        assert!(!p("/products").matches(&n("/productsx")));
        assert!(p("/products/{id}").matches(&n("/products/7")));
        assert!(!p("/products/{id}").matches(&n("/products")));
        assert!(!p("/products/{id}").matches(&n("/products/7/x")));
        assert!(p("/static/*").matches(&n("/static")));
        assert!(p("/static/*").matches(&n("/static/a/b.css")));
        assert!(!p("/static/*").matches(&n("/staticx/a")));
        assert!(p("/*").matches(&n("/anything/at/all")));
        assert!(p("/").matches(&n("/")));
        assert!(!p("/").matches(&n("/a")));
        for bad in [
            "products", "/a//b", "/a/*/b", "/a/../b", "/a%2fb", "/a/{", "/a?b",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_paths_strip_and_prefix() {
        let n = normalize("/api/products/1/").unwrap();
        assert_eq!(n.forwarded("", 0), "/api/products/1/");
        assert_eq!(n.forwarded("", 1), "/products/1/");
        assert_eq!(n.forwarded("/base", 1), "/base/products/1/");
        assert_eq!(normalize("/api").unwrap().forwarded("", 1), "/");
        assert_eq!(normalize("/api").unwrap().forwarded("/base", 1), "/base");
    }
}
