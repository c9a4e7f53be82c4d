//! Apple Pay on the web: which validation URLs the broker passes to Payroc. Safari hands the
//! page Apple's `validationURL`; a page (or anyone posing as one) could send any URL instead,
//! and Payroc would then call it with the merchant's identity. So only Apple's published
//! merchant-validation hosts pass, over `https` on port 443, with no user info, written
//! plainly (what is checked is exactly what is forwarded). A pure policy, tested beside it.

use url::{Host, Url};

/// Longest validation URL accepted; Apple's are well under 100 characters.
pub const MAX_VALIDATION_URL_CHARS: usize = 2048;

/// Apple's merchant-validation hosts ("Setting up your server", Apple Pay on the Web): global,
/// China, their regional pods, and the sandbox hosts.
const APPLE_HOSTS: [&str; 20] = [
    "apple-pay-gateway.apple.com",
    "cn-apple-pay-gateway.apple.com",
    "apple-pay-gateway-nc-pod1.apple.com",
    "apple-pay-gateway-nc-pod2.apple.com",
    "apple-pay-gateway-nc-pod3.apple.com",
    "apple-pay-gateway-nc-pod4.apple.com",
    "apple-pay-gateway-nc-pod5.apple.com",
    "apple-pay-gateway-pr-pod1.apple.com",
    "apple-pay-gateway-pr-pod2.apple.com",
    "apple-pay-gateway-pr-pod3.apple.com",
    "apple-pay-gateway-pr-pod4.apple.com",
    "apple-pay-gateway-pr-pod5.apple.com",
    "cn-apple-pay-gateway-sh-pod1.apple.com",
    "cn-apple-pay-gateway-sh-pod2.apple.com",
    "cn-apple-pay-gateway-sh-pod3.apple.com",
    "cn-apple-pay-gateway-tj-pod1.apple.com",
    "cn-apple-pay-gateway-tj-pod2.apple.com",
    "cn-apple-pay-gateway-tj-pod3.apple.com",
    "apple-pay-gateway-cert.apple.com",
    "cn-apple-pay-gateway-cert.apple.com",
];

/// Why a validation URL is refused; the text is the 400's detail for `validationUrl`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidationUrlError {
    #[error("must be at most {MAX_VALIDATION_URL_CHARS} characters")]
    TooLong,
    #[error(
        "must be an absolute URL written plainly (printable ASCII, no backslash, lower-case host, a path)"
    )]
    Malformed,
    #[error("must use https")]
    NotHttps,
    #[error("must not carry user info")]
    UserInfo,
    #[error("must use port 443")]
    OtherPort,
    #[error(
        "must be on one of Apple's merchant-validation hosts (apple-pay-gateway.apple.com, ...)"
    )]
    NotApple,
}

/// Checks `raw` as the page sent it; `Ok` means it may be forwarded exactly as written.
pub fn check_validation_url(raw: &str) -> Result<(), ValidationUrlError> {
    if raw.len() > MAX_VALIDATION_URL_CHARS {
        return Err(ValidationUrlError::TooLong);
    }
    // Other parsers (Payroc's, Apple's) must not read it differently from `url`.
    if !raw.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
        return Err(ValidationUrlError::Malformed);
    }
    let url = Url::parse(raw).map_err(|_| ValidationUrlError::Malformed)?;
    if url.scheme() != "https" {
        return Err(ValidationUrlError::NotHttps);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ValidationUrlError::UserInfo);
    }
    // `url` drops the scheme's default port: any port left is another one.
    if url.port().is_some() {
        return Err(ValidationUrlError::OtherPort);
    }
    match url.host() {
        Some(Host::Domain(host)) if APPLE_HOSTS.contains(&host) => {}
        _ => return Err(ValidationUrlError::NotApple),
    }
    if is_plain(raw, &url) {
        Ok(())
    } else {
        Err(ValidationUrlError::Malformed)
    }
}

/// `raw` is the URL's own serialisation, give or take an explicit `:443`: no dot segments,
/// escapes or case that a normaliser would change.
fn is_plain(raw: &str, url: &Url) -> bool {
    let canonical = url.as_str();
    let host = url.host_str().unwrap_or_default();
    let with_port = canonical.replacen(&format!("//{host}/"), &format!("//{host}:443/"), 1);
    raw == canonical || raw == with_port
}

#[cfg(test)]
mod tests {
    use super::*;

    const GLOBAL: &str = "https://apple-pay-gateway.apple.com/paymentservices/startSession";

    #[test]
    fn apples_hosts_pass_as_written() {
        for ok in [
            GLOBAL,
            "https://apple-pay-gateway.apple.com:443/paymentservices/startSession",
            "https://cn-apple-pay-gateway.apple.com/paymentservices/paymentSession",
            "https://apple-pay-gateway-nc-pod5.apple.com/paymentservices/startSession",
            "https://apple-pay-gateway-pr-pod1.apple.com/paymentservices/startSession",
            "https://cn-apple-pay-gateway-sh-pod3.apple.com/paymentservices/startSession",
            "https://cn-apple-pay-gateway-tj-pod2.apple.com/paymentservices/startSession",
            "https://apple-pay-gateway-cert.apple.com/paymentservices/startSession",
            "https://cn-apple-pay-gateway-cert.apple.com/paymentservices/startSession",
        ] {
            assert_eq!(check_validation_url(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn every_refused_form_names_its_reason() {
        use ValidationUrlError as E;
        let long = format!("{GLOBAL}?{}", "a".repeat(MAX_VALIDATION_URL_CHARS));
        let cases = [
            (long.as_str(), E::TooLong),
            (
                "http://apple-pay-gateway.apple.com/paymentservices/startSession",
                E::NotHttps,
            ),
            ("ftp://apple-pay-gateway.apple.com/x", E::NotHttps),
            (
                "https://evil.example/paymentservices/startSession",
                E::NotApple,
            ),
            (
                "https://apple-pay-gateway.apple.com.evil.example/x",
                E::NotApple,
            ),
            ("https://evil-apple-pay-gateway.apple.com/x", E::NotApple),
            ("https://apple-pay-gateway-nc-pod6.apple.com/x", E::NotApple),
            ("https://apple.com/x", E::NotApple),
            ("https://17.0.0.1/x", E::NotApple),
            ("https://apple-pay-gateway.apple.com./x", E::NotApple),
            ("https://user@apple-pay-gateway.apple.com/x", E::UserInfo),
            ("https://user:pw@apple-pay-gateway.apple.com/x", E::UserInfo),
            ("https://apple-pay-gateway.apple.com:8443/x", E::OtherPort),
            ("https://apple-pay-gateway.apple.com:80/x", E::OtherPort),
            (
                "https://apple-pay-gateway.apple.com\\@evil.example/x",
                E::Malformed,
            ),
            ("https://apple-pay-gateway.apple.com/a b", E::Malformed),
            ("https://APPLE-PAY-GATEWAY.apple.com/x", E::Malformed),
            ("https://apple-pay-gateway.apple.com/a/../x", E::Malformed),
            ("https://apple-pay-gateway.apple.com", E::Malformed),
            ("apple-pay-gateway.apple.com/x", E::Malformed),
            ("", E::Malformed),
        ];
        for (url, expected) in cases {
            assert_eq!(check_validation_url(url), Err(expected), "{url}");
        }
    }
}
