//! SMTP delivery for the identity flows: the domain's [`Mailer`] over `lettre`.
//!
//! Each tenant names its own SMTP server (`tenant.emailConfiguration`, FusionAuth's names), so a
//! transport is built per send from those settings; at the volume of password resets, a fresh
//! connection per email costs nothing that matters, and a settings change applies at once.

#[cfg(feature = "testing")]
pub mod testing;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use portcullis_domain::mail::{Email, EmailSettings, Mailer};
use std::time::Duration;

/// Sends through the tenant's SMTP server.
#[derive(Debug, Default, Clone)]
pub struct Smtp;

fn transport(s: &EmailSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let b = match s.security.to_ascii_uppercase().as_str() {
        "SSL" => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host),
        "TLS" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host),
        _ => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            &s.host,
        )),
    }
    .map_err(|e| format!("the SMTP settings cannot be used: {e}"))?;
    let mut b = b.port(s.port).timeout(Some(Duration::from_secs(10)));
    if let Some(u) = s.username.as_ref().filter(|u| !u.is_empty()) {
        b = b.credentials(Credentials::new(
            u.clone(),
            s.password.clone().unwrap_or_default(),
        ));
    }
    Ok(b.build())
}

#[async_trait::async_trait]
impl Mailer for Smtp {
    async fn send(&self, s: &EmailSettings, email: &Email) -> Result<(), String> {
        let from: Mailbox = match &s.default_from_name {
            Some(n) => format!("{n} <{}>", s.default_from_email),
            None => s.default_from_email.clone(),
        }
        .parse()
        .map_err(|e| format!("the sender address is not valid: {e}"))?;
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| format!("the recipient address is not valid: {e}"))?;
        let msg = Message::builder()
            .from(from)
            .to(to)
            .subject(email.subject.clone())
            .body(email.text.clone())
            .map_err(|e| format!("the email cannot be built: {e}"))?;
        transport(s)?
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP {}:{} refused or failed: {e}", s.host, s.port))
    }
}
