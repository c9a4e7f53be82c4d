//! The exposition after recorded events.

use super::*;

#[test]
fn renders_real_histograms_and_labelled_counters() {
    let metrics = Metrics::new();
    metrics.upstream(
        Endpoint::CreateSession,
        Some(201),
        Duration::from_millis(30),
    );
    metrics.sessions_created("acme").increment(1);
    metrics.session("acme", 503);
    metrics.token_refresh("acme", RefreshOutcome::Success);
    metrics.token_refresh("acme", RefreshOutcome::KeyUnavailable);
    metrics.rate_limit_untracked();
    metrics.set_account_token(
        "acme",
        TokenGauges {
            expires_in: Some(Duration::from_secs(90)),
            usable: true,
            key_rejected: false,
        },
    );
    let text = metrics.render();
    assert!(text.contains(r#"broker_upstream_request_duration_seconds_bucket{endpoint="create_session",status_class="2xx",le="0.05"} 1"#), "{text}");
    assert!(
        text.contains(r#"broker_sessions_total{account="acme",outcome="created",status="201"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"broker_sessions_total{account="acme",outcome="failed",status="503"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"broker_token_refreshes_total{account="acme",outcome="success"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"broker_token_refreshes_total{account="acme",outcome="key_unavailable"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains("broker_rate_limit_untracked_total 1"),
        "{text}"
    );
    assert!(
        text.contains(r#"broker_token_expires_in_seconds{account="acme"} 90"#),
        "{text}"
    );
}

#[test]
fn upkeep_between_scrapes_keeps_every_sample() {
    let metrics = Metrics::new();
    let record = |millis| {
        metrics.upstream(
            Endpoint::CreateSession,
            Some(201),
            Duration::from_millis(millis),
        );
    };
    record(3);
    record(30);
    metrics.upkeep();
    record(300);
    metrics.upkeep();
    metrics.upkeep();
    let text = metrics.render();
    let series = r#"broker_upstream_request_duration_seconds_count{endpoint="create_session",status_class="2xx"}"#;
    assert!(text.contains(&format!("{series} 3")), "{text}");
    assert!(text.contains(r#"broker_upstream_request_duration_seconds_bucket{endpoint="create_session",status_class="2xx",le="0.05"} 2"#), "{text}");
}

#[test]
fn each_app_counts_only_its_own_events() {
    let (a, b) = (Metrics::new(), Metrics::new());
    a.retry();
    assert!(a.render().contains("broker_upstream_retries_total 1"));
    assert!(b.render().contains("broker_upstream_retries_total 0"));
}

#[test]
fn in_flight_guard_decrements_on_drop() {
    let metrics = Metrics::new();
    let guard = metrics.in_flight();
    assert!(
        metrics
            .render()
            .contains("broker_session_requests_in_flight 1")
    );
    drop(guard);
    assert!(
        metrics
            .render()
            .contains("broker_session_requests_in_flight 0")
    );
}
