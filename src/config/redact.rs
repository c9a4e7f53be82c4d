//! The redacted view's markers: secrets, and the credentials a URL can carry (user info,
//! query values, a fragment), so `check-config` output can be pasted into a ticket.

use secrecy::SecretString;
use serde::Serializer;
use url::{Position, Url};

/// What a secret shows as in the redacted view.
pub(super) const REDACTED: &str = "[redacted]";

pub(super) fn list<S: Serializer>(keys: &[SecretString], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(keys.iter().map(|_| REDACTED))
}

pub(super) fn url<S: Serializer>(url: &Url, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redacted_url(url))
}

/// `url` with its user info replaced by one marker and every query value (or bare query
/// item) and the fragment by markers; query names stay, so the shape remains readable:
/// `https://u:p@host/x?key=abc&v` → `https://[redacted]@host/x?key=[redacted]&[redacted]`.
pub(super) fn redacted_url(url: &Url) -> String {
    let mut shown = url[..Position::BeforeUsername].to_owned();
    if !url.username().is_empty() || url.password().is_some() {
        shown.push_str(REDACTED);
        shown.push('@');
    }
    shown.push_str(&url[Position::BeforeHost..Position::AfterPath]);
    if let Some(query) = url.query() {
        shown.push('?');
        let items: Vec<String> = query
            .split('&')
            .map(|item| match item.split_once('=') {
                Some((name, _)) => format!("{name}={REDACTED}"),
                None if item.is_empty() => String::new(),
                None => REDACTED.to_owned(),
            })
            .collect();
        shown.push_str(&items.join("&"));
    }
    if url.fragment().is_some() {
        shown.push('#');
        shown.push_str(REDACTED);
    }
    shown
}

// serde's `serialize_with` hands the field itself: `&Option<Url>`.
#[allow(clippy::ref_option)]
pub(super) fn optional_url<S: Serializer>(
    url: &Option<Url>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serializer.serialize_str(&redacted_url(url)),
        None => serializer.serialize_none(),
    }
}
