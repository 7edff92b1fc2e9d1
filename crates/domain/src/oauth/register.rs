//! Self-service registration from the hosted pages: a person creates their own account for a
//! client whose application allows it (`registrationConfiguration.enabled`), through the same
//! path as the User Registration API (the tenant's password rules, unique email, the
//! application's default roles, one transaction), and is then signed in.
//!
//! An email that belongs to an account already is told as such, as FusionAuth's registration
//! form does: a registration that signs the person in at once cannot answer "taken" and "created"
//! alike without an email round trip first. An email a legacy system still holds is told
//! apart from that, because that person's account is there: they sign in, and the first login
//! moves them over.

use super::{Authorization, OAuth};
use crate::model::*;
use crate::{Error, Password};

/// What the registration form sends.
#[derive(Debug, Clone, Default)]
pub struct SelfRegistration {
    pub email: String,
    pub password: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// How a self-service registration ends.
#[derive(Debug)]
pub enum Registered {
    /// The user exists now, registered for the client's application.
    Created(Box<User>),
    /// The tenant holds an account with this email already.
    Taken,
    /// A legacy system still holds an account with this email: the person signs in instead.
    InLegacy,
}

impl OAuth {
    /// Creates the user and their registration for `auth`'s application. Field errors (keyed
    /// `email`, `password`, `firstName`, `lastName`) come back as [`Error::Invalid`]; a failing
    /// legacy system as [`Error::Legacy`], with nothing written.
    pub async fn register(
        &self,
        auth: &Authorization,
        form: SelfRegistration,
    ) -> Result<Registered, Error> {
        if !auth.config.self_registration {
            return Err(Error::NotFound);
        }
        let tenant = auth.tenant.id.expect("stored");
        let blank = |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let user = User {
            tenant_id: Some(tenant),
            email: Some(form.email.trim().to_string()),
            password: Some(Password(form.password)),
            first_name: blank(form.first_name),
            last_name: blank(form.last_name),
            ..User::default()
        };
        let registration = Registration {
            application_id: Some(auth.client_id()),
            ..Registration::default()
        };
        match self
            .sessions
            .identity()
            .register(Scope::tenant(tenant), None, Some(user), registration)
            .await
        {
            Ok((user, _)) => Ok(Registered::Created(Box::new(user))),
            Err(Error::Invalid(errors)) => {
                let duplicate = errors
                    .field_errors
                    .get("user.email")
                    .is_some_and(|e| e.iter().any(|e| e.code.starts_with("[duplicate]")));
                if !duplicate {
                    return Err(Error::Invalid(form_errors(errors)));
                }
                // The unique check and the legacy check answer the same code; which one it
                // was is whether the tenant holds the email.
                let key = crate::normalize_login_id(&form.email);
                match self.store().user_by_email(tenant, &key).await? {
                    Some(_) => Ok(Registered::Taken),
                    None => Ok(Registered::InLegacy),
                }
            }
            Err(e) => Err(e),
        }
    }
}

/// The User API's field names (`user.email`) as the form's (`email`).
fn form_errors(errors: crate::Errors) -> crate::Errors {
    let mut out = crate::Errors {
        general_errors: errors.general_errors,
        ..Default::default()
    };
    for (field, items) in errors.field_errors {
        let name = field
            .strip_prefix("user.")
            .or_else(|| field.strip_prefix("registration."))
            .unwrap_or(&field)
            .to_string();
        out.field_errors.entry(name).or_default().extend(items);
    }
    out
}
