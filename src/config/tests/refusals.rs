//! Settings that would start but misbehave are refused, in one line naming the key.

use secrecy::SecretString;

use super::raw_with_terminals;
use crate::config::RawSettings;

fn refusal(raw: RawSettings) -> String {
    raw.resolve(true).unwrap_err().to_string()
}

#[test]
fn an_api_key_that_is_not_printable_ascii_is_refused_without_showing_it() {
    for bad in ["zqx-key\nsecond-line", "zqx\tkey", "zqx-kéy", "zqx\u{0}key"] {
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.payroc.api_key = Some(SecretString::from(bad.to_owned()));
        let err = refusal(raw);
        assert!(err.contains("(BROKER__PAYROC__API_KEY)"), "{bad:?}: {err}");
        assert!(!err.contains("zqx"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.payroc.api_key = Some(SecretString::from(
        "  surrounding-whitespace-is-fine\n".to_owned(),
    ));
    assert!(raw.resolve(true).is_ok());
}

#[test]
fn an_api_key_file_whose_content_is_not_printable_ascii_is_refused() {
    let path = std::env::temp_dir().join(format!("hfb-key-{}", uuid::Uuid::new_v4()));
    std::fs::write(&path, "zqx-first\nzqx-second\n").unwrap();
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.payroc.api_key = None;
    raw.payroc.api_key_file = Some(path.clone());
    let err = refusal(raw);
    std::fs::remove_file(path).unwrap();
    assert!(err.contains("BROKER__PAYROC__API_KEY_FILE"), "{err}");
    assert!(!err.contains("zqx"), "{err}");
}

#[test]
fn a_caller_key_that_is_not_printable_ascii_is_refused_without_showing_it() {
    for bad in [
        "zqx-caller-key-01\n23456",
        "zqx-caller-key\t0123",
        "zqx-caller-kéy-0123",
    ] {
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.callers.keys = vec!["a-fine-caller-key-0123".into(), bad.into()];
        let err = refusal(raw);
        assert!(err.contains("BROKER__CALLERS__KEYS"), "{bad:?}: {err}");
        assert!(err.contains("#2"), "{err}");
        assert!(!err.contains("zqx") && !err.contains("fine"), "{err}");
    }
}

#[test]
fn metrics_listen_on_the_public_port_is_refused() {
    for (listen, metrics) in [
        ("0.0.0.0:8080", "0.0.0.0:8080"),
        ("0.0.0.0:8080", "127.0.0.1:8080"),
        ("127.0.0.1:8080", "0.0.0.0:8080"),
        ("10.0.0.5:8080", "10.0.0.5:8080"),
        ("[::]:8080", "127.0.0.1:8080"),
    ] {
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.server.listen = listen.parse().unwrap();
        raw.server.metrics_listen = Some(metrics.parse().unwrap());
        let err = refusal(raw);
        assert!(
            err.contains("BROKER__SERVER__METRICS_LISTEN"),
            "{listen} {metrics}: {err}"
        );
    }
    for (listen, metrics) in [
        ("0.0.0.0:8080", "0.0.0.0:9090"),
        ("127.0.0.1:8080", "10.0.0.5:8080"),
        ("127.0.0.1:0", "127.0.0.1:0"),
        ("0.0.0.0:0", "0.0.0.0:0"),
    ] {
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.server.listen = listen.parse().unwrap();
        raw.server.metrics_listen = Some(metrics.parse().unwrap());
        assert!(raw.resolve(true).is_ok(), "{listen} {metrics}");
    }
}

#[test]
fn a_terminal_listed_twice_is_refused() {
    let err = refusal(raw_with_terminals(&["1234001", "1234002", "1234001"]));
    assert!(err.contains("BROKER__PAYROC__TERMINALS"), "{err}");
    assert!(err.contains("\"1234001\""), "{err}");
    assert!(
        raw_with_terminals(&["1234001", "1234002"])
            .resolve(true)
            .is_ok()
    );
}

#[test]
fn a_trusted_proxy_range_of_every_address_needs_allow_any_proxy() {
    for any in ["0.0.0.0/0", "::/0"] {
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.rate_limit.trusted_proxies = vec!["10.0.0.0/8".into(), any.into()];
        let err = refusal(raw);
        assert!(err.contains("BROKER__RATE_LIMIT__TRUSTED_PROXIES"), "{err}");
        assert!(err.contains("BROKER__RATE_LIMIT__ALLOW_ANY_PROXY"), "{err}");

        let mut raw = raw_with_terminals(&["1234001"]);
        raw.rate_limit.trusted_proxies = vec![any.into()];
        raw.rate_limit.allow_any_proxy = true;
        let settings = raw.resolve(true).unwrap().rate_limit;
        assert!(settings.allow_any_proxy && settings.trusted_proxies.len() == 1);
    }
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.rate_limit.trusted_proxies = vec!["0.0.0.0/1".into(), "128.0.0.0/1".into()];
    assert!(raw.resolve(true).is_ok(), "only a prefix of 0 is refused");
}
