//! Connectors against real HTTP servers on loopback (and, for LDAP, a real slapd).

mod http;
mod ldap;
mod tls;
