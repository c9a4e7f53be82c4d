//! The real binary: configuration errors, `check-config`, and SIGTERM on a running `demo`.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

const BIN: &str = env!("CARGO_BIN_EXE_hosted-fields-broker");

/// The binary with a clean environment (no stray `BROKER__*`), run from an empty directory.
fn broker(args: &[&str], env: &[(&str, &str)]) -> Command {
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on 127.0.0.1:port, the body (or empty while nothing answers).
fn get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn a_bad_tenants_file_is_one_line_naming_file_entry_and_key() {
    let file = std::env::temp_dir().join(format!("hfb-bin-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(
        &file,
        "[[account]]\nname = \"acme\"\napi_key = \"k\"\nterminals = [\"12/4\"]\n",
    )
    .unwrap();
    let path = file.display().to_string();
    for command in ["check-config", "serve"] {
        let output = broker(&[command], &[("BROKER__TENANTS__FILE", &path)])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(&format!(
                "tenants file {path}: account #1 \"acme\": terminals: \"12/4\""
            )),
            "{stderr}"
        );
    }
    std::fs::remove_file(file).unwrap();
}

#[test]
fn sighup_reloads_the_tenants_file() {
    let file = std::env::temp_dir().join(format!("hfb-bin-{}.toml", uuid::Uuid::new_v4()));
    let account = |name: &str, terminal: &str| {
        format!(
            "[[account]]\nname = \"{name}\"\napi_key = \"key-{name}\"\nterminals = [\"{terminal}\"]\n"
        )
    };
    std::fs::write(&file, account("acme", "2234001")).unwrap();
    let (port, admin) = (free_port(), free_port());
    let closed = format!("http://127.0.0.1:{}", free_port());
    let env = [
        ("BROKER__TENANTS__FILE", file.display().to_string()),
        // Only the signal may trigger this reload.
        ("BROKER__TENANTS__WATCH_INTERVAL_MS", "600000".into()),
        ("BROKER__SERVER__LISTEN", format!("127.0.0.1:{port}")),
        (
            "BROKER__SERVER__METRICS_LISTEN",
            format!("127.0.0.1:{admin}"),
        ),
        (
            "BROKER__PAYROC__IDENTITY_URL",
            format!("{closed}/authorize"),
        ),
        ("BROKER__PAYROC__API_URL", format!("{closed}/v1")),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut child = broker(&["serve"], &env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let wait_for = |path: &str, needle: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if get(admin, path).contains(needle) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{path} never showed {needle}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for("/status", "\"acme\"");
    std::fs::write(
        &file,
        format!(
            "{}{}",
            account("acme", "2234001"),
            account("globex", "3234001")
        ),
    )
    .unwrap();
    assert!(
        !get(admin, "/status").contains("globex"),
        "no reload before the signal"
    );
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    wait_for("/status", "\"globex\"");
    wait_for(
        "/metrics",
        "broker_tenants_reloads_total{outcome=\"applied\"} 1",
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP does not stop the broker"
    );
    child.kill().unwrap();
    let _ = child.wait();
    std::fs::remove_file(file).unwrap();
}
