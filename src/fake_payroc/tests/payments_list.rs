//! `GET /v1/payments`: only the caller's payments, filters, `limit`, cursors and links, and
//! the query kept raw in the log.

use super::payments_kit::*;
use super::*;

/// Creates `n` sales for `token` on `terminal`, orders `Order0`, `Order1`, ...; their ids.
async fn create_many(
    client: &Client,
    fake: &FakePayroc,
    token: &str,
    terminal: &str,
    n: usize,
) -> Vec<String> {
    let mut created = Vec::new();
    for i in 0..n {
        let body = sale_on(terminal, &format!("Order{i}"), 100);
        created.push(id_of(&create_sale(client, fake, token, &body).await));
    }
    created
}

async fn list(client: &Client, fake: &FakePayroc, token: &str, query: &str) -> reqwest::Response {
    let url = format!("{}{query}", payments_url(fake));
    send(get_with(client, &url, token)).await
}

async fn page(client: &Client, fake: &FakePayroc, token: &str, query: &str) -> Value {
    let response = list(client, fake, token, query).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("a page")
}

fn link<'a>(page: &'a Value, rel: &str) -> Option<&'a str> {
    let links = page["links"].as_array().expect("a links array");
    let found = links.iter().find(|link| link["rel"] == rel)?;
    assert_eq!(found["method"], "get");
    found["href"].as_str()
}

#[tokio::test]
async fn lists_only_the_callers_payments_oldest_first_ten_by_default() {
    let (fake, client) = (start_two().await, client());
    let (token_a, token_b) = (
        token_of(&client, &fake, KEY_A).await,
        token_of(&client, &fake, KEY_B).await,
    );
    let own = create_many(&client, &fake, &token_a, TERMINAL_A, 11).await;
    create_many(&client, &fake, &token_b, TERMINAL_B, 2).await;

    let first = page(&client, &fake, &token_a, "").await;

    assert_eq!(
        (&first["limit"], &first["count"], &first["hasMore"]),
        (&json!(10), &json!(10), &json!(true))
    );
    assert_eq!(ids(&first), own[..10]);
    assert_eq!(first["data"][0]["order"]["orderId"], "Order0");
    assert_eq!(link(&first, "previous"), None);
    let next = link(&first, "next").expect("a next link");
    assert_eq!(
        next,
        format!("{}?after={}&limit=10", payments_url(&fake), own[9])
    );
    let rest: Value = send(get_with(&client, next, &token_a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&rest), own[10..]);
    assert_eq!(
        (&rest["hasMore"], &rest["count"]),
        (&json!(false), &json!(1))
    );
}

#[tokio::test]
async fn filters_by_terminal_and_order_id() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_A).await;
    let on_first = create_many(&client, &fake, &token, TERMINAL_A, 2).await;
    let on_second = create_many(&client, &fake, &token, TERMINAL_A2, 2).await;

    let by_terminal = page(
        &client,
        &fake,
        &token,
        &format!("?processingTerminalId={TERMINAL_A2}"),
    )
    .await;
    let by_order = page(&client, &fake, &token, "?orderId=Order1").await;
    let both = format!("?processingTerminalId={TERMINAL_A}&orderId=Order1");
    let by_both = page(&client, &fake, &token, &both).await;
    let foreign = page(
        &client,
        &fake,
        &token,
        &format!("?processingTerminalId={TERMINAL_B}"),
    )
    .await;

    assert_eq!(ids(&by_terminal), on_second);
    assert_eq!(ids(&by_order), [on_first[1].clone(), on_second[1].clone()]);
    assert_eq!(ids(&by_both), [on_first[1].clone()]);
    assert_eq!(
        foreign,
        json!({"limit": 10, "count": 0, "hasMore": false, "links": [], "data": []})
    );
}

#[tokio::test]
async fn pages_forwards_and_backwards_with_cursors_and_keeps_filters_in_links() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_A).await;
    let all = create_many(&client, &fake, &token, TERMINAL_A, 5).await;
    create_many(&client, &fake, &token, TERMINAL_A2, 1).await;
    let filter = format!("processingTerminalId={TERMINAL_A}");

    let middle = page(
        &client,
        &fake,
        &token,
        &format!("?{filter}&limit=2&after={}", all[1]),
    )
    .await;
    let before = page(
        &client,
        &fake,
        &token,
        &format!("?limit=2&before={}", all[2]),
    )
    .await;
    let last = page(
        &client,
        &fake,
        &token,
        &format!("?{filter}&limit=2&after={}", all[3]),
    )
    .await;

    assert_eq!(ids(&middle), all[2..4]);
    assert_eq!(middle["hasMore"], true);
    let base = payments_url(&fake);
    let previous = format!("{base}?{filter}&before={}&limit=2", all[2]);
    assert_eq!(link(&middle, "previous"), Some(previous.as_str()));
    let next = format!("{base}?{filter}&after={}&limit=2", all[3]);
    assert_eq!(link(&middle, "next"), Some(next.as_str()));
    assert_eq!(ids(&before), all[..2]);
    assert_eq!(before["hasMore"], false, "nothing before the first payment");
    assert_eq!(ids(&last), all[4..]);
    assert_eq!(
        (&last["hasMore"], link(&last, "next")),
        (&json!(false), None)
    );
}

#[tokio::test]
async fn refuses_a_limit_outside_1_to_100_naming_limit() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_A).await;

    for query in ["?limit=0", "?limit=101", "?limit=ten", "?limit=-1"] {
        let response = list(&client, &fake, &token, query).await;
        let invalid = problem(response, 400, "bad-request").await;
        assert_eq!(parameters(&invalid), ["limit"], "{query}");
    }
    assert_eq!(
        page(&client, &fake, &token, "?limit=100").await["limit"],
        100
    );
}

#[tokio::test]
async fn refuses_both_cursors_and_a_cursor_naming_no_payment_of_the_callers() {
    let (fake, client) = (start_two().await, client());
    let (token_a, token_b) = (
        token_of(&client, &fake, KEY_A).await,
        token_of(&client, &fake, KEY_B).await,
    );
    let foreign = create_many(&client, &fake, &token_b, TERMINAL_B, 1).await;

    let both = list(
        &client,
        &fake,
        &token_a,
        "?before=AAAAAAAAAA&after=BBBBBBBBBB",
    )
    .await;
    let both = problem(both, 400, "bad-request").await;
    let stolen = list(&client, &fake, &token_a, &format!("?after={}", foreign[0])).await;
    let stolen = problem(stolen, 400, "bad-request").await;
    let unknown = list(&client, &fake, &token_a, "?after=ZZZZZZZZZZ").await;
    let unknown = problem(unknown, 400, "bad-request").await;

    assert_eq!(parameters(&both), ["before"]);
    assert_eq!(parameters(&stolen), ["after"]);
    assert_eq!(
        stolen["errors"][0]["detail"],
        unknown["errors"][0]["detail"]
    );
}

#[tokio::test]
async fn records_the_query_raw_and_ignores_parameters_it_does_not_know() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_A).await;
    let query = "tender=ebt&limit=3&cardholderName=Sarah%20Hazel%20Hopper&x=1+2&x=3";

    let listed = page(&client, &fake, &token, &format!("?{query}")).await;
    list(&client, &fake, &token, "").await;

    assert_eq!(listed["limit"], 3);
    let recorded = fake.api_requests();
    assert_eq!(recorded[0].query.as_deref(), Some(query));
    assert_eq!(
        (recorded[0].method.as_str(), recorded[0].path.as_str()),
        ("GET", "/v1/payments")
    );
    assert_eq!(recorded[1].query, None);
    assert_eq!(recorded[0].api_key.as_deref(), Some(KEY_A));
}
