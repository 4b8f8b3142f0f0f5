//! How large an audit event can be: every text field and every string in `details` follows
//! [`mcp_core::bounded`] (at most [`MAX_TEXT_BYTES`](mcp_core::bounded::MAX_TEXT_BYTES) bytes),
//! `details` is at most [`MAX_DETAILS_BYTES`] of canonical JSON, and so a whole event's
//! canonical JSON is at most [`MAX_EVENT_BYTES`]. [`AuditLogger`](crate::AuditLogger) applies
//! [`AuditEvent::bounded`] to every event it is given.

use mcp_core::bounded;
use serde_json::{Map, Value};

use crate::canonical;
use crate::event::AuditEvent;

/// The most canonical JSON bytes an event's `details` keeps; entries beyond it are dropped
/// whole (by key order) and counted in a `details_cut` entry.
pub const MAX_DETAILS_BYTES: usize = 8 * 1024;

/// The most bytes of an event's canonical JSON (the text the chain hashes and the SQLite and
/// Neo4j sinks store, column by column) once [`AuditEvent::bounded`] has run: seven bounded text
/// fields escaped at worst six bytes per byte (control characters), `details`, and the fixed
/// fields.
pub const MAX_EVENT_BYTES: usize = 32 * 1024;

/// Room kept free under [`MAX_DETAILS_BYTES`] for the `details_cut` entry.
const CUT_ENTRY_ROOM: usize = 96;

impl AuditEvent {
    /// This event within the documented bounds: each text field cut by
    /// [`mcp_core::bounded::text`], each string (key or value) inside `details` too, and
    /// `details` cut to [`MAX_DETAILS_BYTES`]. An event already within them is unchanged.
    pub fn bounded(mut self) -> Self {
        for field in [
            &mut self.user_id,
            &mut self.user_agent,
            &mut self.resource,
            &mut self.action,
            &mut self.request_id,
            &mut self.session_id,
            &mut self.error_message,
        ] {
            if let Some(text) = field.take() {
                *field = Some(bounded::text_owned(text));
            }
        }
        if needs_bounding(&self.details) {
            self.details = bound_details(std::mem::take(&mut self.details));
        }
        self
    }
}

/// Whether any string in `details` is too long or the whole is too large (cheap when neither).
fn needs_bounding(details: &Map<String, Value>) -> bool {
    fn long_strings(v: &Value) -> bool {
        match v {
            Value::String(s) => s.len() > bounded::MAX_TEXT_BYTES,
            Value::Array(items) => items.iter().any(long_strings),
            Value::Object(m) => m
                .iter()
                .any(|(k, v)| k.len() > bounded::MAX_TEXT_BYTES || long_strings(v)),
            _ => false,
        }
    }
    details
        .iter()
        .any(|(k, v)| k.len() > bounded::MAX_TEXT_BYTES || long_strings(v))
        // The canonical text is written only when the cheap bound cannot rule out a cut (the
        // sink writes it again anyway, once per event).
        || (map_size_bound(details) > MAX_DETAILS_BYTES
            && canonical::map(details).len() > MAX_DETAILS_BYTES)
}

/// At least the length of `map`'s canonical JSON: every byte of a string counted as the
/// longest escape (`\u00XX`, six bytes), every number as 32 bytes (`serde_json` writes at most
/// 20 for an integer and 24 for a float).
fn map_size_bound(map: &Map<String, Value>) -> usize {
    2 + map
        .iter()
        .map(|(k, v)| str_size_bound(k) + 1 + value_size_bound(v) + 1)
        .sum::<usize>()
}

fn str_size_bound(s: &str) -> usize {
    2 + 6 * s.len()
}

fn value_size_bound(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 32,
        Value::String(s) => str_size_bound(s),
        Value::Array(items) => 2 + items.iter().map(|v| value_size_bound(v) + 1).sum::<usize>(),
        Value::Object(m) => map_size_bound(m),
    }
}

fn bound_value(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(bounded::text_owned(s)),
        Value::Array(items) => Value::Array(items.into_iter().map(bound_value).collect()),
        Value::Object(m) => Value::Object(bound_map(m)),
        other => other,
    }
}

fn bound_map(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter()
        .map(|(k, v)| (bounded::text_owned(k), bound_value(v)))
        .collect()
}

fn bound_details(details: Map<String, Value>) -> Map<String, Value> {
    let details = bound_map(details);
    let original = canonical::map(&details).len();
    if original <= MAX_DETAILS_BYTES {
        return details;
    }
    let mut entries: Vec<(String, Value)> = details.into_iter().collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let budget = MAX_DETAILS_BYTES - CUT_ENTRY_ROOM;
    let mut kept = Map::new();
    // `{}` plus, per entry, a comma, the quoted key, a colon and the value.
    let mut size = 2;
    let mut dropped = 0usize;
    for (key, value) in entries {
        let entry = canonical::value(&Value::String(key.clone())).len()
            + 2
            + canonical::value(&value).len();
        if size + entry <= budget {
            size += entry;
            kept.insert(key, value);
        } else {
            dropped += 1;
        }
    }
    kept.insert(
        "details_cut".to_owned(),
        serde_json::json!({ "dropped_entries": dropped, "original_bytes": original }),
    );
    kept
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::EventType;

    fn worst_text() -> String {
        // Control characters: six bytes each once escaped as JSON.
        "\u{1}".repeat(10 * bounded::MAX_TEXT_BYTES)
    }

    #[test]
    fn an_event_within_the_bounds_is_unchanged() {
        let event = AuditEvent::code_execution("u", "python", "x", Some(0), Duration::ZERO)
            .with_user_agent("curl/8")
            .with_detail("nested", json!({"a": [1, "two", null]}));
        assert_eq!(event.clone().bounded(), event);
    }

    #[test]
    fn the_worst_event_fits_the_documented_maximum() {
        let huge = worst_text();
        let mut event = AuditEvent::new(EventType::AuthFailure)
            .with_user(huge.clone())
            .with_user_agent(huge.clone())
            .with_resource(huge.clone())
            .with_action(huge.clone())
            .with_request_id(huge.clone())
            .with_session_id(huge.clone())
            .with_error_message(huge.clone())
            .with_ip(Some(
                "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
                    .parse()
                    .unwrap(),
            ))
            .with_duration_ms(u64::MAX);
        for i in 0..100 {
            event = event.with_detail(format!("{i:03}{huge}"), json!([huge, {"k": huge}]));
        }
        let bounded = event.bounded();
        let size = crate::chain::canonical_json(&bounded).len();
        assert!(size <= MAX_EVENT_BYTES, "{size}");
        assert!(canonical::map(&bounded.details).len() <= MAX_DETAILS_BYTES);
        assert_eq!(
            bounded.details["details_cut"]["dropped_entries"]
                .as_u64()
                .unwrap()
                + bounded.details.len() as u64
                - 1,
            100
        );
        // Bounding again changes nothing.
        assert_eq!(bounded.clone().bounded(), bounded);
    }

    #[test]
    fn the_size_bound_is_never_below_the_canonical_size() {
        let details: Map<String, Value> = serde_json::from_value(json!({
            "plain": "text",
            "controls": "\u{1}\u{1f}\"\\\n",
            "unicode": "żółw 🐢",
            "numbers": [0, -1, u64::MAX, i64::MIN, 1.5e300, -2.2250738585072014e-308, 0.1],
            "nested": {"b": [true, false, null, {"x": "\u{7f}"}], "a": {}},
            "": [],
        }))
        .unwrap();
        assert!(map_size_bound(&details) >= canonical::map(&details).len());
        for (key, value) in &details {
            let one = Map::from_iter([(key.clone(), value.clone())]);
            assert!(map_size_bound(&one) >= canonical::map(&one).len(), "{key}");
        }
        assert!(map_size_bound(&Map::new()) >= 2);
    }

    /// Details whose canonical JSON is exactly `size` bytes of plain text (no escapes, so the
    /// cheap bound is far above the real size and the exact size has to decide).
    fn details_of_size(size: usize) -> Map<String, Value> {
        let mut details = Map::new();
        let mut i = 0;
        loop {
            let mut with_last = details.clone();
            with_last.insert("z".to_owned(), json!(""));
            let room = size - canonical::map(&with_last).len();
            if room <= bounded::MAX_TEXT_BYTES {
                details.insert("z".to_owned(), json!("a".repeat(room)));
                return details;
            }
            details.insert(format!("k{i:03}"), json!("a".repeat(400)));
            i += 1;
        }
    }

    #[test]
    fn details_just_over_the_limit_are_cut_and_just_under_are_kept() {
        let fits = details_of_size(MAX_DETAILS_BYTES);
        assert_eq!(canonical::map(&fits).len(), MAX_DETAILS_BYTES);
        let mut event = AuditEvent::new(EventType::DataRead);
        event.details = fits;
        assert_eq!(event.clone().bounded(), event);
        event.details = details_of_size(MAX_DETAILS_BYTES + 1);
        assert!(event.bounded().details.contains_key("details_cut"));
    }

    #[test]
    fn a_long_user_name_in_details_is_cut_by_the_one_rule() {
        let name = "n".repeat(200_000);
        let event = AuditEvent::new(EventType::AuthFailure)
            .with_detail("username", name.clone())
            .bounded();
        let kept = event.details["username"].as_str().unwrap();
        assert_eq!(kept, bounded::text(&name));
    }
}
