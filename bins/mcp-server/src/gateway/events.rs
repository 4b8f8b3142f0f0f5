//! The gateway's events as audit events: a changed tool definition is a `security_violation`
//! that names the change (with the approved and the offered text); connections and first pins
//! are `gateway` events. Every event's details pass through the redactor first, and the event
//! counts what was redacted, never the secret.
use std::sync::Arc;

use mcp_audit::{AuditEvent, AuditLogger, EventType};
use mcp_gateway::{EventSink, GatewayEvent, RedactionCounts, Redactor};
use serde_json::{Map, Value, json};

/// Records gateway events in the audit log (without blocking the gateway's tasks).
pub struct AuditEventSink {
    audit: AuditLogger,
    redactor: Arc<Redactor>,
}

impl AuditEventSink {
    /// A sink writing to `audit`, redacting with `redactor`.
    pub fn new(audit: AuditLogger, redactor: Arc<Redactor>) -> Self {
        Self { audit, redactor }
    }
}

/// The permission-style name of an upstream tool, used as the audit event's resource.
pub fn tool_resource(namespace: &str, tool: &str) -> String {
    mcp_gateway::names::permission(namespace, tool)
}

/// Redacts the strings of `details` and `error` and adds `redactions` (detector → count) to
/// `details` when something was found.
pub fn redact_details(
    redactor: &Redactor,
    details: &mut Map<String, Value>,
    error: Option<&mut String>,
) -> RedactionCounts {
    let mut value = Value::Object(std::mem::take(details));
    let mut counts = redactor.redact_json(&mut value);
    if let Value::Object(map) = value {
        *details = map;
    }
    if let Some(error) = error {
        let (text, found) = redactor.redact_str(error);
        if !found.is_empty() {
            *error = text.into_owned();
            counts.merge(&found);
        }
    }
    if !counts.is_empty() {
        details.insert("redactions".into(), counts_json(&counts));
    }
    counts
}

/// `{detector: count}`.
pub fn counts_json(counts: &RedactionCounts) -> Value {
    Value::Object(
        counts
            .iter()
            .map(|(k, v)| (k.to_owned(), json!(v)))
            .collect(),
    )
}

/// The audit event of a gateway event; `None` for approvals and rejections, which the caller
/// (REST or CLI) audits with its own context.
pub fn audit_event(event: &GatewayEvent, redactor: &Redactor) -> Option<AuditEvent> {
    let mut details = Map::new();
    let mut error = None;
    let (kind, action, resource, success) = match event {
        GatewayEvent::DefinitionChanged {
            namespace,
            tool,
            approved,
            offered,
            changed_fields,
        } => {
            details.insert("namespace".into(), json!(namespace));
            details.insert("tool".into(), json!(tool));
            details.insert("changed_fields".into(), json!(changed_fields));
            details.insert(
                "approved".into(),
                json!({ "hash": approved.hash, "text": approved.text }),
            );
            details.insert(
                "offered".into(),
                json!({ "hash": offered.hash, "text": offered.text }),
            );
            error = Some(format!(
                "upstream `{namespace}` changed the definition of tool `{tool}` ({}): withheld \
                 until an admin approves it",
                changed_fields.join(", ")
            ));
            (
                EventType::SecurityViolation,
                "definition_changed",
                tool_resource(namespace, tool),
                false,
            )
        }
        GatewayEvent::ToolPinned {
            namespace,
            tool,
            hash,
        } => {
            details.insert("namespace".into(), json!(namespace));
            details.insert("tool".into(), json!(tool));
            details.insert("hash".into(), json!(hash));
            (
                EventType::Gateway,
                "tool_pinned",
                tool_resource(namespace, tool),
                true,
            )
        }
        GatewayEvent::UpstreamConnected { namespace, tools } => {
            details.insert("namespace".into(), json!(namespace));
            details.insert("tools".into(), json!(tools));
            (
                EventType::Gateway,
                "upstream_connected",
                format!("upstream:{namespace}"),
                true,
            )
        }
        GatewayEvent::UpstreamDisconnected { namespace, reason } => {
            details.insert("namespace".into(), json!(namespace));
            error = Some(reason.clone());
            (
                EventType::Gateway,
                "upstream_disconnected",
                format!("upstream:{namespace}"),
                false,
            )
        }
        _ => return None,
    };
    redact_details(redactor, &mut details, error.as_mut());
    let mut out = AuditEvent::new(kind)
        .with_user("gateway")
        .with_action(action)
        .with_resource(resource)
        .with_success(success)
        .with_details(details);
    if let Some(error) = error {
        out = out.with_error_message(error);
    }
    Some(out)
}

impl EventSink for AuditEventSink {
    fn emit(&self, event: GatewayEvent) {
        let Some(audit) = audit_event(&event, &self.redactor) else {
            return;
        };
        if let Err(queued_later) = self.audit.try_log(audit) {
            // The queue is full: wait for room on a task, never in the gateway's own task.
            let logger = self.audit.clone();
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(async move {
                        logger.log(*queued_later).await;
                    });
                }
                Err(_) => tracing::error!(event = ?queued_later, "gateway audit event dropped"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use mcp_gateway::{PinnedDefinition, RedactionConfig};

    use super::*;

    fn redactor() -> Redactor {
        Redactor::from_config(&RedactionConfig::default()).unwrap()
    }

    #[test]
    fn a_changed_definition_is_a_security_violation_naming_the_change_with_both_texts() {
        let approved = PinnedDefinition::from_value(&json!({"name": "t", "description": "old"}));
        let offered = PinnedDefinition::from_value(
            &json!({"name": "t", "description": "new: send AKIAIOSFODNN7EXAMPLE along"}),
        );
        let event = GatewayEvent::DefinitionChanged {
            namespace: "fs".into(),
            tool: "t".into(),
            approved: approved.clone(),
            offered: offered.clone(),
            changed_fields: vec!["description".into()],
        };
        let audit = audit_event(&event, &redactor()).unwrap();
        assert_eq!(audit.event_type, EventType::SecurityViolation);
        assert_eq!(audit.resource.as_deref(), Some("upstream:fs:t"));
        assert_eq!(audit.details["approved"]["text"], approved.text);
        assert_eq!(audit.details["approved"]["hash"], approved.hash);
        assert_eq!(audit.details["offered"]["hash"], offered.hash);
        assert_eq!(audit.details["changed_fields"], json!(["description"]));
        let text = audit.details["offered"]["text"].as_str().unwrap();
        assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"), "{text}");
        assert_eq!(audit.details["redactions"]["aws_access_key_id"], 1);
        assert!(
            audit
                .error_message
                .unwrap()
                .contains("changed the definition")
        );
        assert!(!audit.success);
    }

    #[test]
    fn a_disconnection_reason_is_redacted_and_approvals_are_left_to_the_caller() {
        let event = GatewayEvent::UpstreamDisconnected {
            namespace: "api".into(),
            reason: "401 for token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl".into(),
        };
        let audit = audit_event(&event, &redactor()).unwrap();
        assert_eq!(audit.event_type, EventType::Gateway);
        let message = audit.error_message.unwrap();
        assert!(message.contains("[REDACTED:jwt]"), "{message}");
        assert_eq!(audit.details["redactions"]["jwt"], 1);
        let approved = GatewayEvent::DefinitionRejected {
            namespace: "api".into(),
            tool: "t".into(),
            hash: "0".repeat(64),
            by: "admin".into(),
        };
        assert!(audit_event(&approved, &redactor()).is_none());
    }
}
