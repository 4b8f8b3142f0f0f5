//! Admin decisions on changed tool definitions, the same over REST and the CLI: the error
//! mapping and the audit event, which keeps the approved (or rejected) text.
use mcp_audit::{AuditEvent, EventType};
use mcp_core::StoreError;
use mcp_gateway::PinRecord;
use serde_json::json;

use crate::error::ApiError;

/// Maps a refused decision: no such pin 404, no pending definition with that hash (it changed
/// again, or was decided already) 409, a malformed name 422.
pub fn error(err: mcp_gateway::Error) -> ApiError {
    match err {
        mcp_gateway::Error::Store(StoreError::NotFound(m)) => ApiError::NotFound(m),
        mcp_gateway::Error::Store(StoreError::Conflict(m)) => ApiError::Conflict(m),
        mcp_gateway::Error::Store(StoreError::Invalid(m)) => ApiError::Unprocessable(m),
        mcp_gateway::Error::Store(e) => e.into(),
        other => ApiError::internal(other),
    }
}

/// The audit event of a decision by `user` on definition `hash` of `record`'s tool
/// (`record` as it is after the decision): a `gateway` event `definition_approved` with the
/// approved text, or `definition_rejected` with the rejected text.
pub fn event(record: &PinRecord, hash: &str, user: &str, approved: bool) -> AuditEvent {
    let (action, definition) = if approved {
        ("definition_approved", Some(&record.approved))
    } else {
        ("definition_rejected", record.rejected.as_ref())
    };
    let mut event = AuditEvent::new(EventType::Gateway)
        .with_user(user.to_owned())
        .with_action(action)
        .with_resource(mcp_gateway::names::permission(
            &record.namespace,
            &record.tool,
        ))
        .with_success(true)
        .with_detail("namespace", json!(record.namespace))
        .with_detail("tool", json!(record.tool))
        .with_detail("hash", json!(hash));
    if let Some(d) = definition {
        event = event.with_detail("text", json!(d.text));
    }
    event
}

#[cfg(test)]
mod tests {
    use mcp_gateway::PinnedDefinition;

    use super::*;

    #[test]
    fn an_approval_event_keeps_the_approved_text() {
        let def = PinnedDefinition::from_value(&json!({"name": "t", "description": "v2"}));
        let record = PinRecord::first_seen("fs", "t", def.clone(), chrono::Utc::now());
        let event = event(&record, &def.hash, "u-1", true);
        assert_eq!(event.event_type, EventType::Gateway);
        assert_eq!(event.action.as_deref(), Some("definition_approved"));
        assert_eq!(event.details["text"], def.text);
        assert_eq!(event.resource.as_deref(), Some("upstream:fs:t"));
        assert_eq!(
            error(mcp_gateway::Error::Store(StoreError::Conflict("x".into()))).code(),
            "conflict"
        );
    }
}
