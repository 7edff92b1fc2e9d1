//! A new user of an import in the compact form the store writes: its key columns and every text
//! of its row and of its registrations' and memberships' rows in one allocation. An import
//! holds a slice of its users in this form between their parse and their write.

use super::body::user_body;
use crate::model::*;
use portcullis_hash::Credential;
use uuid::Uuid;

/// A registration's or membership's row: its id, the application or group it names, and the
/// end of its JSON body in the user's text.
#[derive(Debug, Clone, Copy)]
struct Child {
    id: Uuid,
    parent: Uuid,
    end: u32,
}

/// Texts of a row, in the order they sit in [`NewUserRow::text`].
const BODY: usize = 0;
const EMAIL: usize = 1;
const USERNAME: usize = 2;
const EMAIL_LOWER: usize = 3;
const USERNAME_LOWER: usize = 4;
const PW_SCHEME: usize = 5;
const PW_SALT: usize = 6;
const PW_HASH: usize = 7;
const TEXTS: usize = 8;

/// A new user's `users` row with its `registrations` and `group_members` rows. An empty text
/// stands for an absent value: no stored email, username or credential is ever empty.
#[derive(Debug, Clone)]
pub struct NewUserRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub insert_instant: Millis,
    factor: u32,
    text: Box<str>,
    ends: [u32; TEXTS],
    children: Box<[Child]>,
    registrations: u16,
}

fn json<T: serde::Serialize>(t: &T) -> String {
    serde_json::to_string(t).expect("entities serialize")
}

impl NewUserRow {
    /// The row of `user`, whose ids and instants are already stamped, with `credential`.
    pub fn new(user: &User, credential: Option<&Credential>) -> Self {
        let lower = |v: &Option<String>| crate::validate::normalized(v).unwrap_or_default();
        let body = user_body(user);
        let (scheme, factor, salt, hash) = match credential {
            Some(c) => (
                c.scheme.as_str(),
                c.factor,
                c.salt.as_str(),
                c.hash.as_str(),
            ),
            None => ("", 0, "", ""),
        };
        let email_lower = lower(&user.email);
        let username_lower = lower(&user.username);
        let texts: [&str; TEXTS] = [
            &body,
            user.email.as_deref().unwrap_or_default(),
            user.username.as_deref().unwrap_or_default(),
            &email_lower,
            &username_lower,
            scheme,
            salt,
            hash,
        ];
        let mut text = String::with_capacity(
            texts.iter().map(|t| t.len()).sum::<usize>()
                + (user.registrations.len() + user.memberships.len()) * 160,
        );
        let mut ends = [0u32; TEXTS];
        for (end, t) in ends.iter_mut().zip(texts) {
            text.push_str(t);
            *end = text.len() as u32;
        }
        let mut children = Vec::with_capacity(user.registrations.len() + user.memberships.len());
        for r in &user.registrations {
            text.push_str(&json(r));
            children.push(Child {
                id: r.id.unwrap_or_default(),
                parent: r.application_id.unwrap_or_default(),
                end: text.len() as u32,
            });
        }
        for m in &user.memberships {
            text.push_str(&json(m));
            children.push(Child {
                id: m.id.unwrap_or_default(),
                parent: m.group_id.unwrap_or_default(),
                end: text.len() as u32,
            });
        }
        NewUserRow {
            id: user.id.unwrap_or_default(),
            tenant_id: user.tenant_id.unwrap_or_default(),
            insert_instant: user.insert_instant.unwrap_or(0),
            factor,
            text: text.into_boxed_str(),
            ends,
            children: children.into_boxed_slice(),
            registrations: user.registrations.len() as u16,
        }
    }

    fn text_at(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    fn some(&self, i: usize) -> Option<&str> {
        Some(self.text_at(i)).filter(|t| !t.is_empty())
    }

    /// The user's JSON body, without registrations and memberships.
    pub fn body(&self) -> &str {
        self.text_at(BODY)
    }
    /// The email and username as given, for answers and events.
    pub fn email(&self) -> Option<&str> {
        self.some(EMAIL)
    }
    pub fn username(&self) -> Option<&str> {
        self.some(USERNAME)
    }
    /// The lower-cased email and username the unique indexes hold.
    pub fn email_lower(&self) -> Option<&str> {
        self.some(EMAIL_LOWER)
    }
    pub fn username_lower(&self) -> Option<&str> {
        self.some(USERNAME_LOWER)
    }
    /// The credential's columns: scheme, factor, salt, hash.
    pub fn credential(&self) -> Option<(&str, u32, &str, &str)> {
        self.some(PW_SCHEME).map(|scheme| {
            (
                scheme,
                self.factor,
                self.text_at(PW_SALT),
                self.text_at(PW_HASH),
            )
        })
    }

    fn child_bodies(&self) -> impl Iterator<Item = (&Child, &str)> {
        let mut start = self.ends[TEXTS - 1] as usize;
        self.children.iter().map(move |c| {
            let body = &self.text[start..c.end as usize];
            start = c.end as usize;
            (c, body)
        })
    }

    /// Each registration: its id, application id and JSON body.
    pub fn registrations(&self) -> impl Iterator<Item = (Uuid, Uuid, &str)> {
        self.child_bodies()
            .take(self.registrations as usize)
            .map(|(c, b)| (c.id, c.parent, b))
    }

    /// Each membership: its id, group id and JSON body.
    pub fn memberships(&self) -> impl Iterator<Item = (Uuid, Uuid, &str)> {
        self.child_bodies()
            .skip(self.registrations as usize)
            .map(|(c, b)| (c.id, c.parent, b))
    }

    /// The same row with `credential` (a plaintext password hashed after the checks).
    pub fn with_credential(&self, c: &Credential) -> Self {
        let user: User = serde_json::from_str(self.body()).expect("stored bodies parse");
        let mut user = user;
        user.registrations = self
            .registrations()
            .map(|(_, _, b)| serde_json::from_str(b).expect("stored bodies parse"))
            .collect();
        user.memberships = self
            .memberships()
            .map(|(_, _, b)| serde_json::from_str(b).expect("stored bodies parse"))
            .collect();
        NewUserRow::new(&user, Some(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_gives_back_each_of_its_texts() {
        let app = Uuid::from_u128(7);
        let group = Uuid::from_u128(9);
        let user: User = serde_json::from_value(serde_json::json!({
            "id": Uuid::from_u128(1), "tenantId": Uuid::from_u128(2),
            "email": "Ann@Example.com", "data": {"k": 1},
            "registrations": [{"id": Uuid::from_u128(3), "applicationId": app}],
            "memberships": [{"id": Uuid::from_u128(4), "groupId": group}],
        }))
        .unwrap();
        let c = Credential {
            scheme: "bcrypt".into(),
            factor: 10,
            salt: "".into(),
            hash: "$2a$10$x".into(),
        };
        let row = NewUserRow::new(&user, Some(&c));
        assert_eq!(row.body(), user_body(&user));
        assert_eq!(row.email(), Some("Ann@Example.com"));
        assert_eq!(row.email_lower(), Some("ann@example.com"));
        assert_eq!(row.username(), None);
        assert_eq!(row.credential(), Some(("bcrypt", 10, "", "$2a$10$x")));
        let regs: Vec<_> = row.registrations().collect();
        assert_eq!(regs.len(), 1);
        assert_eq!((regs[0].0, regs[0].1), (Uuid::from_u128(3), app));
        let members: Vec<_> = row.memberships().collect();
        assert_eq!((members[0].0, members[0].1), (Uuid::from_u128(4), group));
        assert_eq!(
            serde_json::from_str::<Membership>(members[0].2)
                .unwrap()
                .group_id,
            Some(group)
        );
        let bare = NewUserRow::new(&user, None).with_credential(&c);
        assert_eq!(bare.credential(), row.credential());
        assert_eq!(bare.body(), row.body());
    }
}
