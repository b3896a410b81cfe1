//! The Add Token and Update forms: what was typed (kept for redisplay), and the typed,
//! validated values that the handlers pass to the token service.

use crate::domain::networks;
use crate::domain::token::{check_description, TokenDetails, TokenName};
use crate::domain::AllowedNetworks;
use crate::forms::PostedForm;
use crate::tokens::expiry;
use chrono::NaiveDateTime;

/// The form as typed, to show it again beside its errors.
#[derive(Debug, Clone, Default)]
pub struct TokenFormValues {
    pub name: String,
    pub expires_in: String,
    pub expires_on: String,
    pub description: String,
    pub allowed_ips: String,
    /// Renew: the id of the token being renewed, and what to do with it
    /// (`now`, `first_use` or `keep`).
    pub renews: String,
    pub revoke_old: String,
}

#[derive(Debug, Clone, Default)]
pub struct TokenFormErrors {
    pub form: Option<String>,
    pub name: Option<String>,
    pub expires: Option<String>,
    pub description: Option<String>,
    pub allowed_ips: Option<String>,
    /// The networks include broad ones: the form offers `confirm_broad_networks`.
    pub confirm_broad: bool,
}

/// The checkbox that confirms networks broader than an IPv4 /8 or an IPv6 /32.
pub const CONFIRM_BROAD_FIELD: &str = "confirm_broad_networks";

impl TokenFormErrors {
    pub fn is_empty(&self) -> bool {
        self.form.is_none()
            && self.name.is_none()
            && self.expires.is_none()
            && self.description.is_none()
            && self.allowed_ips.is_none()
    }
}

#[derive(Debug, Clone)]
pub struct NewTokenInput {
    pub details: TokenDetails,
    pub expires_at: NaiveDateTime,
}

impl TokenFormValues {
    pub fn from_posted(form: &PostedForm) -> Self {
        Self {
            name: form.get("name").to_string(),
            expires_in: form.get("expires_in").to_string(),
            expires_on: form.get("expires_on").to_string(),
            description: form.get("description").to_string(),
            allowed_ips: form.get("allowed_ips").to_string(),
            renews: form.get("renews").trim().to_string(),
            revoke_old: form.get("revoke_old").trim().to_string(),
        }
    }

    /// Validates the Update form's fields. (The errors are large, but a form is checked
    /// once per request, so moving them costs nothing that matters.)
    #[allow(clippy::result_large_err)]
    pub fn details(&self, form: &PostedForm) -> Result<TokenDetails, TokenFormErrors> {
        let mut errors = TokenFormErrors::default();
        let details = self.check_details(form, &mut errors);
        match details {
            Some(details) if errors.is_empty() => Ok(details),
            _ => Err(errors),
        }
    }

    /// Validates the Add Token form, within the account's longest lifetime (`max_days`).
    #[allow(clippy::result_large_err)]
    pub fn new_token(
        &self,
        form: &PostedForm,
        now: NaiveDateTime,
        max_days: i64,
    ) -> Result<NewTokenInput, TokenFormErrors> {
        let mut errors = TokenFormErrors::default();
        let details = self.check_details(form, &mut errors);
        let expires_at = if form.invalid_utf8("expires_in") || form.invalid_utf8("expires_on") {
            errors.expires = Some(NOT_UTF8.into());
            None
        } else {
            expiry::parse(&self.expires_in, &self.expires_on, now, max_days)
                .map_err(|e| errors.expires = Some(e.to_string()))
                .ok()
        };
        match (details, expires_at) {
            (Some(details), Some(expires_at)) if errors.is_empty() => Ok(NewTokenInput {
                details,
                expires_at,
            }),
            _ => Err(errors),
        }
    }

    fn check_details(
        &self,
        form: &PostedForm,
        errors: &mut TokenFormErrors,
    ) -> Option<TokenDetails> {
        if form.too_large {
            errors.form = Some(format!(
                "The form was larger than {} KiB and was not saved.",
                crate::forms::MAX_FORM_BYTES / 1024
            ));
            return None;
        }
        let name = if form.invalid_utf8("name") {
            Err(NOT_UTF8.to_string())
        } else {
            TokenName::parse(&self.name)
        };
        let description = if form.invalid_utf8("description") {
            Err(NOT_UTF8.to_string())
        } else {
            check_description(&self.description)
        };
        let networks = if form.invalid_utf8("allowed_ips") {
            Err(NOT_UTF8.to_string())
        } else {
            AllowedNetworks::parse(&self.allowed_ips).map_err(|e| e.to_string())
        };
        errors.name = name.as_ref().err().cloned();
        errors.description = description.as_ref().err().cloned();
        errors.allowed_ips = networks.as_ref().err().cloned();
        let broad = networks
            .as_ref()
            .map(AllowedNetworks::broad)
            .unwrap_or_default();
        if !broad.is_empty() && form.get(CONFIRM_BROAD_FIELD) != "1" {
            let shown: Vec<String> = broad.iter().map(networks::display).collect();
            errors.allowed_ips = Some(format!(
                "{} {} broader than an IPv4 /8 or an IPv6 /32: millions of addresses could use \
                 this token. Narrow {}, or confirm below.",
                shown.join(", "),
                if shown.len() == 1 { "is" } else { "are" },
                if shown.len() == 1 { "it" } else { "them" },
            ));
            errors.confirm_broad = true;
        }
        Some(TokenDetails {
            name: name.ok()?,
            description: description.ok()?,
            networks: networks.ok()?,
        })
    }
}

const NOT_UTF8: &str = "This field contains bytes that are not valid UTF-8 text.";
