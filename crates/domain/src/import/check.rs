//! The import's checks of each user on its own and against the rest of the request: its fields,
//! its password (the tenant's rules for a plaintext one; syntax, limits and cost for a hash),
//! duplicates inside the request, and the applications and groups it names. Every problem is a
//! field error keyed `users[i]...`; nothing here reads the store.

use super::{CostBudget, ImportUser, Secret};
use crate::model::*;
use crate::settings::PasswordRules;
use crate::{validate, Errors};
use portcullis_hash::Registry;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::BuildHasher;
use uuid::Uuid;

/// A checked user of the request, before it is matched with the store.
pub(super) struct Checked {
    pub index: usize,
    pub user: User,
    pub secret: Secret,
    /// The keys the request gave for this user (an upsert merges only these).
    pub given: BTreeSet<String>,
}

/// What checking a request's users needs to know, and what it has seen so far.
pub(super) struct RequestCheck<'a> {
    /// The schemes imported hashes are parsed and priced with.
    pub schemes: &'a Registry,
    /// The tenant's applications and groups, which registrations and memberships must name.
    pub apps: &'a HashMap<Uuid, Application>,
    pub groups: &'a HashSet<Uuid>,
    pub budget: &'a CostBudget,
    /// The tenant's password rules, which plaintext passwords must meet as on user create.
    pub rules: &'a PasswordRules,
    /// The scheme and factor plaintext passwords are hashed with.
    pub plain_scheme: &'a str,
    pub plain_factor: Option<u32>,
    pub upsert: bool,
    pub now: Millis,
    seen_ids: HashMap<Uuid, usize>,
    /// Emails and usernames seen, by a 128-bit keyed hash of their normalized form: a request
    /// holds 16 bytes per key, not the keys themselves.
    seen_emails: HashMap<u128, usize>,
    seen_usernames: HashMap<u128, usize>,
    keys: [std::collections::hash_map::RandomState; 2],
    plain_checked: bool,
}

impl<'a> RequestCheck<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        schemes: &'a Registry,
        apps: &'a HashMap<Uuid, Application>,
        groups: &'a HashSet<Uuid>,
        budget: &'a CostBudget,
        rules: &'a PasswordRules,
        plain_scheme: &'a str,
        plain_factor: Option<u32>,
        upsert: bool,
        now: Millis,
    ) -> Self {
        Self {
            schemes,
            apps,
            groups,
            budget,
            rules,
            plain_scheme,
            plain_factor,
            upsert,
            now,
            seen_ids: HashMap::new(),
            seen_emails: HashMap::new(),
            seen_usernames: HashMap::new(),
            keys: Default::default(),
            plain_checked: false,
        }
    }

    /// Checks the request's `i`th user, adding every problem to `errors`.
    pub fn user(&mut self, i: usize, input: ImportUser, errors: &mut Errors) -> Checked {
        let at = format!("users[{i}]");
        let ImportUser {
            mut user,
            encryption_scheme,
            factor,
            salt,
            given,
        } = input;
        let secret = match (encryption_scheme, user.password.take()) {
            (_, None) => Secret::None,
            (None, Some(p)) => {
                self.rules.check(&p.0, &format!("{at}.password"), errors);
                self.plain_cost(errors);
                Secret::Plain(p)
            }
            (Some(scheme), Some(p)) => {
                self.hash(&at, &scheme, factor, salt.as_deref(), &p.0, errors)
            }
        };
        // An upsert may name a stored user by id alone: its own fields are checked once merged.
        if !self.upsert {
            validate::user(&user, &at, errors);
            user.id.get_or_insert_with(crate::new_id);
        }
        self.duplicates(i, &at, &user, errors);
        self.registrations(&at, &mut user, errors);
        self.memberships(&at, &user, errors);
        Checked {
            index: i,
            user,
            secret,
            given,
        }
    }

    /// An imported hash: parsed with its scheme's limits, and refused when verifying it would
    /// cost more than the tenant allows.
    fn hash(
        &self,
        at: &str,
        scheme: &str,
        factor: Option<u32>,
        salt: Option<&str>,
        hash: &str,
        errors: &mut Errors,
    ) -> Secret {
        let refused = |errors: &mut Errors, code: &str, why: String| {
            errors.add_field(
                &format!("{at}.password"),
                code,
                format!("{at}: the password hash cannot be imported: {why}"),
            );
            Secret::None
        };
        match self.schemes.parse_import(scheme, factor, salt, hash) {
            Ok(c) => match self.budget.refuses(self.schemes.cost(&c)) {
                Some(why) => refused(errors, "[tooCostly]user.password", why),
                None => Secret::Hashed(c),
            },
            Err(e) => refused(errors, "[invalid]user.password", e.to_string()),
        }
    }

    /// Plaintext passwords are hashed with one scheme and factor: its cost is checked once.
    fn plain_cost(&mut self, errors: &mut Errors) {
        if std::mem::replace(&mut self.plain_checked, true) {
            return;
        }
        let scheme = self.plain_scheme;
        if let Ok(cost) = self.schemes.new_hash_cost(scheme, self.plain_factor) {
            if let Some(why) = self.budget.refuses(Some(cost)) {
                errors.add_field(
                    "factor",
                    "[tooCostly]factor",
                    format!(
                        "Plaintext passwords hashed with [{scheme}] at this factor cannot be \
                         imported: {why}"
                    ),
                );
            }
        }
    }

    /// An id, email or username that an earlier user of the request has too: the error names
    /// the first user that has it, however many others do.
    fn duplicates(&mut self, i: usize, at: &str, user: &User, errors: &mut Errors) {
        if let Some(id) = user.id {
            if let Some(first) = first_of(&mut self.seen_ids, id, i) {
                errors.add_field(
                    &format!("{at}.id"),
                    "[duplicate]user.id",
                    format!("{at}: the id [{id}] is also used by users[{first}]."),
                );
            }
        }
        for (field, value, seen) in [
            ("email", &user.email, &mut self.seen_emails),
            ("username", &user.username, &mut self.seen_usernames),
        ] {
            if let Some(key) = validate::normalized(value) {
                let [a, b] = &self.keys;
                let key = (u128::from(a.hash_one(&key)) << 64) | u128::from(b.hash_one(&key));
                if let Some(first) = first_of(seen, key, i) {
                    errors.add_field(
                        &format!("{at}.{field}"),
                        &format!("[duplicate]user.{field}"),
                        format!(
                            "{at}: the {field} [{}] is also used by users[{first}].",
                            value.as_deref().unwrap_or_default()
                        ),
                    );
                }
            }
        }
    }

    /// Each registration names an application of the tenant, once.
    fn registrations(&self, at: &str, user: &mut User, errors: &mut Errors) {
        let mut registered = HashSet::new();
        for (j, r) in user.registrations.iter_mut().enumerate() {
            let prefix = format!("{at}.registrations[{j}]");
            let app = r.application_id.and_then(|a| self.apps.get(&a));
            validate::registration(r, app, &prefix, errors);
            if let Some(a) = r.application_id {
                if !registered.insert(a) {
                    errors.add_field(
                        &format!("{prefix}.applicationId"),
                        "[duplicate]registration.applicationId",
                        format!(
                            "{prefix}: the user is registered twice for the application [{a}]."
                        ),
                    );
                }
            }
            r.last_update_instant = Some(self.now);
        }
    }

    /// Each membership names a group of the tenant, once.
    fn memberships(&self, at: &str, user: &User, errors: &mut Errors) {
        let mut joined = HashSet::new();
        for (j, m) in user.memberships.iter().enumerate() {
            let field = format!("{at}.memberships[{j}].groupId");
            match m.group_id {
                Some(g) if self.groups.contains(&g) => {
                    if !joined.insert(g) {
                        errors.add_field(
                            &field,
                            "[duplicate]membership.groupId",
                            format!("{at}: the user joins the group [{g}] twice."),
                        );
                    }
                }
                Some(g) => errors.add_field(
                    &field,
                    "[invalid]membership.groupId",
                    format!("{at}: the group [{g}] does not exist in this tenant."),
                ),
                None => errors.add_field(
                    &field,
                    "[blank]membership.groupId",
                    format!("{at}: a membership needs a groupId."),
                ),
            }
        }
    }
}

/// The index of the first user seen with `key`, or `None` when user `i` is the first.
fn first_of<K: std::hash::Hash + Eq>(
    seen: &mut HashMap<K, usize>,
    key: K,
    i: usize,
) -> Option<usize> {
    match seen.entry(key) {
        std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(i);
            None
        }
    }
}
