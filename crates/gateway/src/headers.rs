//! The headers between client and upstream: identity headers a client must never set (removed in
//! every spelling: names compare without case and with `_` read as `-`, since many servers — CGI,
//! PHP, nginx with `underscores_in_headers` — fold both into one variable), hop-by-hop headers
//! (RFC 9110 §7.6.1), and `X-Forwarded-For/-Proto/-Host`, set by the gateway and taken from the
//! client only when it is a trusted proxy.

use crate::config::Cidr;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use std::net::IpAddr;

/// A header name as the gateway compares it: lower case, `_` as `-`.
pub fn canonical(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// Removes every header whose canonical name is one of `names` (already canonical), all values.
pub fn strip(headers: &mut HeaderMap, names: &[String]) {
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| names.contains(&canonical(k.as_str())))
        .cloned()
        .collect();
    for k in doomed {
        headers.remove(&k);
    }
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers: the fixed ones and those the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut names: Vec<String> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| canonical(n.trim()))
        .filter(|n| !n.is_empty())
        .collect();
    names.extend(HOP_BY_HOP.iter().map(|h| h.to_string()));
    names.push("proxy-connection".into());
    strip(headers, &names);
}

/// Headers that tell an upstream where a request came from or which URL it was for: set by
/// the gateway, or by a trusted proxy, never by a client. `X-Original-URL` and `X-Rewrite-URL`
/// make some frameworks route on a path other than the one the gateway matched.
const FORWARDED: [&str; 10] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "forwarded",
    "x-real-ip",
    "x-original-url",
    "x-rewrite-url",
];

/// Sets the forwarding headers for a request from `peer`. From a trusted proxy, the client's
/// `X-Forwarded-*` (in their exact spelling) are kept and `peer` is appended to the chain; from
/// anyone else they are replaced. Other spellings are removed either way. Returns the client's
/// address: the nearest one in the chain that is not a trusted proxy.
pub fn set_forwarded(headers: &mut HeaderMap, peer: IpAddr, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let from_proxy = is_trusted(peer);
    let keep = |name: &str| -> Option<String> {
        if !from_proxy {
            return None;
        }
        let vals: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!vals.is_empty()).then(|| vals.join(", "))
    };
    let chain = keep("x-forwarded-for");
    let proto = keep("x-forwarded-proto");
    let host = keep("x-forwarded-host").or_else(|| {
        headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
    });
    strip(headers, &FORWARDED.map(String::from));

    let mut client = peer;
    if let Some(chain) = &chain {
        for hop in chain.rsplit(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !is_trusted(ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    }
    let xff = match chain {
        Some(c) => format!("{c}, {peer}"),
        None => peer.to_string(),
    };
    let set = |headers: &mut HeaderMap, name: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            headers.insert(name, v);
        }
    };
    set(headers, "x-forwarded-for", &xff);
    set(
        headers,
        "x-forwarded-proto",
        proto.as_deref().unwrap_or("http"),
    );
    if let Some(h) = host {
        set(headers, "x-forwarded-host", &h);
    }
    client
}

/// The value of a claim as a header: strings as they are, arrays joined with `,`, numbers and
/// booleans written out; `None` for what cannot be a header value (objects, control characters).
pub fn claim_value(v: &serde_json::Value) -> Option<HeaderValue> {
    use serde_json::Value;
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?
            .join(","),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    HeaderValue::from_bytes(text.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn identity_headers_go_in_every_spelling() {
        let mut h = map(&[
            ("X-User-Id", "1"),
            ("x_user_id", "2"),
            ("X_USER-ID", "3"),
            ("x-user-id", "4"),
            ("roles", "admin"),
            ("ROLES", "admin"),
            ("x-other", "kept"),
        ]);
        strip(&mut h, &["x-user-id".into(), "roles".into()]);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h["x-other"], "kept");
    }

    #[test]
    fn hop_by_hop_headers_go_with_those_connection_names() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "s"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("accept", "*/*"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["accept"]);
    }

    #[test]
    fn forwarding_headers_come_from_trusted_proxies_only() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let mut h = map(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x_forwarded_for", "5.6.7.8"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=1.2.3.4"),
            ("host", "shop.example"),
        ]);
        let client = set_forwarded(&mut h, peer, &[]);
        assert_eq!(client, peer);
        assert_eq!(h["x-forwarded-for"], "203.0.113.9");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "shop.example");
        assert!(h.get("forwarded").is_none() && h.get("x_forwarded_for").is_none());

        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        let mut h = map(&[
            ("x-forwarded-for", "9.9.9.9, 198.51.100.7, 10.0.0.5"),
            ("x_forwarded_for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "shop.example"),
            ("host", "internal"),
        ]);
        let client = set_forwarded(&mut h, proxy, &trusted);
        assert_eq!(client, "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!(
            h["x-forwarded-for"],
            "9.9.9.9, 198.51.100.7, 10.0.0.5, 10.0.0.2"
        );
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "shop.example");
        assert!(h.get("x_forwarded_for").is_none());
    }

    #[test]
    fn claims_become_header_values() {
        use serde_json::json;
        assert_eq!(claim_value(&json!("a@b.c")).unwrap(), "a@b.c");
        assert_eq!(
            claim_value(&json!(["admin", "user"])).unwrap(),
            "admin,user"
        );
        assert_eq!(claim_value(&json!(true)).unwrap(), "true");
        assert!(claim_value(&json!({"a": 1})).is_none());
        assert!(claim_value(&json!("a\r\nx-user-id: 1")).is_none());
    }
}
