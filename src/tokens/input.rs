//! The Add Token and Update forms: what was typed (kept for redisplay), and the typed,
//! validated values that the handlers save.

use super::{expiry, networks};
use crate::forms::PostedForm;
use chrono::NaiveDateTime;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 1000;

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

/// Name, description and networks: what both forms share.
#[derive(Debug, Clone)]
pub struct TokenDetails {
    pub name: String,
    pub description: String,
    pub networks: Vec<String>,
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

    /// Validates the Add Token form.
    #[allow(clippy::result_large_err)]
    pub fn new_token(
        &self,
        form: &PostedForm,
        now: NaiveDateTime,
    ) -> Result<NewTokenInput, TokenFormErrors> {
        let mut errors = TokenFormErrors::default();
        let details = self.check_details(form, &mut errors);
        let expires_at = if form.invalid_utf8("expires_in") || form.invalid_utf8("expires_on") {
            errors.expires = Some(NOT_UTF8.into());
            None
        } else {
            expiry::parse(&self.expires_in, &self.expires_on, now)
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
        let name = self.name.trim();
        errors.name = if form.invalid_utf8("name") {
            Some(NOT_UTF8.into())
        } else if name.is_empty() {
            Some("Enter a name.".into())
        } else if name.chars().count() > MAX_NAME_CHARS {
            Some(format!("Use at most {MAX_NAME_CHARS} characters."))
        } else if name.chars().any(char::is_control) {
            Some("The name cannot contain control characters.".into())
        } else {
            None
        };
        let description = self.description.trim_end();
        errors.description = if form.invalid_utf8("description") {
            Some(NOT_UTF8.into())
        } else if description.chars().count() > MAX_DESCRIPTION_CHARS {
            Some(format!("Use at most {MAX_DESCRIPTION_CHARS} characters."))
        } else if description
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            Some("The description cannot contain control characters.".into())
        } else {
            None
        };
        let networks = if form.invalid_utf8("allowed_ips") {
            errors.allowed_ips = Some(NOT_UTF8.into());
            None
        } else {
            networks::parse_list(&self.allowed_ips)
                .map_err(|e| errors.allowed_ips = Some(e.to_string()))
                .ok()
        };
        let broad = networks.as_deref().map(networks::broad).unwrap_or_default();
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
            name: name.to_string(),
            description: description.to_string(),
            networks: networks?.iter().map(networks::display).collect(),
        })
    }
}

const NOT_UTF8: &str = "This field contains bytes that are not valid UTF-8 text.";
