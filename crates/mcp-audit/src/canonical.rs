//! Canonical JSON writing: the exact bytes the hash chain covers (rules in [`crate::chain`]).
//!
//! [`event`] writes an [`AuditEvent`] directly, with its fields in sorted order, without
//! building a `serde_json::Value` first; the tests check it byte for byte against the generic
//! path ([`value`] of `serde_json::to_value(event)`), which is the definition.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::event::{AuditEvent, timestamp_format};

/// The text a backend stored for the fields whose parsed value forgets how it was written
/// (a timestamp's offset, an id's case, a JSON object's spacing and key order). Verification
/// hashes these texts as stored, so a rewrite that keeps the parsed meaning still changes the
/// hash; for the fields not listed the parsed value is its only text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoredText<'a> {
    /// The stored `event_id`.
    pub(crate) event_id: &'a str,
    /// The stored `timestamp`.
    pub(crate) timestamp: &'a str,
    /// The stored `ip_address`.
    pub(crate) ip_address: Option<&'a str>,
    /// The stored `details` (JSON text, put into the hashed text as it is).
    pub(crate) details: &'a str,
}

/// Canonical JSON of `event`, given the canonical JSON of its `details`.
pub(crate) fn event_with_details(event: &AuditEvent, details: &str) -> String {
    let event_id = event.event_id.hyphenated().to_string();
    let timestamp = timestamp_format::format(&event.timestamp);
    let ip_address = event.ip_address.map(|ip| ip.to_string());
    as_stored(
        event,
        StoredText {
            event_id: &event_id,
            timestamp: &timestamp,
            ip_address: ip_address.as_deref(),
            details,
        },
    )
}

/// The text the chain hashes for a stored event: [`event`]'s layout with the stored texts of
/// [`StoredText`]'s fields. Equal to [`event`] exactly when those texts are canonical.
pub(crate) fn as_stored(event: &AuditEvent, stored: StoredText<'_>) -> String {
    let details = stored.details;
    let mut out = String::with_capacity(320 + details.len());
    // Keys in byte order: action, details, duration_ms, error_message, event_id, event_type,
    // ip_address, request_id, resource, session_id, success, timestamp, user_agent, user_id.
    out.push_str("{\"action\":");
    opt_str(&mut out, event.action.as_deref());
    out.push_str(",\"details\":");
    out.push_str(details);
    out.push_str(",\"duration_ms\":");
    match event.duration_ms {
        Some(ms) => {
            let _ = write!(out, "{ms}");
        }
        None => out.push_str("null"),
    }
    out.push_str(",\"error_message\":");
    opt_str(&mut out, event.error_message.as_deref());
    out.push_str(",\"event_id\":");
    write_str(stored.event_id, &mut out);
    let _ = write!(out, ",\"event_type\":\"{}\"", event.event_type.as_str());
    out.push_str(",\"ip_address\":");
    opt_str(&mut out, stored.ip_address);
    out.push_str(",\"request_id\":");
    opt_str(&mut out, event.request_id.as_deref());
    out.push_str(",\"resource\":");
    opt_str(&mut out, event.resource.as_deref());
    out.push_str(",\"session_id\":");
    opt_str(&mut out, event.session_id.as_deref());
    out.push_str(if event.success {
        ",\"success\":true"
    } else {
        ",\"success\":false"
    });
    out.push_str(",\"timestamp\":");
    write_str(stored.timestamp, &mut out);
    out.push_str(",\"user_agent\":");
    opt_str(&mut out, event.user_agent.as_deref());
    out.push_str(",\"user_id\":");
    opt_str(&mut out, event.user_id.as_deref());
    out.push('}');
    out
}

/// Canonical JSON of `event`.
pub(crate) fn event(event: &AuditEvent) -> String {
    event_with_details(event, &map(&event.details))
}

/// Canonical JSON of a JSON object.
pub(crate) fn map(map: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(64);
    write_map(map, &mut out);
    out
}

/// Canonical JSON of any value.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn value(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write_value(value, &mut out);
    out
}

fn write_map(map: &Map<String, Value>, out: &mut String) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push('{');
    for (i, (key, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(key, out);
        out.push(':');
        write_value(v, out);
    }
    out.push('}');
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        // `Number`'s Display is the same itoa/ryu text serde_json writes.
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(v, out);
            }
            out.push(']');
        }
        Value::Object(m) => write_map(m, out),
    }
}

fn opt_str(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => write_str(s, out),
        None => out.push_str("null"),
    }
}

/// A JSON string literal, escaped exactly as serde_json does: `"` and `\` backslashed,
/// `\b \t \n \f \r` short, other control characters as `\u00xx`, everything else verbatim.
fn write_str(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::event::EventType;

    fn reference(event: &AuditEvent) -> String {
        value(&serde_json::to_value(event).unwrap())
    }

    #[test]
    fn direct_writer_matches_the_generic_definition() {
        let awkward: String = (0u8..0x20)
            .map(char::from)
            .chain("\"\\/ü€😀\u{7f}é".chars())
            .collect();
        let events = [
            AuditEvent::new(EventType::DataRead),
            AuditEvent::code_execution("u", "py", "x", None, Duration::from_millis(3)),
            AuditEvent::new(EventType::AuthFailure)
                .with_user(awkward.clone())
                .with_user_agent(awkward.clone())
                .with_ip(Some("::ffff:10.0.0.1".parse().unwrap()))
                .with_resource("r")
                .with_action("a")
                .with_request_id("q")
                .with_session_id("s")
                .with_duration_ms(u64::MAX)
                .with_error_message(awkward.clone())
                .with_detail(
                    awkward.clone(),
                    json!([awkward, 1.5e300, -0.0, 0.1, -7, u64::MAX, {"b": 1, "a": [null, true]}]),
                )
                .with_detail("B", 1)
                .with_detail("a", 2),
        ];
        for event in &events {
            assert_eq!(super::event(event), reference(event));
        }
        let mut out = String::new();
        write_str(&awkward, &mut out);
        assert_eq!(out, serde_json::to_string(&awkward).unwrap());
    }
}
