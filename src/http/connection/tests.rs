//! The connection bookkeeping on a paused clock.

use super::*;

fn limits() -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(30),
        max_header_bytes: 16 * 1024,
        max_connections: 4,
    }
}

#[tokio::test(start_paused = true)]
async fn idle_then_reading_then_busy_then_idle_again() {
    let table = Arc::new(Connections::new());
    let conn = table.open();
    let a = &conn.activity;
    let opened = Instant::now();
    assert_eq!(
        a.deadline(&limits()),
        Some(opened + Duration::from_secs(30))
    );
    tokio::time::advance(Duration::from_secs(5)).await;
    a.saw_bytes();
    let first_byte = Instant::now();
    assert_eq!(
        a.deadline(&limits()),
        Some(first_byte + Duration::from_secs(10))
    );
    a.saw_bytes(); // later bytes of the same head do not extend it
    a.begin();
    assert_eq!(
        a.deadline(&limits()),
        None,
        "a request in service is never cut"
    );
    tokio::time::advance(Duration::from_secs(60)).await;
    a.saw_bytes(); // the body's bytes do not start a header timer
    a.end();
    let idle = Instant::now();
    assert_eq!(a.deadline(&limits()), Some(idle + Duration::from_secs(30)));
}

#[tokio::test(start_paused = true)]
async fn the_longest_idle_connection_is_asked_to_make_room_and_busy_ones_never() {
    let table = Arc::new(Connections::new());
    let oldest = table.open();
    tokio::time::advance(Duration::from_secs(1)).await;
    let newer = table.open();
    oldest.activity.begin();
    assert!(table.evict_longest_idle());
    // `newer` holds the permit; the busy `oldest` was skipped.
    tokio::time::timeout(Duration::from_millis(1), newer.activity.evicted())
        .await
        .expect("the idle connection was told to close");
    assert!(
        tokio::time::timeout(Duration::from_millis(1), oldest.activity.evicted())
            .await
            .is_err()
    );
    newer.activity.begin();
    assert!(!table.evict_longest_idle(), "every connection is busy");
    drop(newer);
    assert_eq!(
        table.lock().len(),
        1,
        "a closed connection leaves the table"
    );
}
