//! The audit event record and its kinds.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::Error;

/// What kind of thing an [`AuditEvent`] records. Serialized in `snake_case`
/// (`"auth_failure"`), which is also what [`FromStr`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventType {
    /// A principal proved who it is.
    AuthSuccess,
    /// An authentication attempt failed.
    AuthFailure,
    /// A token was checked.
    TokenValidation,
    /// A token was revoked.
    TokenRevoked,
    /// A permission check allowed the request.
    AuthzGranted,
    /// A permission check refused the request.
    AuthzDenied,
    /// Data was read.
    DataRead,
    /// Data was written.
    DataWrite,
    /// Data was deleted.
    DataDelete,
    /// Code ran in the sandbox.
    CodeExecution,
    /// Code was linted.
    CodeLint,
    /// Tests were run.
    CodeTest,
    /// Code was generated.
    CodeGeneration,
    /// The knowledge graph was queried.
    GraphQuery,
    /// Nodes or edges were created or updated.
    GraphUpsert,
    /// Nodes or edges were deleted.
    GraphDelete,
    /// A caller hit a rate limit.
    RateLimitExceeded,
    /// Something looked like an attack or a policy breach.
    SecurityViolation,
    /// The platform itself failed.
    SystemError,
    /// A tool, resource or prompt of an upstream MCP server was called through the gateway.
    UpstreamCall,
    /// The gateway's upstreams or pinned definitions changed (an upstream connected or went
    /// down, a tool was pinned, a changed definition was approved or rejected).
    Gateway,
}

impl EventType {
    /// Every event type, in declaration order.
    pub const ALL: [EventType; 21] = [
        Self::AuthSuccess,
        Self::AuthFailure,
        Self::TokenValidation,
        Self::TokenRevoked,
        Self::AuthzGranted,
        Self::AuthzDenied,
        Self::DataRead,
        Self::DataWrite,
        Self::DataDelete,
        Self::CodeExecution,
        Self::CodeLint,
        Self::CodeTest,
        Self::CodeGeneration,
        Self::GraphQuery,
        Self::GraphUpsert,
        Self::GraphDelete,
        Self::RateLimitExceeded,
        Self::SecurityViolation,
        Self::SystemError,
        Self::UpstreamCall,
        Self::Gateway,
    ];

    /// The `snake_case` name, as serialized and stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthSuccess => "auth_success",
            Self::AuthFailure => "auth_failure",
            Self::TokenValidation => "token_validation",
            Self::TokenRevoked => "token_revoked",
            Self::AuthzGranted => "authz_granted",
            Self::AuthzDenied => "authz_denied",
            Self::DataRead => "data_read",
            Self::DataWrite => "data_write",
            Self::DataDelete => "data_delete",
            Self::CodeExecution => "code_execution",
            Self::CodeLint => "code_lint",
            Self::CodeTest => "code_test",
            Self::CodeGeneration => "code_generation",
            Self::GraphQuery => "graph_query",
            Self::GraphUpsert => "graph_upsert",
            Self::GraphDelete => "graph_delete",
            Self::RateLimitExceeded => "rate_limit_exceeded",
            Self::SecurityViolation => "security_violation",
            Self::SystemError => "system_error",
            Self::UpstreamCall => "upstream_call",
            Self::Gateway => "gateway",
        }
    }

    /// Whether this kind records a failure by nature; [`AuditEvent::new`] uses it as the
    /// default for [`AuditEvent::success`].
    pub const fn is_failure(self) -> bool {
        matches!(
            self,
            Self::AuthFailure
                | Self::AuthzDenied
                | Self::RateLimitExceeded
                | Self::SecurityViolation
                | Self::SystemError
        )
    }
}

/// A string, one of the names of [`EventType::ALL`].
#[cfg(feature = "schemars")]
impl schemars::JsonSchema for EventType {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EventType".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names = EventType::ALL.map(EventType::as_str);
        schemars::json_schema!({
            "type": "string",
            "enum": names,
            "description": "What kind of thing an audit event records.",
        })
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| Error::UnknownEventType(s.to_owned()))
    }
}

/// One audited action.
///
/// Build one with [`AuditEvent::new`] or a typed constructor ([`AuditEvent::authentication`],
/// [`AuditEvent::authorization`], [`AuditEvent::code_execution`],
/// [`AuditEvent::security_violation`]) and refine it with the `with_*` methods.
///
/// The serialized form (field names as below, `timestamp` as RFC 3339 UTC with nine fractional
/// digits, absent options as `null`) is what the hash chain covers; see [`crate::chain`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "schemars",
    derive(schemars::JsonSchema),
    schemars(
        description = "One audited action: what happened, who did it, from where, and how it went."
    )
)]
pub struct AuditEvent {
    /// Unique id of this event (a time-ordered UUID v7 by default).
    #[cfg_attr(feature = "schemars", schemars(with = "String", extend("format" = "uuid")))]
    pub event_id: Uuid,
    /// What kind of event this is.
    pub event_type: EventType,
    /// When it happened (RFC 3339, UTC).
    #[serde(with = "timestamp_format")]
    #[cfg_attr(
        feature = "schemars",
        schemars(with = "String", extend("format" = "date-time"))
    )]
    pub timestamp: DateTime<Utc>,
    /// Who did it, when known.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The client address, when known.
    #[serde(default)]
    pub ip_address: Option<IpAddr>,
    /// The client's user agent, when known.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// What was acted on (e.g. `tools/run_code`, `graph:node/42`).
    #[serde(default)]
    pub resource: Option<String>,
    /// What was done (e.g. `authenticate`, `tools:call`).
    #[serde(default)]
    pub action: Option<String>,
    /// Whether the action succeeded.
    pub success: bool,
    /// Free-form structured context. Never put secrets or source code here.
    #[serde(default)]
    pub details: Map<String, Value>,
    /// The request that caused the event, for correlation.
    #[serde(default)]
    pub request_id: Option<String>,
    /// The session the request belonged to.
    #[serde(default)]
    pub session_id: Option<String>,
    /// How long the action took, in milliseconds.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// Why the action failed, when it did.
    #[serde(default)]
    pub error_message: Option<String>,
}

impl AuditEvent {
    /// A new event of `event_type`, with a fresh UUID v7, the current time, `success` set to
    /// `!event_type.is_failure()` and every optional field empty.
    pub fn new(event_type: EventType) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type,
            timestamp: Utc::now(),
            user_id: None,
            ip_address: None,
            user_agent: None,
            resource: None,
            action: None,
            success: !event_type.is_failure(),
            details: Map::new(),
            request_id: None,
            session_id: None,
            duration_ms: None,
            error_message: None,
        }
    }

    /// An [`EventType::AuthSuccess`] or [`EventType::AuthFailure`] event with action
    /// `authenticate`.
    pub fn authentication(user_id: impl Into<String>, success: bool, ip: Option<IpAddr>) -> Self {
        let kind = if success {
            EventType::AuthSuccess
        } else {
            EventType::AuthFailure
        };
        Self::new(kind)
            .with_user(user_id)
            .with_ip(ip)
            .with_action("authenticate")
            .with_success(success)
    }

    /// An [`EventType::AuthzGranted`] or [`EventType::AuthzDenied`] event: `user_id` asked for
    /// `permission` (stored as the action) on `resource`.
    pub fn authorization(
        user_id: impl Into<String>,
        resource: impl Into<String>,
        permission: impl Into<String>,
        granted: bool,
    ) -> Self {
        let kind = if granted {
            EventType::AuthzGranted
        } else {
            EventType::AuthzDenied
        };
        Self::new(kind)
            .with_user(user_id)
            .with_resource(resource)
            .with_action(permission)
            .with_success(granted)
    }

    /// An [`EventType::CodeExecution`] event. The code itself is never stored: `details` gets
    /// `language`, `code_sha256` (lowercase hex SHA-256 of the code's UTF-8 bytes),
    /// `code_bytes` and `exit_code`. `success` is `exit_code == Some(0)`; a run without an exit
    /// code (killed, timed out) is a failure.
    pub fn code_execution(
        user_id: impl Into<String>,
        language: impl Into<String>,
        code: &str,
        exit_code: Option<i32>,
        duration: Duration,
    ) -> Self {
        Self::new(EventType::CodeExecution)
            .with_user(user_id)
            .with_action("execute")
            .with_success(exit_code == Some(0))
            .with_duration(duration)
            .with_detail("language", language.into())
            .with_detail("code_sha256", sha256_hex(code.as_bytes()))
            .with_detail("code_bytes", code.len())
            .with_detail("exit_code", exit_code)
    }

    /// A [`EventType::SecurityViolation`] event: `violation` is a short machine-readable kind
    /// (stored as the action and in `details.violation`), `description` a human explanation
    /// (stored as the error message).
    pub fn security_violation(
        user_id: Option<String>,
        violation: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        let violation = violation.into();
        let mut event = Self::new(EventType::SecurityViolation)
            .with_action(violation.clone())
            .with_detail("violation", violation)
            .with_error_message(description);
        event.user_id = user_id;
        event
    }

    /// Sets the event id (useful for idempotent re-delivery).
    pub fn with_event_id(mut self, event_id: Uuid) -> Self {
        self.event_id = event_id;
        self
    }

    /// Sets the timestamp.
    pub fn with_timestamp(mut self, timestamp: DateTime<Utc>) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// Sets the user id.
    pub fn with_user(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// Sets (or clears, with `None`) the client address.
    pub fn with_ip(mut self, ip: Option<IpAddr>) -> Self {
        self.ip_address = ip;
        self
    }

    /// Sets the user agent.
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Sets the resource.
    pub fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Sets the action.
    pub fn with_action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into());
        self
    }

    /// Sets whether the action succeeded.
    pub fn with_success(mut self, success: bool) -> Self {
        self.success = success;
        self
    }

    /// Adds one `details` entry, replacing an earlier one with the same key.
    pub fn with_detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }

    /// Replaces `details`.
    pub fn with_details(mut self, details: Map<String, Value>) -> Self {
        self.details = details;
        self
    }

    /// Sets the request id.
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Sets the session id.
    pub fn with_session_id(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// Sets the duration, in whole milliseconds (saturating).
    pub fn with_duration(mut self, duration: Duration) -> Self {
        self.duration_ms = Some(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// Sets the duration in milliseconds.
    pub fn with_duration_ms(mut self, duration_ms: u64) -> Self {
        self.duration_ms = Some(duration_ms);
        self
    }

    /// Sets the error message.
    pub fn with_error_message(mut self, message: impl Into<String>) -> Self {
        self.error_message = Some(message.into());
        self
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The one timestamp format the chain hashes and SQLite stores: RFC 3339, UTC, `Z`, exactly
/// nine fractional digits. Fixed width, so it also sorts as text (years 1 to 9999).
pub(crate) mod timestamp_format {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn format(ts: &DateTime<Utc>) -> String {
        ts.to_rfc3339_opts(SecondsFormat::Nanos, true)
    }

    pub(crate) fn parse(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
    }

    pub(crate) fn serialize<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(ts))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_round_trips_through_its_name() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                Value::String(t.as_str().into())
            );
        }
    }

    #[test]
    fn unknown_event_type_is_a_clear_error() {
        let err = "auth_sucess".parse::<EventType>().unwrap_err();
        assert_eq!(err.to_string(), "unknown audit event type \"auth_sucess\"");
    }

    #[test]
    fn failure_kinds_default_to_unsuccessful() {
        assert!(!AuditEvent::new(EventType::AuthzDenied).success);
        assert!(AuditEvent::new(EventType::DataRead).success);
    }

    #[test]
    fn code_execution_event_holds_the_hash_not_the_code() {
        let code = "print('secret-token-123')";
        let e = AuditEvent::code_execution("u", "python", code, Some(0), Duration::from_millis(7));
        let json = serde_json::to_string(&e).unwrap();
        assert!(!json.contains("secret-token-123"));
        assert_eq!(e.details["code_sha256"], sha256_hex(code.as_bytes()));
        assert_eq!(e.duration_ms, Some(7));
        assert!(e.success);
    }

    #[test]
    fn timestamp_serializes_with_nine_fractional_digits() {
        let ts = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.5Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            timestamp_format::format(&ts),
            "2026-01-02T03:04:05.500000000Z"
        );
    }
}
