//! Cursor pagination of `tools/list`, `resources/list`, `resources/templates/list` and
//! `prompts/list`: at most `[mcp] page_size` items per answer, and an opaque `nextCursor` while
//! more follow. A cursor is the offset of the next item, tagged and hex-encoded so clients
//! treat it as opaque; one that was not made here is -32602, as the specification asks.
use rmcp::model::{ErrorData, PaginatedRequestParams};

const TAG: &str = "mcp-page:";

fn encode(offset: usize) -> String {
    hex::encode(format!("{TAG}{offset}"))
}

fn decode(cursor: &str) -> Option<usize> {
    let text = String::from_utf8(hex::decode(cursor).ok()?).ok()?;
    text.strip_prefix(TAG)?.parse().ok()
}

/// The page of `items` the request's cursor points at, and the cursor of the next one.
pub fn page<T>(
    items: Vec<T>,
    request: Option<&PaginatedRequestParams>,
    size: usize,
) -> Result<(Vec<T>, Option<String>), ErrorData> {
    let size = size.max(1);
    let start = match request.and_then(|r| r.cursor.as_deref()) {
        None => 0,
        Some(cursor) => decode(cursor)
            .filter(|offset| *offset <= items.len())
            .ok_or_else(|| {
                ErrorData::invalid_params(
                    "invalid cursor: pass back a nextCursor of the same list",
                    None,
                )
            })?,
    };
    let end = start.saturating_add(size).min(items.len());
    let next = (end < items.len()).then(|| encode(end));
    Ok((
        items.into_iter().skip(start).take(end - start).collect(),
        next,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cursor: Option<String>) -> PaginatedRequestParams {
        let mut r = PaginatedRequestParams::default();
        r.cursor = cursor;
        r
    }

    #[test]
    fn pages_follow_each_other_until_the_last_has_no_cursor() {
        let items: Vec<u32> = (0..7).collect();
        let (first, next) = page(items.clone(), None, 3).unwrap();
        assert_eq!(first, [0, 1, 2]);
        let (second, next) = page(items.clone(), Some(&request(next)), 3).unwrap();
        assert_eq!(second, [3, 4, 5]);
        let (last, next) = page(items.clone(), Some(&request(next)), 3).unwrap();
        assert_eq!(last, [6]);
        assert!(next.is_none());
        let (all, next) = page(items, None, 100).unwrap();
        assert_eq!(all.len(), 7);
        assert!(next.is_none());
    }

    #[test]
    fn a_cursor_not_made_here_is_invalid_params() {
        let items: Vec<u32> = (0..3).collect();
        for bad in [
            "",
            "zz",
            "3",
            &hex::encode("mcp-page:99"),
            &hex::encode("other:1"),
        ] {
            let err = page(items.clone(), Some(&request(Some(bad.to_owned()))), 2).unwrap_err();
            assert_eq!(err.code, rmcp::model::ErrorCode::INVALID_PARAMS, "{bad}");
        }
    }
}
