//! The real binary with a tenants file: a bad file is one line before binding, and SIGHUP
//! reloads it.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use crate::binary::broker;

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
    let child = broker(&["serve"], &env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
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
        .args(["-HUP", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    wait_for("/status", "\"globex\"");
    wait_for(
        "/metrics",
        "broker_tenants_reloads_total{outcome=\"applied\"} 1",
    );
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "SIGHUP does not stop the broker"
    );
    std::fs::remove_file(file).unwrap();
}

/// Kills the child when dropped, so a failing test leaves no broker behind.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
