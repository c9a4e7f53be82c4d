//! Several accounts: each API key's tokens reach only its own terminals, and the per-key
//! counters, faults and revocation touch one key only.

use super::*;
use futures_util::future::join_all;

const KEY_A: &str = "key-a-secret";
const KEY_B: &str = "key-b-secret";
const TERMINAL_A: &str = "1234001";
const TERMINAL_B: &str = "5678001";

fn two_accounts() -> FakePayrocConfig {
    FakePayrocConfig {
        api_key: KEY_A.to_owned(),
        terminals: vec![TERMINAL_A.to_owned(), "1234002".to_owned()],
        other_accounts: vec![FakeAccount {
            api_key: KEY_B.to_owned(),
            terminals: vec![TERMINAL_B.to_owned()],
            ..FakeAccount::default()
        }],
        ..FakePayrocConfig::default()
    }
}

async fn start_two() -> FakePayroc {
    FakePayroc::start(two_accounts())
        .await
        .expect("fake starts")
}

async fn token_for(client: &Client, fake: &FakePayroc, key: &str) -> String {
    let response = authorize_with(client, fake, key).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("identity sends JSON");
    body["access_token"].as_str().expect("a token").to_owned()
}

fn post_to(
    client: &Client,
    fake: &FakePayroc,
    terminal: &str,
    token: &str,
    key: &str,
) -> RequestBuilder {
    let request = client.post(sessions_url(fake, terminal)).bearer_auth(token);
    request.header("Idempotency-Key", key).json(&payment())
}

#[tokio::test]
async fn a_token_of_one_key_is_refused_for_another_keys_terminal_with_403() {
    let (fake, client) = (start_two().await, client());
    let token_a = token_for(&client, &fake, KEY_A).await;
    let token_b = token_for(&client, &fake, KEY_B).await;

    let foreign = post_to(&client, &fake, TERMINAL_B, &token_a, &new_key());
    let body = problem(send(foreign).await, 403, "forbidden").await;

    let url = sessions_url(&fake, TERMINAL_B);
    let detail = "You do not have the required permissions to perform this action";
    let expected = json!({
        "type": format!("{ERROR_DOCS}forbidden"),
        "title": "Forbidden",
        "status": 403,
        "detail": detail,
        "instance": url,
        "resource": "processingTerminal",
    });
    assert_eq!(body, expected);
    // Payroc's 403 does not tell "another account's" from "does not exist".
    let unknown = post_to(&client, &fake, "9999999", &token_a, &new_key());
    let unknown = problem(send(unknown).await, 403, "forbidden").await;
    assert_eq!(unknown["detail"], body["detail"]);
    assert_eq!(fake.sessions_created(), 0);

    let own = send(post_to(&client, &fake, TERMINAL_B, &token_b, &new_key())).await;
    assert_eq!(own.status(), 201);
    let recorded: Vec<_> = fake
        .session_requests()
        .into_iter()
        .map(|r| (r.terminal, r.api_key, r.status))
        .collect();
    let b = |s: &str| Some(s.to_owned());
    assert_eq!(
        recorded,
        [
            (TERMINAL_B.to_owned(), b(KEY_A), 403),
            ("9999999".to_owned(), b(KEY_A), 403),
            (TERMINAL_B.to_owned(), b(KEY_B), 201),
        ]
    );
}

#[tokio::test]
async fn counts_identity_and_session_calls_per_key() {
    let (fake, client) = (start_two().await, client());
    let token_a = token_for(&client, &fake, KEY_A).await;
    token_for(&client, &fake, KEY_A).await;
    let token_b = token_for(&client, &fake, KEY_B).await;
    authorize_with(&client, &fake, "wrong-key").await;

    send(post_to(&client, &fake, TERMINAL_A, &token_a, &new_key())).await;
    send(post_to(&client, &fake, TERMINAL_A, &token_b, &new_key())).await;
    send(post_to(&client, &fake, TERMINAL_B, &token_b, &new_key())).await;
    send(post_to(&client, &fake, TERMINAL_B, "made-up", &new_key())).await;

    assert_eq!(fake.identity_calls(), 4);
    assert_eq!(fake.identity_calls_for(KEY_A), 2);
    assert_eq!(fake.identity_calls_for(KEY_B), 1);
    assert_eq!(fake.identity_calls_for("wrong-key"), 1);
    assert_eq!(fake.session_calls(), 4);
    assert_eq!(fake.session_calls_for(KEY_A), 1);
    assert_eq!(
        fake.session_calls_for(KEY_B),
        2,
        "the refused call counts too"
    );
    assert_eq!(fake.session_calls_for("never-used"), 0);
    assert_eq!(fake.sessions_created(), 2);
}

#[tokio::test]
async fn a_per_key_identity_fault_affects_only_that_key() {
    let (fake, client) = (start_two().await, client());
    let down = IdentityFault::Status {
        status: 503,
        retry_after_secs: Some(7),
    };
    fake.set_identity_fault_for(KEY_B, down);

    let refused = authorize_with(&client, &fake, KEY_B).await;
    assert_eq!(refused.headers()[RETRY_AFTER], "7");
    problem(refused, 503, "service-unavailable").await;
    token_for(&client, &fake, KEY_A).await;

    // The global fault still wins over (and outlives) any per-key one.
    fake.set_identity_fault(IdentityFault::RejectKey);
    problem(
        authorize_with(&client, &fake, KEY_A).await,
        401,
        "not-authorized",
    )
    .await;
    fake.set_identity_fault(IdentityFault::None);
    fake.set_identity_fault_for(KEY_B, IdentityFault::None);

    token_for(&client, &fake, KEY_B).await;
    assert_eq!(fake.tokens_issued(), 2);
}

#[tokio::test]
async fn revoke_tokens_for_revokes_only_that_keys_tokens() {
    let (fake, client) = (start_two().await, client());
    let token_a = token_for(&client, &fake, KEY_A).await;
    let token_b = token_for(&client, &fake, KEY_B).await;

    fake.revoke_tokens_for(KEY_A);

    let revoked = post_to(&client, &fake, TERMINAL_A, &token_a, &new_key());
    problem(send(revoked).await, 401, "not-authorized").await;
    let kept = send(post_to(&client, &fake, TERMINAL_B, &token_b, &new_key())).await;
    assert_eq!(kept.status(), 201);
    let fresh = token_for(&client, &fake, KEY_A).await;
    let again = send(post_to(&client, &fake, TERMINAL_A, &fresh, &new_key())).await;
    assert_eq!(again.status(), 201);
    let recorded = fake.session_requests();
    assert_eq!(recorded[0].api_key, None, "a revoked token names no key");
}

#[tokio::test]
async fn idempotency_keys_are_scoped_per_account_and_replay_across_its_tokens() {
    let (fake, client) = (start_two().await, client());
    let token_a = token_for(&client, &fake, KEY_A).await;
    let token_b = token_for(&client, &fake, KEY_B).await;
    let key = new_key();

    let first = send(post_to(&client, &fake, TERMINAL_A, &token_a, &key)).await;
    let first: Value = first.json().await.unwrap();
    let other = send(post_to(&client, &fake, TERMINAL_B, &token_b, &key)).await;
    assert_eq!(other.status(), 201, "B's key space knows nothing of A's");
    let other: Value = other.json().await.unwrap();
    assert_ne!(other["token"], first["token"]);
    // B cannot replay A's session: A's terminal is not B's.
    let foreign = post_to(&client, &fake, TERMINAL_A, &token_b, &key);
    problem(send(foreign).await, 403, "forbidden").await;

    let second_a = token_for(&client, &fake, KEY_A).await;
    let replay = send(post_to(&client, &fake, TERMINAL_A, &second_a, &key)).await;
    assert_eq!(replay.status(), 201);
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay, first);
    assert_eq!(fake.sessions_created(), 2);
}

#[tokio::test]
async fn peak_in_flight_counts_concurrent_identity_calls() {
    let (fake, client) = (start_two().await, client());
    fake.set_identity_latency(Duration::from_millis(400));
    assert_eq!(fake.identity_peak_in_flight(), 0);

    let calls = (0..5).map(|i| {
        let key = if i % 2 == 0 { KEY_A } else { KEY_B };
        authorize_with(&client, &fake, key)
    });
    let watch = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        fake.identity_in_flight()
    };
    let (answers, midway) = tokio::join!(join_all(calls), watch);

    assert_eq!(midway, 5);
    assert!(answers.iter().all(|r| r.status() == 200));
    assert_eq!(fake.identity_in_flight(), 0);
    assert_eq!(fake.identity_peak_in_flight(), 5);
    fake.set_identity_latency(Duration::ZERO);
    token_for(&client, &fake, KEY_A).await;
    token_for(&client, &fake, KEY_B).await;
    assert_eq!(
        fake.identity_peak_in_flight(),
        5,
        "one at a time raises no peak"
    );
}

#[tokio::test]
async fn start_refuses_a_terminal_or_a_key_shared_by_two_accounts() {
    let mut shared_terminal = two_accounts();
    shared_terminal.other_accounts[0]
        .terminals
        .push(TERMINAL_A.to_owned());
    let error = FakePayroc::start(shared_terminal).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains(TERMINAL_A), "{error}");

    let mut shared_key = two_accounts();
    shared_key.other_accounts[0].api_key = KEY_A.to_owned();
    let error = FakePayroc::start(shared_key).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(!error.to_string().contains(KEY_A), "{error}");
}

#[tokio::test]
async fn debug_output_hides_every_key_and_token() {
    let config = two_accounts();
    let printed = format!("{config:?}");
    assert!(
        !printed.contains(KEY_A) && !printed.contains(KEY_B),
        "{printed}"
    );
    assert!(printed.contains(TERMINAL_B), "{printed}");

    let (fake, client) = (start_two().await, client());
    let token = token_for(&client, &fake, KEY_B).await;
    send(post_to(&client, &fake, TERMINAL_B, &token, &new_key())).await;
    let printed = format!("{:?}", fake.session_requests());
    assert!(
        !printed.contains(KEY_B) && !printed.contains(&token),
        "{printed}"
    );
}
