//! Who may reach what: the sessions' 401 for a missing or revoked token, the same 403 for a
//! foreign or unknown terminal, the same 404 for a foreign or unknown payment, the fake's own
//! 405 and 404, and the headers every answer carries for a proxy to strip.

use super::payments_kit::*;
use super::*;

#[tokio::test]
async fn answers_a_missing_or_revoked_token_with_the_sessions_own_401() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_A).await;
    let session = send(session_post(&client, &fake, "made-up", &new_key()).json(&payment())).await;
    let expected: Value = session.json().await.unwrap();

    let anonymous = client
        .post(payments_url(&fake))
        .header("Idempotency-Key", new_key());
    let anonymous = problem(
        send(anonymous.json(&sale("Order", 1))).await,
        401,
        "not-authorized",
    )
    .await;
    fake.revoke_tokens_for(KEY_A);
    let revoked = send(post_sale(
        &client,
        &fake,
        &token,
        &new_key(),
        &sale("Order", 1),
    ))
    .await;
    let revoked = problem(revoked, 401, "not-authorized").await;
    let listed = problem(
        send(get_with(&client, &payments_url(&fake), &token)).await,
        401,
        "not-authorized",
    )
    .await;

    assert_eq!(
        (anonymous, revoked, listed),
        (expected.clone(), expected.clone(), expected)
    );
    assert_eq!(fake.payments_created(), 0);
    let keys: Vec<_> = fake.api_requests().into_iter().map(|r| r.api_key).collect();
    assert_eq!(keys, [None, None, None], "a revoked token names no key");
}

#[tokio::test]
async fn refuses_another_accounts_terminal_and_an_unknown_one_with_the_same_403() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_A).await;

    let foreign = post_sale(
        &client,
        &fake,
        &token,
        &new_key(),
        &sale_on(TERMINAL_B, "Order", 1),
    );
    let foreign = problem(send(foreign).await, 403, "forbidden").await;
    let unknown = post_sale(
        &client,
        &fake,
        &token,
        &new_key(),
        &sale_on("9999999", "Order", 1),
    );
    let unknown = problem(send(unknown).await, 403, "forbidden").await;

    assert_eq!(foreign, unknown);
    assert_eq!(foreign["resource"], "processingTerminal");
    assert_eq!(fake.payments_created(), 0);
}

#[tokio::test]
async fn retrieves_an_own_payment_but_answers_another_accounts_like_an_unknown_one() {
    let (fake, client) = (start_two().await, client());
    let (token_a, token_b) = (
        token_of(&client, &fake, KEY_A).await,
        token_of(&client, &fake, KEY_B).await,
    );
    let created = create_sale(&client, &fake, &token_a, &sale("Order", 250)).await;
    let url = payment_url(&fake, &id_of(&created));

    let own = send(get_with(&client, &url, &token_a)).await;
    let foreign = send(get_with(&client, &url, &token_b)).await;
    let unknown = send(get_with(
        &client,
        &payment_url(&fake, "ZZZZZZZZZZ"),
        &token_b,
    ))
    .await;

    assert_eq!(own.status(), 200);
    assert_eq!(own.json::<Value>().await.unwrap(), created);
    let foreign = problem(foreign, 404, "not-found").await;
    assert_eq!(foreign, problem(unknown, 404, "not-found").await);
    assert_eq!(foreign["resource"], "payment");
}

#[tokio::test]
async fn every_answer_carries_a_cookie_a_hop_by_hop_and_a_trace_header() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_A).await;

    let created = send(post_sale(
        &client,
        &fake,
        &token,
        &new_key(),
        &sale("Order", 1),
    ))
    .await;
    let unauthorized = send(client.get(payments_url(&fake))).await;
    let wrong_method = send(client.delete(payments_url(&fake))).await;
    fake.fail_next_api_calls(1, 503, None);
    let failed = send(get_with(&client, &payments_url(&fake), &token)).await;

    for response in [created, unauthorized, wrong_method, failed] {
        let headers = response.headers();
        assert_eq!(
            headers["set-cookie"],
            "payroc_session=fake; Path=/; HttpOnly"
        );
        assert_eq!(headers["keep-alive"], "timeout=5");
        assert_eq!(headers["x-payroc-trace"], "fake", "{}", response.status());
    }
}

#[tokio::test]
async fn wrong_methods_get_405_and_unknown_sub_resources_404_and_are_counted() {
    let (fake, client) = (start_two().await, client());

    let put = send(client.put(payments_url(&fake))).await;
    assert_eq!(put.headers()[ALLOW], "GET, POST");
    problem(put, 405, "method-not-allowed").await;
    let post_one = send(client.post(payment_url(&fake, "ABCDEFGHIJ"))).await;
    assert_eq!(post_one.headers()[ALLOW], "GET");
    problem(post_one, 405, "method-not-allowed").await;
    let get_refund = send(client.get(refund_url(&fake, "ABCDEFGHIJ"))).await;
    assert_eq!(get_refund.headers()[ALLOW], "POST");
    problem(get_refund, 405, "method-not-allowed").await;
    let capture = send(client.post(format!("{}/capture", payment_url(&fake, "ABCDEFGHIJ")))).await;
    problem(capture, 404, "not-found").await;

    assert_eq!(fake.api_calls(), 4);
    let statuses: Vec<u16> = fake.api_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [405, 405, 405, 404]);
    assert_eq!((fake.session_calls(), fake.identity_calls()), (0, 0));
}
