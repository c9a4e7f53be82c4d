//! Where the Payroc API key comes from: inline, or a file read again on every token fetch so
//! a rotated Kubernetes Secret heals without a restart. [`ApiKeySource::read`] is the one
//! check of the key, at load and on every fetch.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, Serializer, ser::SerializeMap};

/// The API key read from a file is trimmed; a key longer than this is surely the wrong file.
pub(crate) const MAX_API_KEY_LEN: usize = 4096;

/// Where the API key comes from.
#[derive(Clone, Debug)]
pub enum ApiKeySource {
    Inline(SecretString),
    File(PathBuf),
}

/// Why no usable key could be read. Never shows the key, nor the file's path (the message
/// reaches `/readyz`); [`ApiKeySource::file`] gives the path to whoever logs it.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("the API key file could not be read ({0})")]
    Unreadable(std::io::Error),
    #[error("the API key is empty")]
    Empty,
    #[error("the API key is longer than {MAX_API_KEY_LEN} characters")]
    TooLong,
    #[error(
        "the API key must be printable ASCII: it holds a control character (newline, tab, ...) or a non-ASCII one"
    )]
    NotPrintable,
}

impl ApiKeySource {
    /// The current key, trimmed of surrounding whitespace (a trailing newline is normal);
    /// an empty, overlong or not printable-ASCII key is an error.
    pub fn read(&self) -> Result<SecretString, ApiKeyError> {
        let key = match self {
            Self::Inline(key) => key.expose_secret().trim().to_owned(),
            Self::File(path) => std::fs::read_to_string(path)
                .map_err(ApiKeyError::Unreadable)?
                .trim()
                .to_owned(),
        };
        let key = SecretString::from(key);
        let text = key.expose_secret();
        if text.is_empty() {
            Err(ApiKeyError::Empty)
        } else if text.len() > MAX_API_KEY_LEN {
            Err(ApiKeyError::TooLong)
        } else if !is_printable_ascii(text) {
            Err(ApiKeyError::NotPrintable)
        } else {
            Ok(key)
        }
    }

    /// The same source: the same file path, or the same literal key. An account whose source
    /// is unchanged across a reload keeps its Bearer token.
    pub fn same_as(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Inline(a), Self::Inline(b)) => a.expose_secret() == b.expose_secret(),
            (Self::File(a), Self::File(b)) => a == b,
            _ => false,
        }
    }

    /// The key file, if the key comes from one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Self::Inline(_) => None,
            Self::File(path) => Some(path),
        }
    }
}

/// Only `0x20..=0x7E`: what a key may hold once trimmed (it goes into a header as is, and a
/// newline or tab inside is a copy-paste accident, not part of the key).
pub(crate) fn is_printable_ascii(text: &str) -> bool {
    text.bytes().all(|b| (0x20..=0x7E).contains(&b))
}

/// The redacted view: an inline key shows as a marker, a file by its path.
impl Serialize for ApiKeySource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            Self::Inline(_) => map.serialize_entry("api_key", super::redact::REDACTED)?,
            Self::File(path) => map.serialize_entry("api_key_file", path)?,
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_key_file(content: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("hfb-key-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn api_key_file_is_trimmed_and_reread() {
        let path = temp_key_file("first-key\n");
        let source = ApiKeySource::File(path.clone());
        assert_eq!(source.read().unwrap().expose_secret(), "first-key");
        std::fs::write(&path, "  rotated-key \n").unwrap();
        assert_eq!(source.read().unwrap().expose_secret(), "rotated-key");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(source.read(), Err(ApiKeyError::Empty)));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(source.read(), Err(ApiKeyError::Unreadable(_))));
    }

    #[test]
    fn an_empty_inline_key_is_refused_when_read() {
        assert!(
            ApiKeySource::Inline(SecretString::from(" ".to_owned()))
                .read()
                .is_err()
        );
    }

    #[test]
    fn a_key_that_is_not_printable_ascii_is_refused_without_showing_it() {
        for bad in [
            "zqx_live\nsecond",
            "zqx_live\tthird",
            "zqx_lïve",
            "zqx\u{7f}live",
        ] {
            let inline = ApiKeySource::Inline(SecretString::from(bad.to_owned()));
            let path = temp_key_file(&format!("{bad}\n"));
            let file = ApiKeySource::File(path.clone());
            for source in [inline, file] {
                let err = source.read().unwrap_err();
                assert!(matches!(err, ApiKeyError::NotPrintable), "{bad:?}: {err}");
                assert!(!err.to_string().contains("zqx"), "{err}");
            }
            std::fs::remove_file(path).unwrap();
        }
        let spaced = ApiKeySource::Inline(SecretString::from(" a key with spaces ~ \n".to_owned()));
        assert_eq!(
            spaced.read().unwrap().expose_secret(),
            "a key with spaces ~"
        );
    }

    #[test]
    fn the_error_never_names_the_file() {
        let path = std::env::temp_dir().join(format!("hfb-missing-{}", uuid::Uuid::new_v4()));
        let source = ApiKeySource::File(path.clone());
        let err = source.read().unwrap_err().to_string();
        assert!(!err.contains("hfb-missing"), "{err}");
        assert_eq!(source.file(), Some(path.as_path()));
    }
}
