//! Absolute links into the product, for e-mails and for pages read elsewhere.

use url::Url;

/// `path` (relative: no leading `/`) under `SESAME_BASE_URL`.
pub fn absolute(base_url: &Url, path: &str) -> String {
    match base_url.join(path) {
        Ok(url) => url.into(),
        // Only a URL that cannot be a base fails to join, and settings accept http(s) URLs
        // with a host alone: this is never reached, but a link is still better than none.
        Err(_) => format!("{base_url}{path}"),
    }
}
