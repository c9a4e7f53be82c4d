//! `check-config` output never shows a credential carried inside a URL.

use super::raw_with_terminals;
use crate::config::redact::redacted_url;

#[test]
fn url_user_info_query_values_and_fragment_are_redacted() {
    let url = |text: &str| redacted_url(&text.parse().unwrap());
    assert_eq!(
        url("https://user:pw@identity.example.com/authorize?api_key=abc&x=1"),
        "https://[redacted]@identity.example.com/authorize?api_key=[redacted]&x=[redacted]"
    );
    assert_eq!(
        url("https://only-user@api.example.com:8443/v1?sk_live_bare#frag"),
        "https://[redacted]@api.example.com:8443/v1?[redacted]#[redacted]"
    );
    assert_eq!(
        url("https://api.example.com/v1"),
        "https://api.example.com/v1"
    );
}

#[test]
fn redacted_output_hides_credentials_in_every_url() {
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.payroc.identity_url =
        Some("https://id-user:id-pass@identity.example.com/authorize?api_key=id-query".into());
    raw.payroc.api_url =
        Some("https://api-user:api-pass@api.example.com/v1?token=api-query".into());
    raw.payroc.script_url =
        Some("https://cdn-user:cdn-pass@cdn.example.com/hf.js?sig=cdn-query&v=2".into());
    let shown = raw.resolve(true).unwrap().redacted();
    for secret in ["id-", "api-user", "api-pass", "api-query", "cdn-"] {
        assert!(!shown.contains(secret), "{secret} shown in:\n{shown}");
    }
    for kept in [
        "identity.example.com/authorize?api_key=[redacted]",
        "https://[redacted]@api.example.com/v1?token=[redacted]",
        "cdn.example.com/hf.js?sig=[redacted]&v=[redacted]",
    ] {
        assert!(shown.contains(kept), "{kept} not in:\n{shown}");
    }
    // The output still parses as the TOML it claims to be.
    toml::from_str::<toml::Table>(&shown).unwrap();
}
