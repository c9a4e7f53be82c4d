//! Where the Payroc API key comes from: inline, or a file read again on every token fetch so
//! a rotated Kubernetes Secret heals without a restart.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, Serializer, ser::SerializeMap};

/// The API key read from a file is trimmed; a key longer than this is surely the wrong file.
pub(super) const MAX_API_KEY_LEN: usize = 4096;

/// Where the API key comes from.
#[derive(Clone, Debug)]
pub enum ApiKeySource {
    Inline(SecretString),
    File(PathBuf),
}

impl ApiKeySource {
    /// The current key, trimmed of surrounding whitespace (a trailing newline is normal);
    /// an empty key is an error.
    pub fn read(&self) -> std::io::Result<SecretString> {
        let key = match self {
            Self::Inline(key) => key.expose_secret().trim().to_owned(),
            Self::File(path) => std::fs::read_to_string(path)?.trim().to_owned(),
        };
        if key.is_empty() {
            let what = match self {
                Self::Inline(_) => "the API key".to_owned(),
                Self::File(path) => path.display().to_string(),
            };
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{what} is empty"),
            ));
        }
        Ok(SecretString::from(key))
    }
}

/// The redacted view: an inline key shows as a marker, a file by its path.
impl Serialize for ApiKeySource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            Self::Inline(_) => map.serialize_entry("api_key", super::settings::REDACTED)?,
            Self::File(path) => map.serialize_entry("api_key_file", path)?,
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_file_is_trimmed_and_reread() {
        let path = std::env::temp_dir().join(format!("hfb-key-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, "first-key\n").unwrap();
        let source = ApiKeySource::File(path.clone());
        assert_eq!(source.read().unwrap().expose_secret(), "first-key");
        std::fs::write(&path, "  rotated-key \n").unwrap();
        assert_eq!(source.read().unwrap().expose_secret(), "rotated-key");
        std::fs::write(&path, "\n").unwrap();
        assert!(source.read().is_err());
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn an_empty_inline_key_is_refused_when_read() {
        assert!(
            ApiKeySource::Inline(SecretString::from(" ".to_owned()))
                .read()
                .is_err()
        );
    }
}
