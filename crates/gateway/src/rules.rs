//! A route's `allow` rule: `"public"`, `"authenticated"`, a claim check
//! (`{ roles = [...], application_id = "..." }`) and their combinations (`{ any = [...] }`,
//! `{ all = [...] }`, `{ not = ... }`), parsed from TOML with errors naming the key, and judged
//! against the caller's verified identity (or its absence).

use crate::auth::Caller;
use crate::config::ConfigError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, signed in or not.
    Public,
    /// Anyone with a valid token.
    Authenticated,
    /// A valid token for `application_id` (when given) holding at least one of `roles` (when
    /// given).
    Claims {
        roles: Vec<String>,
        application_id: Option<String>,
    },
    Any(Vec<Rule>),
    All(Vec<Rule>),
    Not(Box<Rule>),
}

fn err<T>(key: &str, msg: impl std::fmt::Display) -> Result<T, ConfigError> {
    Err(ConfigError(format!("[{key}] {msg}")))
}

impl Rule {
    pub fn parse(key: &str, v: &toml::Value) -> Result<Rule, ConfigError> {
        match v {
            toml::Value::String(s) => match s.as_str() {
                "public" => Ok(Rule::Public),
                "authenticated" => Ok(Rule::Authenticated),
                other => err(
                    key,
                    format!(
                        "{other:?} is not a rule: use \"public\", \"authenticated\" or a table"
                    ),
                ),
            },
            toml::Value::Table(t) => {
                let combinator = ["any", "all", "not"]
                    .into_iter()
                    .find(|k| t.contains_key(*k));
                if let Some(c) = combinator {
                    if t.len() != 1 {
                        return err(key, format!("{{ {c} = ... }} takes no other key"));
                    }
                    let inner = &t[c];
                    let sub = format!("{key}.{c}");
                    return match c {
                        "not" => Ok(Rule::Not(Box::new(Rule::parse(&sub, inner)?))),
                        _ => {
                            let Some(list) = inner.as_array().filter(|l| !l.is_empty()) else {
                                return err(&sub, "must be a non-empty list of rules");
                            };
                            let rules = list
                                .iter()
                                .enumerate()
                                .map(|(i, r)| Rule::parse(&format!("{sub}[{i}]"), r))
                                .collect::<Result<Vec<_>, _>>()?;
                            Ok(if c == "any" {
                                Rule::Any(rules)
                            } else {
                                Rule::All(rules)
                            })
                        }
                    };
                }
                let mut roles = Vec::new();
                let mut application_id = None;
                for (k, v) in t {
                    match k.as_str() {
                        "roles" => {
                            let list = v.as_array().map(|l| {
                                l.iter().map(|r| r.as_str().map(str::to_string)).collect()
                            });
                            match list {
                                Some(Some(l)) => roles = l,
                                _ => {
                                    return err(
                                        &format!("{key}.roles"),
                                        "must be a list of role names",
                                    )
                                }
                            }
                            if roles.is_empty() {
                                return err(
                                    &format!("{key}.roles"),
                                    "is empty: use \"authenticated\"",
                                );
                            }
                        }
                        "application_id" => match v.as_str() {
                            Some(a) if uuid::Uuid::parse_str(a).is_ok() => {
                                application_id = Some(a.to_string())
                            }
                            _ => {
                                return err(
                                    &format!("{key}.application_id"),
                                    "must be an application's id (a UUID)",
                                )
                            }
                        },
                        other => {
                            return err(
                                &format!("{key}.{other}"),
                                "is not a rule key: use roles, application_id, any, all or not",
                            )
                        }
                    }
                }
                if roles.is_empty() && application_id.is_none() {
                    return err(key, "an empty table is not a rule");
                }
                Ok(Rule::Claims {
                    roles,
                    application_id,
                })
            }
            _ => err(key, "must be \"public\", \"authenticated\" or a table"),
        }
    }

    /// Whether the caller (`None`: no valid credentials) may pass.
    pub fn allows(&self, caller: Option<&Caller>) -> bool {
        match self {
            Rule::Public => true,
            Rule::Authenticated => caller.is_some(),
            Rule::Claims {
                roles,
                application_id,
            } => caller.is_some_and(|c| {
                application_id
                    .as_ref()
                    .is_none_or(|a| c.audiences.iter().any(|x| x == a))
                    && (roles.is_empty() || roles.iter().any(|r| c.roles.contains(r)))
            }),
            Rule::Any(rules) => rules.iter().any(|r| r.allows(caller)),
            Rule::All(rules) => rules.iter().all(|r| r.allows(caller)),
            Rule::Not(r) => !r.allows(caller),
        }
    }

    /// Adds the application ids this rule names to `out`.
    pub fn application_ids(&self, out: &mut Vec<String>) {
        match self {
            Rule::Claims {
                application_id: Some(a),
                ..
            } => out.push(a.clone()),
            Rule::Any(rs) | Rule::All(rs) => rs.iter().for_each(|r| r.application_ids(out)),
            Rule::Not(r) => r.application_ids(out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> Rule {
        let v: toml::Table = toml::from_str(&format!("allow = {text}")).unwrap();
        Rule::parse("allow", &v["allow"]).unwrap()
    }

    fn caller(roles: &[&str], aud: &str) -> Caller {
        Caller {
            claims: Default::default(),
            sub: "u".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            audiences: vec![aud.into()],
        }
    }

    const APP: &str = "e9fdb985-9173-4e01-9d73-ac2d60d1dc8e";
    const OTHER: &str = "0190a0a0-0000-7000-8000-000000000000";

    #[test]
    fn rules_judge_callers() {
        let admin = caller(&["admin"], APP);
        let user = caller(&["user"], APP);
        let elsewhere = caller(&["admin"], OTHER);
        assert!(rule("\"public\"").allows(None));
        assert!(!rule("\"authenticated\"").allows(None));
        assert!(rule("\"authenticated\"").allows(Some(&user)));
        let r = rule(&format!(
            "{{ roles = [\"admin\"], application_id = \"{APP}\" }}"
        ));
        assert!(r.allows(Some(&admin)));
        assert!(!r.allows(Some(&user)));
        assert!(!r.allows(Some(&elsewhere)));
        assert!(!r.allows(None));
        let r = rule("{ any = [{ roles = [\"admin\"] }, { roles = [\"user\"] }] }");
        assert!(r.allows(Some(&user)) && r.allows(Some(&admin)));
        let r = rule("{ all = [\"authenticated\", { not = { roles = [\"banned\"] } }] }");
        assert!(r.allows(Some(&user)));
        assert!(!r.allows(Some(&caller(&["user", "banned"], APP))));
        assert!(!r.allows(None));
        assert!(rule("{ not = \"authenticated\" }").allows(None));
        let mut ids = Vec::new();
        rule(&format!(
            "{{ any = [{{ not = {{ application_id = \"{APP}\" }} }}] }}"
        ))
        .application_ids(&mut ids);
        assert_eq!(ids, [APP]);
    }

    #[test]
    fn bad_rules_name_their_key() {
        let bad = |text: &str| {
            let v: toml::Table = toml::from_str(&format!("allow = {text}")).unwrap();
            Rule::parse("route[0].allow", &v["allow"]).unwrap_err().0
        };
        assert!(bad("{ any = [] }").contains("route[0].allow.any"));
        assert!(bad("{ all = [\"public\", 3] }").contains("route[0].allow.all[1]"));
        assert!(bad("{ not = \"x\" }").contains("route[0].allow.not"));
        assert!(bad("{ roles = \"admin\" }").contains("route[0].allow.roles"));
        assert!(bad("{ application_id = \"x\" }").contains("application_id"));
        assert!(bad("{ any = [\"public\"], roles = [\"a\"] }").contains("no other key"));
        assert!(bad("{}").contains("empty"));
    }
}
