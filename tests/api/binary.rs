//! The real binary: configuration errors, `check-config`, and SIGTERM on a running `demo`.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

const BIN: &str = env!("CARGO_BIN_EXE_hosted-fields-broker");

/// The binary with a clean environment (no stray `BROKER__*`), run from an empty directory.
pub fn broker(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(std::env::temp_dir());
    command
}

#[test]
fn bad_configuration_prints_one_line_naming_the_key_and_exits_non_zero() {
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("BROKER__PAYROC__TERMINALS", "1234001")],
            "BROKER__PAYROC__API_KEY",
        ),
        (
            &[("BROKER__PAYROC__API_KEY", "k")],
            "BROKER__PAYROC__TERMINALS",
        ),
        (
            &[
                ("BROKER__PAYROC__API_KEY", "k"),
                ("BROKER__PAYROC__API_KEY_FILE", "/etc/hostname"),
                ("BROKER__PAYROC__TERMINALS", "1234001"),
            ],
            "payroc.api_key",
        ),
        (
            &[
                ("BROKER__PAYROC__API_KEY", "k"),
                ("BROKER__PAYROC__TERMINALS", "1234001"),
                ("BROKER__PAYROC__API_URL", "http://api.example.com/v1"),
            ],
            "BROKER__PAYROC__API_URL",
        ),
        (
            &[
                ("BROKER__PAYROC__API_KEY", "k"),
                ("BROKER__PAYROC__TERMINALS", "1234001"),
                ("BROKER__SERVER__LISTEN", "nope"),
            ],
            "listen",
        ),
    ];
    for (env, key) in cases {
        for command in [&["serve"][..], &["check-config"]] {
            let output = broker(command, env).output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success(), "{env:?}");
            assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
            assert!(stderr.contains(key), "{key} not named in: {stderr}");
        }
    }
}

#[test]
fn an_api_key_with_an_embedded_newline_is_one_line_naming_the_key_never_showing_it() {
    let output = broker(
        &["check-config"],
        &[
            (
                "BROKER__PAYROC__API_KEY",
                "sk_zqx_first_half
sk_zqx_second_half",
            ),
            ("BROKER__PAYROC__TERMINALS", "1234001"),
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("(BROKER__PAYROC__API_KEY)"),
        "key not named in: {stderr}"
    );
    assert!(!stderr.contains("zqx"), "the key is shown: {stderr}");
    assert!(output.stdout.is_empty(), "nothing printed as configuration");
}

#[test]
fn check_config_prints_effective_config_with_secrets_redacted() {
    let output = broker(
        &["check-config"],
        &[
            ("BROKER__PAYROC__API_KEY", "sk_very_secret_key"),
            ("BROKER__PAYROC__TERMINALS", "1234001"),
            ("BROKER__PAYROC__ENVIRONMENT", "production"),
            (
                "BROKER__CALLERS__KEYS",
                "caller-secret-0123456789,caller-secret-abcdefghij",
            ),
        ],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("https://api.payroc.com/v1") && stdout.contains("1.7.0.261471"),
        "{stdout}"
    );
    assert!(
        stdout.contains("terminals = [\"1234001\"]"),
        "a single numeric terminal is a list: {stdout}"
    );
    for secret in ["sk_very_secret_key", "caller-secret"] {
        assert!(!stdout.contains(secret), "{stdout}");
    }
}

#[test]
fn config_file_is_layered_under_the_environment() {
    let file = std::env::temp_dir().join(format!("hfb-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(
        &file,
        "[payroc]\nterminals = [\"5550001\"]\napi_key = \"from-file\"\nlib_version = \"1.8.0.1\"\n",
    )
    .unwrap();
    let output = broker(
        &["--config", file.to_str().unwrap(), "check-config"],
        &[("BROKER__PAYROC__LIB_VERSION", "1.9.0.2")],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        stdout.contains("5550001") && stdout.contains("1.9.0.2"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("script_integrity"),
        "no SRI for an unknown version: {stdout}"
    );
    std::fs::remove_file(file).unwrap();
}

#[test]
fn demo_serves_sessions_and_exits_zero_on_sigterm() {
    let mut child = broker(&["demo"], &[("BROKER__SERVER__LISTEN", "127.0.0.1:0")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = demo_url(&mut child);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        assert!(
            client
                .get(&url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
                .contains("/hosted-fields/broker.js")
        );
        let created = client
            .post(format!("{url}hosted-fields/session"))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        // The demo's backend service reaches the fake's payments API through the broker.
        let listed = client
            .get(format!("{url}payroc/v1/payments"))
            .bearer_auth(hosted_fields_broker::demo::SERVICE_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(listed.status(), 200);
    });

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit code {status:?}");
}

#[test]
fn healthcheck_exits_zero_while_serving_and_one_once_stopped() {
    // `healthcheck` reads its port from the configuration, so the demo needs a fixed one.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let env = [("BROKER__SERVER__LISTEN", listen.as_str())];
    let mut child = broker(&["demo"], &env)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = demo_url(&mut child);
    assert!(url.contains(&listen), "demo prints its URL: {url}");

    let healthy = broker(&["healthcheck"], &env).output().unwrap();
    assert!(
        healthy.status.success(),
        "{}",
        String::from_utf8_lossy(&healthy.stderr)
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success());
    let stopped = broker(&["healthcheck"], &env).output().unwrap();
    assert_eq!(stopped.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&stopped.stderr).contains("healthz"),
        "the failure names what was probed"
    );
}

/// Reads the demo's stdout until it names its URL (log lines may come first).
fn demo_url(child: &mut std::process::Child) -> String {
    let lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    for line in lines.take(20) {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("demo: open ") {
            return url.split_whitespace().next().unwrap().to_owned();
        }
    }
    panic!("demo did not print its URL");
}
