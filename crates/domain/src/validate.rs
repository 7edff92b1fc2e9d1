//! Rules every entity must satisfy before it is stored. Each check adds to an [`Errors`] so a
//! caller learns every problem at once.

use crate::model::*;
use crate::Errors;

/// Minimum and maximum password length for new passwords (FusionAuth's defaults). Tenants make
/// these configurable with the login issue.
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 256;

/// Longest email, in bytes: RFC 5321's 64-byte local part, the `@` and a 255-byte domain.
pub const EMAIL_MAX: usize = 320;
/// Longest login id, in bytes: an email or a username, so the longer of the two.
pub const LOGIN_ID_MAX: usize = EMAIL_MAX;
/// Longest username, in bytes.
pub const USERNAME_MAX: usize = 255;
/// Longest name of a tenant, application, group or role, in bytes.
pub const NAME_MAX: usize = 255;

/// Whether `s` may be stored and looked up as an identifier (an email, a username, a login id,
/// a name): no control character — PostgreSQL refuses a NUL in text outright, and the others
/// are never part of a real identifier — and at most `max` bytes, well under the ~2.7 KB a
/// PostgreSQL index row may hold. Every store call with such a value is made only after this
/// holds, so both backends answer the same 400.
pub fn is_identifier(s: &str, max: usize) -> bool {
    s.len() <= max && !s.chars().any(char::is_control)
}

/// Adds `[invalid]{field}` for a control character or `[tooLong]{field}` for more than `max`
/// bytes; `true` when `s` is a storable identifier. The message never echoes the value, which
/// may be a megabyte of junk.
pub fn identifier(s: &str, field: &str, max: usize, errors: &mut Errors) -> bool {
    if s.chars().any(char::is_control) {
        errors.add_field(
            field,
            &format!("[invalid]{field}"),
            format!("The [{field}] property must not contain control characters."),
        );
        false
    } else if s.len() > max {
        errors.add_field(
            field,
            &format!("[tooLong]{field}"),
            format!("The [{field}] property must be at most {max} bytes long."),
        );
        false
    } else {
        true
    }
}

/// The canonical text of an IP address as a client or proxy may send it, `None` when `raw` is
/// not one. One address has one text, so a lock on it holds however it is written: an
/// The one form in which emails, usernames and login ids are indexed, compared and counted:
/// trimmed and lower-cased (Unicode lower case, as FusionAuth compares them).
pub fn normalize_login_id(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// [`normalize_login_id`] of an optional field; a missing or blank value is `None`.
pub fn normalized(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(normalize_login_id)
        .filter(|s| !s.is_empty())
}

/// IPv4-mapped IPv6 address becomes its IPv4 address, IPv6 is written as RFC 5952 says
/// (lower case, zeros compressed), a port (`203.0.113.7:4444`, `[2001:db8::1]:443`) and a
/// zone are dropped. An IPv4 octet with a leading zero (`203.0.113.007`) is refused: some
/// parsers read it as octal, so it has no one meaning.
pub fn ip_address(raw: &str) -> Option<String> {
    use std::net::{IpAddr, Ipv6Addr, SocketAddr};
    let s = raw.trim();
    let ip = s
        .parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            let inner = s.strip_prefix('[')?.strip_suffix(']')?;
            inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        })?;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    Some(ip.to_string())
}

/// An optional `ipAddress` of a request, canonical ([`ip_address`]); blank counts as absent,
/// anything else that is not an IP address adds `[invalid]{field}`.
pub fn optional_ip_address(raw: Option<&str>, field: &str, errors: &mut Errors) -> Option<String> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty())?;
    let ip = ip_address(raw);
    if ip.is_none() {
        errors.add_field(
            field,
            &format!("[invalid]{field}"),
            format!("The [{field}] property must be an IPv4 or IPv6 address (without leading zeros in IPv4 octets)."),
        );
    }
    ip
}

/// A login id as a request names it: trimmed, then non-blank and a storable identifier
/// (`[blank]`, `[invalid]` or `[tooLong]{field}`). `blank_message` says what else would do.
pub fn login_id<'a>(
    raw: Option<&'a str>,
    field: &str,
    blank_message: &str,
    errors: &mut Errors,
) -> &'a str {
    let id = raw.map(str::trim).unwrap_or("");
    if id.is_empty() {
        errors.add_field(field, &format!("[blank]{field}"), blank_message);
    } else {
        identifier(id, field, LOGIN_ID_MAX, errors);
    }
    id
}

/// A password a request must carry (`[blank]{field}` when missing or empty).
pub fn required_password(raw: Option<&Password>, field: &str, errors: &mut Errors) -> Password {
    let password = raw.cloned().unwrap_or(Password(String::new()));
    if password.0.is_empty() {
        errors.add_field(
            field,
            &format!("[blank]{field}"),
            format!("You must specify the [{field}]."),
        );
    }
    password
}

pub fn blank(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(|s| s.trim().is_empty())
}

/// A deliberately loose check: one `@` with text on both sides and no whitespace. Real validation
/// of an address is sending it an email.
pub fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// `YYYY-MM-DD` with a real month and day.
pub fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// Checks a user's own fields; `prefix` is the JSON path (`user`).
pub fn user(u: &User, prefix: &str, errors: &mut Errors) {
    if blank(&u.email) && blank(&u.username) {
        let msg = format!(
            "You must specify either the [{prefix}.email] or [{prefix}.username] property."
        );
        errors.add_field(
            &format!("{prefix}.email"),
            &format!("[blank]{prefix}.email"),
            &msg,
        );
        errors.add_field(
            &format!("{prefix}.username"),
            &format!("[blank]{prefix}.username"),
            msg,
        );
    }
    if let Some(email) = u.email.as_deref().filter(|e| !e.trim().is_empty()) {
        if identifier(email, &format!("{prefix}.email"), EMAIL_MAX, errors)
            && !looks_like_email(email)
        {
            errors.add_field(
                &format!("{prefix}.email"),
                &format!("[notEmail]{prefix}.email"),
                format!("The [{prefix}.email] property is not a valid email address."),
            );
        }
    }
    if let Some(name) = u.username.as_deref().filter(|n| !n.trim().is_empty()) {
        identifier(name, &format!("{prefix}.username"), USERNAME_MAX, errors);
    }
    nul_free(u, prefix, errors);
    if let Some(d) = &u.birth_date {
        if !is_iso_date(d) {
            errors.add_field(
                &format!("{prefix}.birthDate"),
                &format!("[invalid]{prefix}.birthDate"),
                format!("The [{prefix}.birthDate] property must be an ISO-8601 date such as 1990-04-23, not [{d}]."),
            );
        }
    }
    if let Some(p) = &u.password {
        password(&p.0, &format!("{prefix}.password"), errors);
    }
}

/// Whether a JSON value holds a NUL in any string or key.
fn json_has_nul(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(json_has_nul),
        Value::Object(m) => map_has_nul(m),
        _ => false,
    }
}

fn map_has_nul(m: &Json) -> bool {
    m.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v))
}

/// Refuses a NUL in the user's other strings (names, `data`, registrations...): PostgreSQL
/// cannot read such a body as `jsonb`, which a login does to stamp `lastLoginInstant`. Other
/// control characters are fine in free text.
fn nul_free(u: &User, prefix: &str, errors: &mut Errors) {
    let mut refuse = |field: String| {
        errors.add_field(
            &field,
            &format!("[invalid]{field}"),
            format!("The [{field}] property must not contain a NUL character."),
        );
    };
    let has = |s: &Option<String>| s.as_deref().is_some_and(|s| s.contains('\0'));
    let any = |v: &[String]| v.iter().any(|s| s.contains('\0'));
    for (name, value) in [
        ("firstName", &u.first_name),
        ("middleName", &u.middle_name),
        ("lastName", &u.last_name),
        ("fullName", &u.full_name),
        ("birthDate", &u.birth_date),
        ("mobilePhone", &u.mobile_phone),
        ("imageUrl", &u.image_url),
        ("timezone", &u.timezone),
        ("usernameStatus", &u.username_status),
    ] {
        if has(value) {
            refuse(format!("{prefix}.{name}"));
        }
    }
    if any(&u.preferred_languages) {
        refuse(format!("{prefix}.preferredLanguages"));
    }
    if map_has_nul(&u.data) {
        refuse(format!("{prefix}.data"));
    }
    if any(&u.two_factor.recovery_codes) || u.two_factor.methods.iter().any(map_has_nul) {
        refuse(format!("{prefix}.twoFactor"));
    }
    for (j, r) in u.registrations.iter().enumerate() {
        let at = format!("{prefix}.registrations[{j}]");
        for (name, value) in [
            ("username", &r.username),
            ("timezone", &r.timezone),
            ("usernameStatus", &r.username_status),
        ] {
            if has(value) {
                refuse(format!("{at}.{name}"));
            }
        }
        if any(&r.roles) {
            refuse(format!("{at}.roles"));
        }
        if any(&r.preferred_languages) {
            refuse(format!("{at}.preferredLanguages"));
        }
        if map_has_nul(&r.data) {
            refuse(format!("{at}.data"));
        }
    }
    for (j, m) in u.memberships.iter().enumerate() {
        if map_has_nul(&m.data) {
            refuse(format!("{prefix}.memberships[{j}].data"));
        }
    }
}

pub fn password(p: &str, field: &str, errors: &mut Errors) {
    let n = p.chars().count();
    if n < PASSWORD_MIN {
        errors.add_field(
            field,
            &format!("[tooShort]{field}"),
            format!("The password must be at least {PASSWORD_MIN} characters long."),
        );
    } else if n > PASSWORD_MAX {
        errors.add_field(
            field,
            &format!("[tooLong]{field}"),
            format!("The password must be at most {PASSWORD_MAX} characters long."),
        );
    }
}

/// Checks a registration against the application it names (`None` when that does not exist in the
/// user's tenant).
pub fn registration(
    r: &Registration,
    app: Option<&Application>,
    prefix: &str,
    errors: &mut Errors,
) {
    let field = format!("{prefix}.applicationId");
    match (r.application_id, app) {
        (None, _) => errors.add_field(
            &field,
            &format!("[blank]{field}"),
            format!("You must specify the [{field}] property."),
        ),
        (Some(id), None) => errors.add_field(
            &field,
            &format!("[invalid]{field}"),
            format!("The [{field}] property [{id}] is not an application of this tenant."),
        ),
        (Some(_), Some(app)) => {
            for role in &r.roles {
                if !app.roles.iter().any(|known| &known.name == role) {
                    errors.add_field(
                        &format!("{prefix}.roles"),
                        &format!("[invalid]{prefix}.roles"),
                        format!(
                            "The role [{role}] does not exist in the application [{}].",
                            app.name
                        ),
                    );
                }
            }
        }
    }
}

pub fn named(name: &str, field: &str, errors: &mut Errors) {
    if name.trim().is_empty() {
        errors.add_field(
            field,
            &format!("[blank]{field}"),
            format!("You must specify the [{field}] property."),
        );
    } else {
        identifier(name, field, NAME_MAX, errors);
    }
}

pub fn roles(roles: &[Role], errors: &mut Errors) {
    let mut seen = std::collections::HashSet::new();
    for r in roles {
        if r.name.trim().is_empty() || !is_identifier(&r.name, NAME_MAX) {
            named(&r.name, "role.name", errors);
        } else if !seen.insert(r.name.as_str()) {
            errors.add_field(
                "role.name",
                "[duplicate]role.name",
                format!(
                    "The role [{}] appears more than once in the application.",
                    r.name
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_be_real_calendar_days() {
        assert!(is_iso_date("2000-02-29"));
        assert!(!is_iso_date("1900-02-29"));
        assert!(!is_iso_date("2021-13-01"));
        assert!(!is_iso_date("2021-1-01"));
        assert!(!is_iso_date("21-01-01xx"));
    }

    #[test]
    fn ip_addresses_have_one_text() {
        for (raw, canonical) in [
            ("203.0.113.7", "203.0.113.7"),
            (" 203.0.113.7 ", "203.0.113.7"),
            ("203.0.113.7:4444", "203.0.113.7"),
            ("::ffff:203.0.113.7", "203.0.113.7"),
            ("::FFFF:CB00:7107", "203.0.113.7"),
            ("[::ffff:203.0.113.7]:443", "203.0.113.7"),
            ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:80", "2001:db8::1"),
            ("::1", "::1"),
            // IPv4-compatible (deprecated) addresses are IPv6 addresses, not IPv4 ones.
            ("::203.0.113.7", "::cb00:7107"),
        ] {
            assert_eq!(ip_address(raw).as_deref(), Some(canonical), "{raw}");
        }
        for junk in [
            "203.0.113.007",
            "203.0.113",
            "203.0.113.256",
            "203.0.113.7:99999",
            "0x7f.0.0.1",
            "2001:db8::g",
            "fe80::1%eth0",
            "",
            "203.0.113.7\0",
        ] {
            assert_eq!(ip_address(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn identifiers_have_no_control_characters_and_a_bound() {
        assert!(is_identifier("jane@example.com", EMAIL_MAX));
        assert!(is_identifier(&"a".repeat(EMAIL_MAX), EMAIL_MAX));
        assert!(!is_identifier(&"a".repeat(EMAIL_MAX + 1), EMAIL_MAX));
        for c in ['\0', '\u{1}', '\t', '\n', '\u{7f}', '\u{85}'] {
            assert!(!is_identifier(&format!("ja{c}ne"), EMAIL_MAX), "{c:?}");
        }
        // The bound is in bytes: multi-byte characters count as what they cost in an index.
        assert!(!is_identifier(
            &"é".repeat(USERNAME_MAX / 2 + 1),
            USERNAME_MAX
        ));
    }

    #[test]
    fn emails_need_one_at_with_both_sides() {
        assert!(looks_like_email("a@b.c"));
        assert!(!looks_like_email("a@"));
        assert!(!looks_like_email("@b"));
        assert!(!looks_like_email("a b@c"));
        assert!(!looks_like_email("a@b@c"));
    }
}
