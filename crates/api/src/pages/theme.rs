//! The look of the hosted pages: the default theme (the templates beside this file and the
//! English messages of `messages.properties`), and a tenant's theme over it (`tenant.themeId`,
//! see [`portcullis_domain::Theme`]): its template overrides, its stylesheet after the default
//! one, and its messages, in the locale the browser's `Accept-Language` asks for when the theme
//! has it.
//!
//! A theme's templates are compiled once per version: environments are cached by theme id and
//! `lastUpdateInstant`, which every save moves forward, so an update on any node shows on every
//! node at the next page, and a theme nobody changed is not compiled again.

use minijinja::Environment;
use portcullis_domain::{Errors, Tenant, Theme};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use uuid::Uuid;

/// The theme API's template names (FusionAuth's where a page matches one) and the file each
/// overrides.
pub const TEMPLATES: [(&str, &str, &str); 10] = [
    ("base", "base.html", include_str!("templates/base.html")),
    (
        "errors",
        "errors.html",
        include_str!("templates/errors.html"),
    ),
    (
        "oauth2Authorize",
        "login.html",
        include_str!("templates/login.html"),
    ),
    (
        "oauth2Register",
        "register.html",
        include_str!("templates/register.html"),
    ),
    (
        "forgotPassword",
        "forgot.html",
        include_str!("templates/forgot.html"),
    ),
    (
        "passwordChange",
        "change_password.html",
        include_str!("templates/change_password.html"),
    ),
    (
        "oauth2TwoFactor",
        "two_factor.html",
        include_str!("templates/two_factor.html"),
    ),
    (
        "oauth2TwoFactorEnable",
        "two_factor_enrol.html",
        include_str!("templates/two_factor_enrol.html"),
    ),
    (
        "message",
        "message.html",
        include_str!("templates/message.html"),
    ),
    (
        "oauth2FormPost",
        "form_post.html",
        include_str!("templates/form_post.html"),
    ),
];

/// The default theme's messages, English.
const DEFAULT_MESSAGES: &str = include_str!("messages.properties");

/// What a page is rendered with: templates, messages and the theme's stylesheet.
#[derive(Clone)]
pub(crate) struct Look {
    pub env: Arc<Environment<'static>>,
    pub messages: Arc<BTreeMap<String, String>>,
    /// The page's `lang`.
    pub lang: String,
    pub stylesheet: Option<String>,
}

impl Look {
    /// The message `key`; the key itself when no bundle has it (a theme's template naming a
    /// key of its own that it forgot to define shows that, not an empty string).
    pub fn t(&self, key: &str) -> String {
        self.messages
            .get(key)
            .cloned()
            .unwrap_or_else(|| key.to_string())
    }
}

/// `key=value` lines (Java properties without escapes, as FusionAuth's messages are written):
/// blank lines and lines starting with `#` or `!` are skipped; a line without `=` is an error,
/// answered with its number.
pub(crate) fn parse_messages(text: &str) -> Result<BTreeMap<String, String>, usize> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (k, v) = line.split_once('=').ok_or(i + 1)?;
        let k = k.trim();
        if k.is_empty() {
            return Err(i + 1);
        }
        out.insert(k.to_string(), v.trim().to_string());
    }
    Ok(out)
}

fn default_messages() -> &'static BTreeMap<String, String> {
    static M: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    M.get_or_init(|| parse_messages(DEFAULT_MESSAGES).expect("valid default messages"))
}

/// An environment of the default templates with `overrides` (theme names) in their place.
fn environment(
    overrides: &BTreeMap<String, String>,
) -> Result<Environment<'static>, (String, minijinja::Error)> {
    let mut env = Environment::new();
    for (name, file, source) in TEMPLATES {
        match overrides.get(name) {
            Some(o) => env
                .add_template_owned(file, o.clone())
                .map_err(|e| (name.to_string(), e))?,
            None => env
                .add_template(file, source)
                .expect("a valid default template"),
        }
    }
    Ok(env)
}

fn default_env() -> Arc<Environment<'static>> {
    static ENV: OnceLock<Arc<Environment<'static>>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(environment(&BTreeMap::new()).expect("valid default templates")))
        .clone()
}

/// Compiled environments of themes, by id, with the `lastUpdateInstant` compiled.
type EnvCache = Mutex<HashMap<Uuid, (i64, Arc<Environment<'static>>)>>;

fn cache() -> &'static EnvCache {
    static C: OnceLock<EnvCache> = OnceLock::new();
    C.get_or_init(Default::default)
}

fn theme_env(theme: &Theme) -> Arc<Environment<'static>> {
    let (Some(id), version) = (theme.id, theme.last_update_instant.unwrap_or(0)) else {
        return default_env();
    };
    if theme.templates.is_empty() {
        return default_env();
    }
    if let Some((v, env)) = cache().lock().expect("not poisoned").get(&id) {
        if *v == version {
            return env.clone();
        }
    }
    let env = match environment(&theme.templates) {
        Ok(e) => Arc::new(e),
        // Checked on save; a theme stored before a template became invalid shows the default.
        Err((name, e)) => {
            tracing::error!(theme = %id, template = name, error = %e, "a theme's template does not compile; the default is shown");
            default_env()
        }
    };
    cache()
        .lock()
        .expect("not poisoned")
        .insert(id, (version, env.clone()));
    env
}

/// The language ranges of an `Accept-Language` header, best first.
fn languages(accept: Option<&str>) -> Vec<String> {
    let mut ranges: Vec<(f32, usize, String)> = accept
        .unwrap_or("")
        .split(',')
        .enumerate()
        .filter_map(|(i, part)| {
            let mut it = part.split(';');
            let tag = it.next()?.trim();
            if tag.is_empty() || tag == "*" || tag.len() > 35 {
                return None;
            }
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (q > 0.0).then(|| (q, i, tag.to_string()))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges.into_iter().map(|(_, _, t)| t).collect()
}

/// The locale of `available` that best answers `accept`: an exact tag, else the same language.
fn best_locale<'a>(
    accept: Option<&str>,
    available: impl Iterator<Item = &'a String> + Clone,
) -> Option<&'a String> {
    for want in languages(accept) {
        if let Some(l) = available.clone().find(|l| l.eq_ignore_ascii_case(&want)) {
            return Some(l);
        }
        let primary = want.split(['-', '_']).next().unwrap_or("");
        if let Some(l) = available.clone().find(|l| {
            l.split(['-', '_'])
                .next()
                .unwrap_or("")
                .eq_ignore_ascii_case(primary)
        }) {
            return Some(l);
        }
    }
    // Nothing asked for is there: the pages speak English, which a theme's `en` refines.
    available.clone().find(|l| l.eq_ignore_ascii_case("en"))
}

/// The default look, for pages shown before a tenant is known.
pub(crate) fn default_look() -> Look {
    Look {
        env: default_env(),
        messages: Arc::new(default_messages().clone()),
        lang: "en".into(),
        stylesheet: None,
    }
}

/// The look of a theme for a browser that accepts `accept`.
pub(crate) fn look_of(theme: Option<&Theme>, accept: Option<&str>) -> Look {
    let Some(theme) = theme else {
        return default_look();
    };
    let mut messages = default_messages().clone();
    if let Some(Ok(m)) = theme.default_messages.as_deref().map(parse_messages) {
        messages.extend(m);
    }
    let mut lang = "en".to_string();
    if let Some(locale) = best_locale(accept, theme.localized_messages.keys()) {
        if let Ok(m) = parse_messages(&theme.localized_messages[locale]) {
            messages.extend(m);
            lang = locale.clone();
        }
    }
    Look {
        env: theme_env(theme),
        messages: Arc::new(messages),
        lang,
        stylesheet: theme.stylesheet.clone().filter(|s| !s.trim().is_empty()),
    }
}

/// The look of `tenant`'s pages; the default when it names no theme or reading it fails.
pub(crate) async fn look_for(
    s: &crate::AppState,
    tenant: &Tenant,
    headers: &axum::http::HeaderMap,
) -> Look {
    let accept = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    match s.identity.tenant_theme(tenant).await {
        Ok(theme) => look_of(theme.as_ref(), accept),
        Err(e) => {
            tracing::warn!(error = %e, "the tenant's theme could not be read; the default is shown");
            default_look()
        }
    }
}

/// The theme API's check: known template names that compile, messages that parse, locales
/// that look like language tags, and a stylesheet that cannot end the `<style>` element.
pub fn check_theme(theme: &Theme) -> Errors {
    let mut errors = Errors::default();
    for (name, source) in &theme.templates {
        let field = format!("theme.templates.{name}");
        if !TEMPLATES.iter().any(|(n, _, _)| n == name) {
            let names: Vec<&str> = TEMPLATES.iter().map(|(n, _, _)| *n).collect();
            errors.add_field(
                &field,
                &format!("[invalid]{field}"),
                format!(
                    "There is no page template [{name}]; the templates are {}.",
                    names.join(", ")
                ),
            );
            continue;
        }
        let mut env = Environment::new();
        if let Err(e) = env.add_template_owned(name.clone(), source.clone()) {
            errors.add_field(
                &field,
                &format!("[invalid]{field}"),
                format!("The template does not compile: {e}"),
            );
        }
    }
    if let Some(Err(line)) = theme.default_messages.as_deref().map(parse_messages) {
        errors.add_field(
            "theme.defaultMessages",
            "[invalid]theme.defaultMessages",
            format!("Line {line} is not a key=value line."),
        );
    }
    for (locale, text) in &theme.localized_messages {
        let field = format!("theme.localizedMessages.{locale}");
        let tag_ok = !locale.is_empty()
            && locale.len() <= 35
            && locale
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !tag_ok {
            errors.add_field(
                &field,
                &format!("[invalid]{field}"),
                "The locale is not a language tag such as de or pt-BR.",
            );
        } else if let Err(line) = parse_messages(text) {
            errors.add_field(
                &field,
                &format!("[invalid]{field}"),
                format!("Line {line} is not a key=value line."),
            );
        }
    }
    if let Some(css) = &theme.stylesheet {
        if css.to_ascii_lowercase().contains("</style") {
            errors.add_field(
                "theme.stylesheet",
                "[invalid]theme.stylesheet",
                "The stylesheet cannot contain </style.",
            );
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_locale_the_theme_has() {
        let have = ["de".to_string(), "pt-BR".to_string()];
        let pick = |a: &str| best_locale(Some(a), have.iter()).cloned();
        assert_eq!(pick("de-DE,de;q=0.9,en;q=0.8").as_deref(), Some("de"));
        assert_eq!(pick("en;q=0.9, pt-br").as_deref(), Some("pt-BR"));
        assert_eq!(pick("fr, en;q=0.5"), None);
        assert_eq!(pick("de;q=0"), None);
        let with_en = ["en".to_string(), "de".to_string()];
        assert_eq!(
            best_locale(None, with_en.iter()).map(String::as_str),
            Some("en")
        );
    }

    #[test]
    fn the_default_messages_parse_and_a_line_without_equals_is_refused() {
        assert!(default_messages().contains_key("sign_in"));
        assert_eq!(parse_messages("a=b\n\n# c\nnope"), Err(4));
    }
}
