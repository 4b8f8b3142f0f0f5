//! Request ids: taken from `X-Request-Id` when it is sane, made up otherwise, and visible to
//! everything that runs inside the request (error bodies, audit events, log lines).

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The header carrying the request id, both ways.
pub const HEADER: &str = "x-request-id";

/// The id of the request being handled, if called inside one.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `fut` with `id` as the current request id.
pub async fn scope<F: Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// A new request id: a UUID v7, so ids made one after another sort by time and the audit
/// store's `request_id` index grows at its end (a random v4 id put each audit row on a
/// different index page, which made the SQLite audit writer fall behind under load).
pub fn new() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The id to use for a request: the client's if it is 1–128 characters of `[A-Za-z0-9._:-]`,
/// else a [`new`] one.
pub fn accept_or_make(client: Option<&str>) -> String {
    match client {
        Some(id)
            if !id.is_empty()
                && id.len() <= 128
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b)) =>
        {
            id.to_owned()
        }
        _ => new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_client_id_is_kept_and_a_strange_one_replaced() {
        assert_eq!(accept_or_make(Some("abc-123")), "abc-123");
        let made = accept_or_make(Some("bad id\nwith newline"));
        assert_eq!(made.len(), 36);
        assert_eq!(accept_or_make(None).len(), 36);
    }

    #[test]
    fn made_ids_are_uuid_v7_in_time_order() {
        let ids: Vec<String> = (0..100).map(|_| new()).collect();
        for id in &ids {
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.get_version_num(), 7, "{id}");
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(
            sorted, ids,
            "ids made one after another sort in the order they were made"
        );
    }

    #[tokio::test]
    async fn the_id_is_visible_inside_its_scope_only() {
        assert_eq!(current(), None);
        let seen = scope("r1".into(), async { current() }).await;
        assert_eq!(seen.as_deref(), Some("r1"));
    }
}
