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

/// The id to use for a request: the client's if it is 1–128 characters of `[A-Za-z0-9._:-]`,
/// else a new UUID.
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
        _ => uuid::Uuid::new_v4().to_string(),
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

    #[tokio::test]
    async fn the_id_is_visible_inside_its_scope_only() {
        assert_eq!(current(), None);
        let seen = scope("r1".into(), async { current() }).await;
        assert_eq!(seen.as_deref(), Some("r1"));
    }
}
