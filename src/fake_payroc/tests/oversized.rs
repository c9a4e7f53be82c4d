//! The faults that make answers too big or wrong: oversized bodies at both endpoints, and
//! session answers naming another terminal, carrying a huge token or a huge problem detail.

use super::*;
use crate::fake_payroc::oversized::HUGE_BODY_BYTES;

/// Reads `response` for at least `bytes` bytes; false if the body ended before that.
async fn lasts_beyond(response: &mut reqwest::Response, bytes: usize) -> bool {
    let mut read = 0;
    while read < bytes {
        match response.chunk().await.expect("the body keeps coming") {
            Some(chunk) => read += chunk.len(),
            None => return false,
        }
    }
    true
}

#[tokio::test]
async fn identity_body_faults_send_an_endless_or_a_huge_body_and_issue_no_token() {
    let (fake, client) = (start().await, client());

    fake.set_identity_fault(IdentityFault::EndlessBody);
    let mut endless = authorize_with(&client, &fake, &fake.api_key()).await;
    assert_eq!(endless.status(), 200);
    assert_eq!(endless.content_length(), None, "chunked");
    assert!(lasts_beyond(&mut endless, 4 << 20).await);
    drop(endless);

    fake.set_identity_fault(IdentityFault::HugeBody);
    let mut huge = authorize_with(&client, &fake, &fake.api_key()).await;
    assert_eq!(huge.status(), 200);
    assert_eq!(huge.content_length(), Some(HUGE_BODY_BYTES));
    let first = huge.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"{\"token_type\""), "{first:?}");
    assert_eq!(fake.tokens_issued(), 0);
}

#[tokio::test]
async fn session_body_faults_create_the_session_then_send_an_endless_or_a_huge_body() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;

    fake.set_session_fault(SessionFault::EndlessBody);
    let request = session_post(&client, &fake, &token, &new_key()).json(&payment());
    let mut endless = send(request).await;
    assert_eq!(endless.status(), 201);
    assert!(endless.headers().contains_key(LOCATION));
    assert_eq!(endless.content_length(), None, "chunked");
    assert!(lasts_beyond(&mut endless, 4 << 20).await);
    drop(endless);

    fake.set_session_fault(SessionFault::HugeBody);
    let request = session_post(&client, &fake, &token, &new_key()).json(&payment());
    let huge = send(request).await;
    assert_eq!(huge.status(), 201);
    assert_eq!(huge.content_length(), Some(HUGE_BODY_BYTES));
    drop(huge);

    assert_eq!(fake.sessions_created(), 2, "Payroc created both");
    fake.set_session_fault(SessionFault::None);
    create(&client, &fake, &token, &new_key()).await;
}

#[tokio::test]
async fn wrong_terminal_fault_names_another_known_terminal() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    fake.set_session_fault(SessionFault::WrongTerminal);

    let session = create(&client, &fake, &token, &new_key()).await;

    assert_eq!(session["processingTerminalId"], "1234002");
    assert_eq!(fake.session_requests()[0].terminal, "1234001");
}

#[tokio::test]
async fn long_token_fault_answers_a_token_that_long() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    fake.set_session_fault(SessionFault::LongToken(1 << 20));

    let session = create(&client, &fake, &token, &new_key()).await;

    assert_eq!(session["token"].as_str().map(str::len), Some(1 << 20));
    assert_eq!(session["processingTerminalId"], "1234001");
}

#[tokio::test]
async fn long_detail_fault_comes_first_stores_nothing_and_lasts_until_cleared() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    fake.set_session_fault(SessionFault::LongDetail {
        status: 400,
        chars: 2_800_000,
    });

    for _ in 0..2 {
        let request = session_post(&client, &fake, &token, &new_key()).json(&payment());
        let body = problem(send(request).await, 400, "bad-request").await;
        assert_eq!(body["detail"].as_str().map(str::len), Some(2_800_000));
    }

    assert_eq!(fake.sessions_created(), 0);
    fake.set_session_fault(SessionFault::None);
    create(&client, &fake, &token, &new_key()).await;
}

#[tokio::test]
async fn control_sets_and_clears_the_session_and_identity_body_faults() {
    let (fake, client) = (start().await, client());
    let control = |faults: Value| client.post(fake.control_url()).json(&faults).send();

    let set = control(json!({"sessionFault": "wrong-terminal", "identityFault": "huge-body"}));
    assert_eq!(set.await.unwrap().status(), 200);
    assert_eq!(fake.state().session_fault, SessionFault::WrongTerminal);
    assert_eq!(fake.state().identity_fault, IdentityFault::HugeBody);

    let unknown = control(json!({"sessionFault": "sometimes"})).await.unwrap();
    assert_eq!(unknown.status(), 400);
    let clear = control(json!({"sessionFault": "none", "identityFault": "none"}));
    assert_eq!(clear.await.unwrap().status(), 200);
    assert_eq!(fake.state().session_fault, SessionFault::None);
    assert_eq!(fake.state().identity_fault, IdentityFault::None);
}
