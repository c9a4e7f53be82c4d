//! Path hygiene for the pass-through, checked before a `payroc_api` rule is matched: a path
//! that Payroc (or anything between) could read differently from the rule matcher is refused.
//! Dot segments and encoded separators are how `GET /payments/*` would otherwise reach
//! `/payments/../secure-tokens`; the path is forwarded exactly as written, never normalised.

/// Why a path is refused; the text is the 400's detail.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path has no segment after /payroc/v1")]
    Empty,
    #[error("the path has an empty segment (//, or a trailing /)")]
    EmptySegment,
    #[error("the path has a . or .. segment")]
    DotSegment,
    #[error("the path has a backslash")]
    Backslash,
    #[error("the path has a percent-encoded /, \\, . or NUL")]
    EncodedSeparator,
    #[error("the path has a malformed percent-encoding")]
    MalformedEscape,
    #[error("the path has a byte that is not printable ASCII")]
    NotAscii,
}

/// Checks `path` (what follows `/payroc/v1`, starting with `/`, as received: still
/// percent-encoded). Other percent-encodings (UTF-8 in an ID, say) are allowed.
pub fn check(path: &str) -> Result<(), PathError> {
    let rest = path.strip_prefix('/').ok_or(PathError::Empty)?;
    if rest.is_empty() {
        return Err(PathError::Empty);
    }
    for segment in rest.split('/') {
        check_segment(segment)?;
    }
    Ok(())
}

fn check_segment(segment: &str) -> Result<(), PathError> {
    match segment {
        "" => return Err(PathError::EmptySegment),
        "." | ".." => return Err(PathError::DotSegment),
        _ => {}
    }
    let bytes = segment.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => return Err(PathError::Backslash),
            b'%' => {
                // Two hex digits, checked as such: `from_str_radix` would also take "+1".
                let escaped = bytes
                    .get(at + 1..at + 3)
                    .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or(PathError::MalformedEscape)?;
                if matches!(escaped, b'/' | b'\\' | b'.' | 0) {
                    return Err(PathError::EncodedSeparator);
                }
                at += 3;
                continue;
            }
            byte if !byte.is_ascii_graphic() => return Err(PathError::NotAscii),
            _ => {}
        }
        at += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_and_other_escapes_pass() {
        for ok in [
            "/payments",
            "/payments/M2MJOG6O2Y",
            "/payments/M2MJOG6O2Y/refund",
            "/processing-terminals/1234001/secure-tokens/MREF_abc~1",
            "/payments/J%C3%B6rg",
            "/payments/a%20b",
            "/payments/x.y",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn each_refused_form_names_its_reason() {
        let cases = [
            ("", PathError::Empty),
            ("/", PathError::Empty),
            ("/payments/", PathError::EmptySegment),
            ("//payments", PathError::EmptySegment),
            ("/payments//1", PathError::EmptySegment),
            ("/payments/.", PathError::DotSegment),
            ("/payments/../secure-tokens", PathError::DotSegment),
            ("/./payments", PathError::DotSegment),
            ("/payments\\1", PathError::Backslash),
            (
                "/payments/%2F..%2Fsecure-tokens",
                PathError::EncodedSeparator,
            ),
            ("/payments/%2f", PathError::EncodedSeparator),
            ("/payments/%5C", PathError::EncodedSeparator),
            ("/payments/%5c", PathError::EncodedSeparator),
            ("/payments/%2E%2E", PathError::EncodedSeparator),
            ("/payments/%2e", PathError::EncodedSeparator),
            ("/payments/a%00", PathError::EncodedSeparator),
            ("/payments/%", PathError::MalformedEscape),
            ("/payments/%4", PathError::MalformedEscape),
            ("/payments/%zz", PathError::MalformedEscape),
            ("/payments/%+1", PathError::MalformedEscape),
            ("/payments/J\u{f6}rg", PathError::NotAscii),
            ("/payments/a b", PathError::NotAscii),
            ("/payments/a\tb", PathError::NotAscii),
        ];
        for (path, expected) in cases {
            assert_eq!(check(path), Err(expected), "{path:?}");
        }
    }
}
