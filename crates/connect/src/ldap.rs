//! The LDAP connector (OpenLDAP, Active Directory): search with a system account, bind as the
//! found DN to check the password, map attributes to the user.
//!
//! Each call opens its own connection (plain, LDAPS or StartTLS), binds as the system account,
//! searches `baseStructure` (subtree) for `(loginIdAttribute=<login id>)` with the login id
//! escaped as RFC 4515 asks, and — for a login — binds again on that connection as the one entry
//! found, with the typed password. No entry, or `invalidCredentials` on that bind, is "unknown
//! user or wrong password"; more than one entry, a refused system account, or an answer that is
//! not LDAP is a failure of the legacy system. An empty password never reaches a bind: many
//! servers treat a bind with a DN and no password as an anonymous bind that *succeeds*.
//!
//! The connector's JSON uses FusionAuth's LDAP names where FusionAuth has one; where FusionAuth
//! runs a lambda to map the entry, we read a declarative map:
//!
//! - `authenticationURL` — `ldap://host:389` or `ldaps://host:636`.
//! - `securityMethod` — `None`, `LDAPS` (needs an `ldaps://` URL) or `StartTLS`; by default
//!   `LDAPS` for an `ldaps://` URL and `None` otherwise.
//! - `trustedCertificate` (ours) — PEM CA certificates that replace the system's roots, for a
//!   directory with its own CA.
//! - `baseStructure` — the base DN of the search.
//! - `systemAccountDN`, `systemAccountPassword` — the account the search binds as; without a DN
//!   the search is anonymous.
//! - `loginIdAttribute` — the attribute the login id is compared with (`uid`, `mail`,
//!   `sAMAccountName`, `userPrincipalName`).
//! - `identifyingAttribute` — the user's stable identity (`entryUUID`, `objectGUID`, `uid`): a
//!   UUID string is the user's id; a 16-byte binary value (Active Directory's `objectGUID`) is
//!   read in Microsoft's byte order; anything else becomes a UUIDv5 of the connector and the value.
//! - `requestedAttributes` — extra attributes to fetch; the ones the map needs are always fetched.
//! - `attributeMap` (ours) — user field → LDAP attribute; defaults `email: mail`,
//!   `firstName: givenName`, `lastName: sn`, `fullName: cn`, `username: uid`. Fields:
//!   `email`, `username`, `firstName`, `middleName`, `lastName`, `fullName`, `mobilePhone`,
//!   `birthDate`, `imageUrl`, `timezone`, and `data.<key>` (several values become an array). A
//!   field mapped to `null` or `""` is not mapped.
//! - `roleAttribute` (ours, default `memberOf`; `""` for none) — the attribute naming the
//!   user's groups. `roleMap` (group DN or name → role, DNs compared case-insensitively) renames
//!   them; an unmapped group becomes the value of its DN's first RDN (`cn=admins,ou=groups,...` →
//!   `admins`) when `migrateUnmappedRoles` (default true), or is dropped.
//! - `applicationId` — the application whose registration carries the roles.
//! - `connectTimeout`, `readTimeout` (milliseconds; the read timeout applies to each operation).
//! - `maxResponseBytes` (ours, default 1 MiB) — the most bytes of DNs and attribute values a
//!   search may return; more is a failure. A search also ends as a failure at its second entry,
//!   whatever size limit the directory applies. One LDAP message is still read whole by the
//!   protocol library before it is counted; the call's deadline bounds how long that may take.

use crate::config::Reader;
use crate::guard::Limits;
use crate::mapping;
use ldap3::asn1::StructureTag;
use ldap3::{
    ldap_escape, LdapConnAsync, LdapConnSettings, LdapError, LdapResult, ResultEntry, Scope,
    SearchOptions,
};
use portcullis_domain::migration::connectors::{
    FailureKind, LegacyError, LegacyLogin, LegacyResult, LegacyUser,
};
use portcullis_domain::{Json, Registration, User};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// LDAP result codes we tell apart (RFC 4511, appendix A).
mod rc {
    pub const SUCCESS: u32 = 0;
    pub const TIME_LIMIT_EXCEEDED: u32 = 3;
    pub const SIZE_LIMIT_EXCEEDED: u32 = 4;
    pub const NO_SUCH_OBJECT: u32 = 32;
    pub const INVALID_CREDENTIALS: u32 = 49;
    pub const BUSY: u32 = 51;
    pub const UNAVAILABLE: u32 = 52;
}

/// A user field the attribute map can fill.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    Email,
    Username,
    FirstName,
    MiddleName,
    LastName,
    FullName,
    MobilePhone,
    BirthDate,
    ImageUrl,
    Timezone,
    Data(String),
}

impl Field {
    fn parse(name: &str) -> Option<Field> {
        Some(match name {
            "email" => Field::Email,
            "username" => Field::Username,
            "firstName" => Field::FirstName,
            "middleName" => Field::MiddleName,
            "lastName" => Field::LastName,
            "fullName" => Field::FullName,
            "mobilePhone" => Field::MobilePhone,
            "birthDate" => Field::BirthDate,
            "imageUrl" => Field::ImageUrl,
            "timezone" => Field::Timezone,
            _ => match name.strip_prefix("data.") {
                Some(k) if !k.is_empty() => Field::Data(k.to_string()),
                _ => return None,
            },
        })
    }
}

const DEFAULT_MAP: [(&str, &str); 5] = [
    ("email", "mail"),
    ("firstName", "givenName"),
    ("lastName", "sn"),
    ("fullName", "cn"),
    ("username", "uid"),
];

pub struct Ldap {
    connector_id: Uuid,
    url: String,
    /// `scheme://authority`, for messages.
    host: String,
    settings: LdapConnSettings,
    read_timeout: Duration,
    base: String,
    system_account: Option<(String, String)>,
    login_id_attribute: String,
    identifying_attribute: String,
    /// Everything a search asks for: requested, mapped, identifying and role attributes.
    attributes: Vec<String>,
    map: Vec<(Field, String)>,
    role_attribute: Option<String>,
    /// Keys normalised with [`normalize_dn`].
    role_map: HashMap<String, String>,
    migrate_unmapped_roles: bool,
    application_id: Option<Uuid>,
    /// The most attribute bytes a search may return (`maxResponseBytes`).
    max_response_bytes: usize,
}

/// An attribute description as RFC 4512 allows it: a name (`sAMAccountName`, with `;options`)
/// or a numeric OID. Checked because `loginIdAttribute` is written into the search filter.
fn valid_attribute(a: &str) -> bool {
    let mut parts = a.split(';');
    let name = parts.next().unwrap_or_default();
    let descr = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let oid = !name.is_empty()
        && name
            .split('.')
            .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    (descr || oid)
        && parts.all(|o| !o.is_empty() && o.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    None,
    Ldaps,
    StartTls,
}

impl Ldap {
    pub fn read(r: &mut Reader, connector_id: Uuid, limits: &Limits) -> Option<Self> {
        let url = r.url("authenticationURL", &["ldap", "ldaps"]);
        if let Some(u) = &url {
            if u.host_str().is_none_or(str::is_empty) {
                r.invalid(
                    "authenticationURL",
                    "[connector.authenticationURL] must name the LDAP server's host, as in ldaps://ldap.example.com:636.",
                );
            }
        }
        let ldaps_url = url.as_ref().is_some_and(|u| u.scheme() == "ldaps");
        let security = match r.opt::<String>("securityMethod").as_deref() {
            None | Some("") => Some(if ldaps_url {
                Security::Ldaps
            } else {
                Security::None
            }),
            Some("None") => Some(Security::None),
            Some("LDAPS") => Some(Security::Ldaps),
            Some("StartTLS") => Some(Security::StartTls),
            Some(other) => {
                r.invalid(
                    "securityMethod",
                    format!("[{other}] is not a security method; use None, LDAPS or StartTLS."),
                );
                None
            }
        };
        if url.is_some() {
            match security {
                Some(Security::Ldaps) if !ldaps_url => r.invalid(
                    "securityMethod",
                    "[connector.securityMethod] LDAPS needs an ldaps:// authenticationURL.",
                ),
                Some(Security::None | Security::StartTls) if ldaps_url => r.invalid(
                    "securityMethod",
                    "An ldaps:// authenticationURL needs [connector.securityMethod] LDAPS.",
                ),
                _ => {}
            }
        }
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(limits.connect_timeout)
            .set_starttls(security == Some(Security::StartTls));
        if let Some(pem) = r
            .opt::<String>("trustedCertificate")
            .filter(|s| !s.trim().is_empty())
        {
            if security == Some(Security::None) {
                r.invalid(
                    "trustedCertificate",
                    "[connector.trustedCertificate] needs [connector.securityMethod] LDAPS or StartTLS.",
                );
            }
            match tls_config(&pem) {
                Ok(c) => settings = settings.set_config(c),
                Err(message) => r.invalid("trustedCertificate", message),
            }
        }
        let base = r.string("baseStructure");
        let system_dn = r
            .opt::<String>("systemAccountDN")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let system_password = r
            .opt::<String>("systemAccountPassword")
            .filter(|s| !s.is_empty());
        let system_account = match (system_dn, system_password) {
            (Some(dn), Some(pw)) => Some((dn, pw)),
            (Some(_), None) => {
                // A DN without a password is an unauthenticated bind: the search would run
                // anonymously while the settings look authenticated.
                r.missing("systemAccountPassword");
                None
            }
            (None, Some(_)) => {
                r.missing("systemAccountDN");
                None
            }
            (None, None) => None,
        };
        let attribute = |r: &mut Reader, field: &str| {
            let a = r.string(field);
            if !a.is_empty() && !valid_attribute(&a) {
                r.invalid(
                    field,
                    format!("[connector.{field}] [{a}] is not an LDAP attribute name."),
                );
            }
            a
        };
        let login_id_attribute = attribute(r, "loginIdAttribute");
        let identifying_attribute = attribute(r, "identifyingAttribute");
        let requested: Vec<String> = r.opt("requestedAttributes").unwrap_or_default();
        for a in &requested {
            if !valid_attribute(a) {
                r.invalid(
                    "requestedAttributes",
                    format!("[connector.requestedAttributes] [{a}] is not an LDAP attribute name."),
                );
            }
        }

        let mut names: BTreeMap<String, Option<String>> = DEFAULT_MAP
            .iter()
            .map(|(f, a)| (f.to_string(), Some(a.to_string())))
            .collect();
        let given: BTreeMap<String, Option<String>> = r.opt("attributeMap").unwrap_or_default();
        names.extend(given);
        let mut map = Vec::new();
        for (name, attr) in names {
            let Some(attr) = attr.map(|a| a.trim().to_string()).filter(|a| !a.is_empty()) else {
                continue;
            };
            match Field::parse(&name) {
                None => r.invalid(
                    "attributeMap",
                    format!("[connector.attributeMap] [{name}] is not a user field; use email, username, firstName, middleName, lastName, fullName, mobilePhone, birthDate, imageUrl, timezone or data.<key>."),
                ),
                Some(_) if !valid_attribute(&attr) => r.invalid(
                    "attributeMap",
                    format!("[connector.attributeMap] [{attr}] is not an LDAP attribute name."),
                ),
                Some(f) => map.push((f, attr)),
            }
        }
        let role_attribute = r
            .opt::<String>("roleAttribute")
            .unwrap_or_else(|| "memberOf".into())
            .trim()
            .to_string();
        if !role_attribute.is_empty() && !valid_attribute(&role_attribute) {
            r.invalid(
                "roleAttribute",
                format!(
                    "[connector.roleAttribute] [{role_attribute}] is not an LDAP attribute name."
                ),
            );
        }
        let role_attribute = Some(role_attribute).filter(|a| !a.is_empty());
        let role_map: BTreeMap<String, String> = r.opt("roleMap").unwrap_or_default();

        let mut attributes: Vec<String> = Vec::new();
        let wanted = requested
            .iter()
            .chain([&identifying_attribute])
            .chain(map.iter().map(|(_, a)| a))
            .chain(role_attribute.as_ref());
        for a in wanted {
            if !a.is_empty() && !attributes.iter().any(|x| x.eq_ignore_ascii_case(a)) {
                attributes.push(a.clone());
            }
        }
        let url = url?;
        Some(Self {
            connector_id,
            host: crate::http::origin(&url),
            url: url.to_string(),
            settings,
            read_timeout: limits.read_timeout,
            base,
            system_account,
            login_id_attribute,
            identifying_attribute,
            attributes,
            map,
            role_attribute,
            role_map: role_map
                .into_iter()
                .map(|(k, v)| (normalize_dn(&k), v))
                .collect(),
            migrate_unmapped_roles: r.opt("migrateUnmappedRoles").unwrap_or(true),
            application_id: r.opt("applicationId"),
            max_response_bytes: limits.max_response_bytes,
        })
    }

    pub async fn authenticate(&self, login: &LegacyLogin<'_>) -> LegacyResult<Option<LegacyUser>> {
        if login.password.0.is_empty() || login.login_id.is_empty() {
            return Ok(None);
        }
        let mut ldap = self.connect().await?;
        let r = async {
            let Some(entry) = self.find(&mut ldap, login.login_id).await? else {
                return Ok(None);
            };
            let res = ldap
                .with_timeout(self.read_timeout)
                .simple_bind(&entry.dn, &login.password.0)
                .await
                .map_err(|e| self.failure("binding as the user", e))?;
            match res.rc {
                rc::SUCCESS => self.to_user(entry).map(Some),
                rc::INVALID_CREDENTIALS => Ok(None),
                _ => Err(self.refused("binding as the user", &res)),
            }
        }
        .await;
        close(ldap);
        r
    }

    pub async fn lookup(&self, login_id: &str) -> LegacyResult<Option<LegacyUser>> {
        if login_id.is_empty() {
            return Ok(None);
        }
        let mut ldap = self.connect().await?;
        let r = match self.find(&mut ldap, login_id).await {
            Ok(Some(entry)) => self.to_user(entry).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        close(ldap);
        r
    }

    async fn connect(&self) -> LegacyResult<ldap3::Ldap> {
        let (conn, ldap) = LdapConnAsync::with_settings(self.settings.clone(), &self.url)
            .await
            .map_err(|e| {
                let kind = match e {
                    LdapError::Timeout { .. } => FailureKind::Timeout,
                    _ => FailureKind::Unreachable,
                };
                let what = match kind {
                    FailureKind::Timeout => "timed out",
                    _ => "could not be reached",
                };
                LegacyError::new(kind, format!("{} {what}: {e}", self.host))
            })?;
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(error = %e, "LDAP connection ended");
            }
        });
        Ok(ldap)
    }

    /// Binds as the system account and finds the one entry whose login-id attribute equals
    /// `login_id`.
    async fn find(&self, ldap: &mut ldap3::Ldap, login_id: &str) -> LegacyResult<Option<Entry>> {
        if let Some((dn, password)) = &self.system_account {
            let res = ldap
                .with_timeout(self.read_timeout)
                .simple_bind(dn, password)
                .await
                .map_err(|e| self.failure("binding as the system account", e))?;
            match res.rc {
                rc::SUCCESS => {}
                rc::INVALID_CREDENTIALS => {
                    return Err(LegacyError::new(
                        FailureKind::BadAnswer,
                        format!(
                            "{} refused the system account (invalidCredentials): check the connector's systemAccountDN and systemAccountPassword",
                            self.host
                        ),
                    ))
                }
                _ => return Err(self.refused("binding as the system account", &res)),
            }
        }
        let filter = format!("({}={})", self.login_id_attribute, ldap_escape(login_id));
        let seconds = self.read_timeout.as_secs().max(1);
        // Entries are read one by one and counted here too, not only by the server's size
        // limit: a directory that ignores it cannot make a login hold more than two entries, or
        // more than `maxResponseBytes` of attribute values.
        let mut stream = ldap
            .with_timeout(self.read_timeout)
            .with_search_options(
                SearchOptions::new()
                    .sizelimit(2)
                    .timelimit(i32::try_from(seconds).unwrap_or(i32::MAX)),
            )
            .streaming_search(&self.base, Scope::Subtree, &filter, &self.attributes)
            .await
            .map_err(|e| self.failure("searching", e))?;
        let mut entries: Vec<Entry> = Vec::new();
        let mut bytes = 0usize;
        loop {
            let found = stream
                .next()
                .await
                .map_err(|e| self.failure("searching", e))?;
            let Some(e) = found else { break };
            if e.is_ref() || e.is_intermediate() {
                continue;
            }
            let entry = Entry::parse(e).ok_or_else(|| {
                LegacyError::new(
                    FailureKind::BadAnswer,
                    format!("{} answered a search entry that is not LDAP", self.host),
                )
            })?;
            bytes += entry.size();
            if bytes > self.max_response_bytes {
                return Err(LegacyError::new(
                    FailureKind::BadAnswer,
                    format!(
                        "{} answered more than {} bytes of attributes (the connector's maxResponseBytes)",
                        self.host, self.max_response_bytes
                    ),
                ));
            }
            entries.push(entry);
            if entries.len() > 1 {
                return Err(self.not_unique());
            }
        }
        let result = stream.finish().await;
        match result.rc {
            rc::SUCCESS | rc::SIZE_LIMIT_EXCEEDED => {}
            rc::NO_SUCH_OBJECT => {
                return Err(LegacyError::new(
                    FailureKind::BadAnswer,
                    format!(
                        "{} has no entry {} (the connector's baseStructure)",
                        self.host, self.base
                    ),
                ))
            }
            _ => return Err(self.refused("searching", &result)),
        }
        if result.rc == rc::SIZE_LIMIT_EXCEEDED {
            return Err(self.not_unique());
        }
        Ok(entries.into_iter().next())
    }

    fn not_unique(&self) -> LegacyError {
        LegacyError::new(
            FailureKind::BadAnswer,
            format!(
                "more than one entry under {} has this {}; the connector's loginIdAttribute must be unique",
                self.base, self.login_id_attribute
            ),
        )
    }

    /// A failed operation on an open connection.
    fn failure(&self, doing: &str, e: LdapError) -> LegacyError {
        match e {
            LdapError::Timeout { .. } => LegacyError::new(
                FailureKind::Timeout,
                format!("{} timed out {doing}", self.host),
            ),
            LdapError::LdapResult { result } => self.refused(doing, &result),
            // The connection ended or carried something the codec could not read.
            e => LegacyError::new(
                FailureKind::BadAnswer,
                format!("{} answered something unreadable {doing}: {e}", self.host),
            ),
        }
    }

    /// A result code that is neither success nor the answer we expect.
    fn refused(&self, doing: &str, res: &LdapResult) -> LegacyError {
        let kind = match res.rc {
            rc::BUSY | rc::UNAVAILABLE => FailureKind::Unreachable,
            rc::TIME_LIMIT_EXCEEDED => FailureKind::Timeout,
            _ => FailureKind::BadAnswer,
        };
        let text = if res.text.is_empty() {
            String::new()
        } else {
            format!(" ({})", res.text)
        };
        LegacyError::new(
            kind,
            format!(
                "{} answered result code {} {doing}{text}",
                self.host, res.rc
            ),
        )
    }

    /// The user's id from the identifying attribute.
    fn identity(&self, e: &Entry) -> LegacyResult<Uuid> {
        let Some(value) = e.first(&self.identifying_attribute) else {
            return Err(LegacyError::new(
                FailureKind::BadAnswer,
                format!(
                    "the entry {} has no {} (the connector's identifyingAttribute)",
                    e.dn, self.identifying_attribute
                ),
            ));
        };
        let text = std::str::from_utf8(value).ok();
        if let Some(u) = text.and_then(|s| Uuid::parse_str(s.trim()).ok()) {
            return Ok(u);
        }
        if let Ok(bytes) = <[u8; 16]>::try_from(value) {
            if text.is_none()
                || self
                    .identifying_attribute
                    .eq_ignore_ascii_case("objectGUID")
            {
                return Ok(guid_to_uuid(bytes));
            }
        }
        let key = match text {
            Some(s) => s.to_string(),
            None => value.iter().map(|b| format!("{b:02x}")).collect(),
        };
        Ok(mapping::stable_id(self.connector_id, &format!("id:{key}")))
    }

    fn to_user(&self, e: Entry) -> LegacyResult<LegacyUser> {
        let mut user = User {
            id: Some(self.identity(&e)?),
            active: true,
            ..User::default()
        };
        let mut data = Json::new();
        for (field, attr) in &self.map {
            let mut values = e.strings(attr);
            if values.is_empty() {
                continue;
            }
            let first = Some(values[0].clone());
            match field {
                Field::Email => user.email = first,
                Field::Username => user.username = first,
                Field::FirstName => user.first_name = first,
                Field::MiddleName => user.middle_name = first,
                Field::LastName => user.last_name = first,
                Field::FullName => user.full_name = first,
                Field::MobilePhone => user.mobile_phone = first,
                Field::BirthDate => user.birth_date = first,
                Field::ImageUrl => user.image_url = first,
                Field::Timezone => user.timezone = first,
                Field::Data(key) => {
                    let v = if values.len() == 1 {
                        Value::String(values.remove(0))
                    } else {
                        json!(values)
                    };
                    data.insert(key.clone(), v);
                }
            }
        }
        user.data = data;
        if let (Some(app), Some(attr)) = (self.application_id, &self.role_attribute) {
            user.registrations.push(Registration {
                application_id: Some(app),
                roles: self.roles(&e.strings(attr)),
                ..Registration::default()
            });
        }
        mapping::finish(self.connector_id, user, Vec::new())
    }

    /// Group DNs (or names) to role names: mapped ones renamed, unmapped ones kept as their
    /// first RDN's value when `migrateUnmappedRoles`.
    fn roles(&self, groups: &[String]) -> Vec<String> {
        let mut roles: Vec<String> = groups
            .iter()
            .filter_map(|g| match self.role_map.get(&normalize_dn(g)) {
                Some(role) => Some(role.clone()),
                None if self.migrate_unmapped_roles => Some(first_rdn_value(g)),
                None => None,
            })
            .filter(|r| !r.is_empty())
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }
}

/// Ends a connection without waiting for it.
fn close(mut ldap: ldap3::Ldap) {
    tokio::spawn(async move {
        let _ = ldap.unbind().await;
    });
}

/// A rustls configuration that trusts only the PEM certificates given.
fn tls_config(pem: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("[connector.trustedCertificate] is not PEM: {e}"))?;
        roots.add(cert).map_err(|e| {
            format!("[connector.trustedCertificate] holds a certificate that cannot be used: {e}")
        })?;
    }
    if roots.is_empty() {
        return Err("[connector.trustedCertificate] must hold PEM certificates.".into());
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("The TLS settings cannot be used: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Active Directory's `objectGUID`: 16 bytes whose first three fields are little-endian.
pub fn guid_to_uuid(bytes: [u8; 16]) -> Uuid {
    Uuid::from_bytes_le(bytes)
}

/// A DN in a form to compare: lower case, without spaces around `,` and `=`.
fn normalize_dn(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| rdn.split('=').map(str::trim).collect::<Vec<_>>().join("="))
        .collect::<Vec<_>>()
        .join(",")
        .to_lowercase()
}

/// The value of a DN's first RDN, unescaped (`cn=Sales\, EMEA,ou=groups` → `Sales, EMEA`); a
/// value that is not a DN is returned as it is.
fn first_rdn_value(dn: &str) -> String {
    let Some((_, rest)) = dn.split_once('=') else {
        return dn.trim().to_string();
    };
    let mut out = Vec::new();
    let mut bytes = rest.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b',' | b'+' => break,
            b'\\' => {
                let Some(c) = bytes.next() else { break };
                let hex = |c: u8| (c as char).to_digit(16);
                match hex(c) {
                    Some(h) => {
                        let mut peek = bytes.clone();
                        match peek.next().and_then(hex) {
                            Some(l) => {
                                out.push((h * 16 + l) as u8);
                                bytes = peek;
                            }
                            None => out.push(c),
                        }
                    }
                    None => out.push(c),
                }
            }
            b => out.push(b),
        }
    }
    String::from_utf8_lossy(&out).trim().to_string()
}

/// A search entry: its DN and its attributes' raw values, by lower-case attribute name.
struct Entry {
    dn: String,
    attrs: HashMap<String, Vec<Vec<u8>>>,
}

impl Entry {
    /// The bytes of its DN, attribute names and values.
    fn size(&self) -> usize {
        self.dn.len()
            + self
                .attrs
                .iter()
                .map(|(k, vs)| k.len() + vs.iter().map(Vec::len).sum::<usize>())
                .sum::<usize>()
    }

    /// Reads a SearchResultEntry without panicking on a malformed one (ldap3's own
    /// `SearchEntry::construct` panics).
    fn parse(re: ResultEntry) -> Option<Entry> {
        let tag: StructureTag = re.0;
        let mut parts = tag.match_id(4)?.expect_constructed()?.into_iter();
        let dn = String::from_utf8(parts.next()?.expect_primitive()?).ok()?;
        let mut attrs: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
        for attr in parts.next()?.expect_constructed()? {
            let mut pieces = attr.expect_constructed()?.into_iter();
            let name = String::from_utf8(pieces.next()?.expect_primitive()?).ok()?;
            let values = pieces
                .next()?
                .expect_constructed()?
                .into_iter()
                .map(StructureTag::expect_primitive)
                .collect::<Option<Vec<_>>>()?;
            attrs
                .entry(name.to_ascii_lowercase())
                .or_default()
                .extend(values);
        }
        Some(Entry { dn, attrs })
    }

    fn first(&self, attr: &str) -> Option<&[u8]> {
        self.attrs
            .get(&attr.to_ascii_lowercase())
            .and_then(|v| v.first())
            .map(Vec::as_slice)
    }

    /// The attribute's values that are text, trimmed, without empty ones.
    fn strings(&self, attr: &str) -> Vec<String> {
        self.attrs
            .get(&attr.to_ascii_lowercase())
            .map(|vs| {
                vs.iter()
                    .filter_map(|v| std::str::from_utf8(v).ok())
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_guid_is_read_in_microsoft_byte_order() {
        let stored = [
            0x04, 0x03, 0x02, 0x01, 0x06, 0x05, 0x08, 0x07, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
            0x0f, 0x10,
        ];
        assert_eq!(
            guid_to_uuid(stored).to_string(),
            "01020304-0506-0708-090a-0b0c0d0e0f10"
        );
    }

    #[test]
    fn attribute_names_are_names_or_oids() {
        for ok in [
            "uid",
            "sAMAccountName",
            "ms-DS-ConsistencyGuid",
            "cn;lang-en",
            "2.5.4.3",
        ] {
            assert!(valid_attribute(ok), "{ok}");
        }
        for bad in ["", "uid=*", "(uid", "1uid", "2..5", "cn;", "mail)(uid"] {
            assert!(!valid_attribute(bad), "{bad}");
        }
    }

    #[test]
    fn group_dns_become_role_names() {
        assert_eq!(
            first_rdn_value("cn=admins,ou=groups,dc=example,dc=org"),
            "admins"
        );
        assert_eq!(first_rdn_value("CN=Sales\\, EMEA,OU=Groups"), "Sales, EMEA");
        assert_eq!(first_rdn_value("cn=caf\\c3\\a9,ou=g"), "café");
        assert_eq!(first_rdn_value("editors"), "editors");
        assert_eq!(
            normalize_dn("CN=Admins, OU=Groups,dc = example"),
            "cn=admins,ou=groups,dc=example"
        );
    }
}
