//! Reloading the tenants file: unchanged accounts keep their token (no identity call), added
//! ones warm up, removed ones are refused; a bad file changes nothing; a ConfigMap-style
//! symlink swap is seen; traffic during reloads is unaffected; warm-up is never a burst.

use std::{fmt::Write as _, os::unix::fs::symlink, time::Duration};

use hosted_fields_broker::fake_payroc::FakeAccount;
use serde_json::{Value, json};

use crate::helpers::{CALLER_KEY, TestApp, assert_problem, eventually};
use crate::tenants_helpers::{
    ACME_KEY, ACME_ORIGIN, GLOBEX_KEY, Scratch, Tenants, spawn_tenants_app, spawn_tenants_app_with,
    tenants_toml,
};

const INITECH: &str =
    "\n[[account]]\nname = \"initech\"\napi_key = \"initech-api-key\"\nterminals = [\"4234001\"]\n";

/// The fake also knows initech, which the tenants file does not list yet.
fn with_initech() -> Tenants {
    Tenants {
        more: vec![FakeAccount {
            api_key: "initech-api-key".into(),
            terminals: vec!["4234001".into()],
            ..FakeAccount::default()
        }],
        ..Tenants::default()
    }
}

/// The value of one counter in `/metrics`, 0 when absent.
async fn series(app: &TestApp, name: &str) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .map_or(0, |v| v.parse().unwrap())
}

async fn reloads(app: &TestApp, outcome: &str) -> u64 {
    series(
        app,
        &format!("broker_tenants_reloads_total{{outcome=\"{outcome}\"}}"),
    )
    .await
}

async fn status(app: &TestApp) -> Value {
    app.client
        .get(app.url("/status"))
        .header("authorization", format!("Bearer {CALLER_KEY}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn terminal(app: &TestApp, id: &str) -> reqwest::Response {
    app.post_session(json!({"processingTerminalId": id})).await
}

#[tokio::test]
async fn a_reload_keeps_adds_and_removes_accounts() {
    let scratch = Scratch::new();
    let app = spawn_tenants_app_with(&scratch, with_initech(), |_| {}).await;
    app.wait_ready().await;
    let acme_calls = app.fake.identity_calls_for(ACME_KEY);
    // globex removed, initech added, acme and default unchanged.
    let toml = tenants_toml(&scratch);
    let without_globex = toml
        .replace("name = \"globex\"", "name = \"initech\"")
        .replace(
            &format!(
                "api_key_file = \"{}\"",
                scratch.path("globex.key").display()
            ),
            "api_key = \"initech-api-key\"",
        )
        .replace("\"3234001\"", "\"4234001\"");
    scratch.write("tenants.toml", &without_globex);
    eventually(Duration::from_secs(5), || async {
        reloads(&app, "applied").await == 1
    })
    .await;
    assert_problem(terminal(&app, "3234001").await, 403).await;
    eventually(Duration::from_secs(5), || async {
        terminal(&app, "4234001").await.status() == 201
    })
    .await;
    assert_eq!(app.fake.identity_calls_for("initech-api-key"), 1);
    let acme = app.post_session(Value::Null).await;
    assert_eq!(acme.status(), 201);
    assert_eq!(
        app.fake.identity_calls_for(ACME_KEY),
        acme_calls,
        "an unchanged account keeps its token"
    );
    let names: Vec<String> = status(&app).await["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["default", "acme", "initech"]);
}

#[tokio::test]
async fn an_invalid_file_changes_nothing_and_is_reported_once() {
    let scratch = Scratch::new();
    let app = spawn_tenants_app(&scratch, GLOBEX_KEY, |_| {}).await;
    app.wait_ready().await;
    let broken = tenants_toml(&scratch).replace("\"3234001\"", "\"2234001\"");
    scratch.write("tenants.toml", &broken);
    eventually(Duration::from_secs(5), || async {
        reloads(&app, "rejected").await == 1
    })
    .await;
    let error = status(&app).await["tenants"]["lastError"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains("account #2 \"globex\": terminals: \"2234001\" is already a terminal of account \"acme\""), "{error}");
    assert_eq!(
        terminal(&app, "3234001").await.status(),
        201,
        "globex still served"
    );
    // The same bad content is not rejected (nor logged) again at every check.
    let checks = 10;
    tokio::time::sleep(Duration::from_millis(50 * checks)).await;
    assert_eq!(reloads(&app, "rejected").await, 1);
    assert_eq!(reloads(&app, "applied").await, 0);
    // A missing file is just as invalid.
    std::fs::remove_file(scratch.path("tenants.toml")).unwrap();
    eventually(Duration::from_secs(5), || async {
        reloads(&app, "rejected").await == 2
    })
    .await;
    assert_eq!(terminal(&app, "3234001").await.status(), 201);
}

#[tokio::test]
async fn a_configmap_symlink_swap_is_applied() {
    let scratch = Scratch::new();
    // As kubelet lays out a ConfigMap volume: tenants.toml -> ..data/tenants.toml,
    // ..data -> ..<timestamp>/, swapped atomically on update.
    let first = scratch.path("..2026_01_01_00_00_00.1");
    std::fs::create_dir(&first).unwrap();
    std::fs::write(first.join("tenants.toml"), tenants_toml(&scratch)).unwrap();
    symlink("..2026_01_01_00_00_00.1", scratch.path("..data")).unwrap();
    let app = spawn_tenants_app_with(&scratch, with_initech(), |_| {}).await;
    // spawn_tenants_app wrote a plain file; replace it with the ConfigMap's symlink.
    std::fs::remove_file(scratch.path("tenants.toml")).unwrap();
    symlink("..data/tenants.toml", scratch.path("tenants.toml")).unwrap();
    app.wait_ready().await;
    let second = scratch.path("..2026_01_01_00_01_00.2");
    std::fs::create_dir(&second).unwrap();
    std::fs::write(
        second.join("tenants.toml"),
        format!("{}{INITECH}", tenants_toml(&scratch)),
    )
    .unwrap();
    symlink("..2026_01_01_00_01_00.2", scratch.path("..data_tmp")).unwrap();
    std::fs::rename(scratch.path("..data_tmp"), scratch.path("..data")).unwrap();
    std::fs::remove_dir_all(&first).unwrap();
    eventually(Duration::from_secs(5), || async {
        terminal(&app, "4234001").await.status() == 201
    })
    .await;
    assert_eq!(reloads(&app, "rejected").await, 0);
}

#[tokio::test]
async fn traffic_during_reloads_is_unaffected() {
    let scratch = Scratch::new();
    let app = spawn_tenants_app_with(&scratch, with_initech(), |_| {}).await;
    app.wait_ready().await;
    let base = tenants_toml(&scratch);
    let traffic = async {
        let mut statuses = Vec::new();
        for round in 0..40 {
            let (a, b) = tokio::join!(
                app.session_request(Value::Null)
                    .header("origin", ACME_ORIGIN)
                    .send(),
                terminal(&app, if round % 2 == 0 { "3234001" } else { "1234002" }),
            );
            statuses.push(a.unwrap().status().as_u16());
            statuses.push(b.status().as_u16());
        }
        statuses
    };
    let churn = async {
        for round in 0..10 {
            let toml = if round % 2 == 0 {
                format!("{base}{INITECH}")
            } else {
                base.clone()
            };
            scratch.write("tenants.toml", &toml);
            let applied = round + 1;
            eventually(Duration::from_secs(5), || async {
                reloads(&app, "applied").await == applied
            })
            .await;
        }
    };
    let (statuses, ()) = tokio::join!(traffic, churn);
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    assert_eq!(reloads(&app, "applied").await, 10);
    assert_eq!(
        app.fake.identity_calls_for(ACME_KEY),
        1,
        "acme kept its token through every reload"
    );
}

#[tokio::test]
async fn warm_up_never_has_more_than_eight_identity_calls_in_flight() {
    let scratch = Scratch::new();
    let count = 40;
    let tenants = Tenants {
        more: (0..count)
            .map(|i| FakeAccount {
                api_key: format!("bulk-key-{i}"),
                terminals: vec![format!("90{i:05}")],
                ..FakeAccount::default()
            })
            .collect(),
        extra_toml: (0..count).fold(String::new(), |mut toml, i| {
            let _ = write!(toml, "\n[[account]]\nname = \"bulk-{i}\"\napi_key = \"bulk-key-{i}\"\nterminals = [\"90{i:05}\"]\n");
            toml
        }),
        identity_latency: Duration::from_millis(50),
        ..Tenants::default()
    };
    let app = spawn_tenants_app_with(&scratch, tenants, |_| {}).await;
    let unready = app.get("/readyz").await;
    assert_problem(unready, 503).await;
    app.wait_ready().await;
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["accounts"]["tokens"]["valid"], count + 3, "{ready}");
    assert_eq!(app.fake.identity_calls(), u64::try_from(count).unwrap() + 3);
    // 43 fetches of 50 ms: eight at a time, never more, and really in parallel.
    assert_eq!(app.fake.identity_peak_in_flight(), 8);
}

#[tokio::test]
async fn an_account_whose_key_file_arrives_late_is_applied_when_it_does() {
    let scratch = Scratch::new();
    let app = spawn_tenants_app_with(&scratch, with_initech(), |_| {}).await;
    app.wait_ready().await;
    let late = format!(
        "{}\n[[account]]\nname = \"initech\"\napi_key_file = \"{}\"\nterminals = [\"4234001\"]\n",
        tenants_toml(&scratch),
        scratch.path("initech.key").display()
    );
    scratch.write("tenants.toml", &late);
    eventually(Duration::from_secs(5), || async {
        reloads(&app, "rejected").await == 1
    })
    .await;
    // The Secret lands later; the tenants file itself does not change again.
    scratch.write("initech.key", "initech-api-key");
    eventually(Duration::from_secs(5), || async {
        terminal(&app, "4234001").await.status() == 201
    })
    .await;
    assert_eq!(
        reloads(&app, "rejected").await,
        1,
        "the same problem is reported once"
    );
}

#[tokio::test]
async fn a_removed_accounts_gauges_leave_the_exposition() {
    let scratch = Scratch::new();
    let app = spawn_tenants_app(&scratch, GLOBEX_KEY, |_| {}).await;
    app.wait_ready().await;
    let gauge = r#"broker_token_usable{account="globex"}"#;
    assert!(
        app.get("/metrics")
            .await
            .text()
            .await
            .unwrap()
            .contains(gauge)
    );
    let without_globex =
        tenants_toml(&scratch).replace("name = \"globex\"", "name = \"globex-gone\"");
    let without_globex = without_globex.replace("\"3234001\"", "\"3234009\"");
    scratch.write("tenants.toml", &without_globex);
    eventually(Duration::from_secs(5), || async {
        reloads(&app, "applied").await == 1
    })
    .await;
    // Every gauge is set at each scrape; one no longer set ages out (5 s), so no alert keeps
    // firing for an account that is gone.
    eventually(Duration::from_secs(10), || async {
        !app.get("/metrics")
            .await
            .text()
            .await
            .unwrap()
            .contains(gauge)
    })
    .await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"broker_token_usable{account="acme"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("broker_session_requests_in_flight 0"),
        "{text}"
    );
}
