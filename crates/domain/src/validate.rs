//! Rules every entity must satisfy before it is stored. Each check adds to an [`Errors`] so a
//! caller learns every problem at once.

use crate::model::*;
use crate::Errors;

/// Minimum and maximum password length for new passwords (FusionAuth's defaults). Tenants make
/// these configurable with the login issue.
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 256;

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
        if !looks_like_email(email) {
            errors.add_field(
                &format!("{prefix}.email"),
                &format!("[notEmail]{prefix}.email"),
                format!("The [{prefix}.email] property is not a valid email address."),
            );
        }
    }
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
    }
}

pub fn roles(roles: &[Role], errors: &mut Errors) {
    let mut seen = std::collections::HashSet::new();
    for r in roles {
        if r.name.trim().is_empty() {
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
    fn emails_need_one_at_with_both_sides() {
        assert!(looks_like_email("a@b.c"));
        assert!(!looks_like_email("a@"));
        assert!(!looks_like_email("@b"));
        assert!(!looks_like_email("a b@c"));
        assert!(!looks_like_email("a@b@c"));
    }
}
