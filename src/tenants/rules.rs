//! A service's `payroc_api` rules: `METHOD /path`, where a `*` segment matches exactly one
//! non-empty segment and a final `**` one or more. Parsed (and refused) when the tenants file
//! is loaded; matched against paths that already passed the proxy's hygiene checks.

use std::fmt;

/// Methods a rule may name.
const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `*`: exactly one non-empty segment.
    One,
    /// `**`, last only: one or more segments.
    Rest,
}

/// One parsed rule; `Display` gives it back as written (the `rule` metrics label).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    method: String,
    segments: Vec<Segment>,
    text: String,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Rule {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (method, path) = text
            .split_once(' ')
            .ok_or_else(|| format!("{text:?} is not \"METHOD /path\""))?;
        if !METHODS.contains(&method) {
            return Err(format!(
                "{text:?}: the method must be one of {}",
                METHODS.join(", ")
            ));
        }
        let rest = path
            .strip_prefix('/')
            .ok_or_else(|| format!("{text:?}: the path must start with /"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (index, part) in parts.iter().enumerate() {
            let segment = match *part {
                "*" => Segment::One,
                "**" if index + 1 == parts.len() => Segment::Rest,
                "**" => return Err(format!("{text:?}: ** may only be the last segment")),
                literal if is_literal(literal) => Segment::Literal(literal.to_owned()),
                _ => {
                    return Err(format!(
                        "{text:?}: segment {part:?} must be *, a final **, or letters, digits and - _ ~ (not . or ..)"
                    ));
                }
            };
            segments.push(segment);
        }
        Ok(Self {
            method: method.to_owned(),
            segments,
            text: text.to_owned(),
        })
    }

    /// Whether `method` and `path` (starting with `/`, segments already checked) match.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if method != self.method {
            return false;
        }
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let mut parts = parts.iter();
        for segment in &self.segments {
            match segment {
                Segment::Rest => {
                    let rest: Vec<&&str> = parts.collect();
                    return !rest.is_empty() && rest.iter().all(|p| !p.is_empty());
                }
                Segment::One => match parts.next() {
                    Some(part) if !part.is_empty() => {}
                    _ => return false,
                },
                Segment::Literal(literal) => match parts.next() {
                    Some(part) if part == literal => {}
                    _ => return false,
                },
            }
        }
        parts.next().is_none()
    }
}

fn is_literal(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> Rule {
        Rule::parse(text).unwrap()
    }

    #[test]
    fn literal_and_one_segment_wildcards() {
        let r = rule("GET /payments/*");
        assert!(r.matches("GET", "/payments/123"));
        assert!(!r.matches("GET", "/payments"));
        assert!(!r.matches("GET", "/payments/"));
        assert!(!r.matches("GET", "/payments/1/refund"));
        assert!(!r.matches("POST", "/payments/123"));
        let r = rule("POST /payments/*/refund");
        assert!(r.matches("POST", "/payments/9/refund"));
        assert!(!r.matches("POST", "/payments/9/refunds"));
        assert!(rule("POST /payments").matches("POST", "/payments"));
        assert!(!rule("POST /payments").matches("POST", "/payments/x"));
    }

    #[test]
    fn final_double_star_matches_one_or_more() {
        let r = rule("GET /payments/**");
        assert!(r.matches("GET", "/payments/1"));
        assert!(r.matches("GET", "/payments/1/refunds/2"));
        assert!(!r.matches("GET", "/payments"));
        assert!(!r.matches("GET", "/payments/"));
        assert!(!r.matches("GET", "/payments/1//2"));
    }

    #[test]
    fn malformed_rules_are_refused() {
        for bad in [
            "GET",
            "get /payments",
            "TRACE /payments",
            "GET payments",
            "GET /payments/**/x",
            "GET /a//b",
            "GET /a/../b",
            "GET /a/%2F",
            "GET  /a",
        ] {
            assert!(Rule::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(rule("GET /payments/*").to_string(), "GET /payments/*");
    }
}
