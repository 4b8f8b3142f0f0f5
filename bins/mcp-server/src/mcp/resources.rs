//! MCP resources: the code templates, graph counts, and the caller's own identity; and the
//! resource templates: a graph node by label and key, an audit event by id (admins), a code
//! template by name. Every read returns JSON.
use rmcp::model::{Resource, ResourceContents, ResourceTemplate};
use serde_json::json;

use crate::access::{self, Rule};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// One resource.
pub struct ResourceSpec {
    /// Its URI.
    pub uri: &'static str,
    /// Short name.
    pub name: &'static str,
    /// What it holds.
    pub description: &'static str,
    /// The rule of the REST route with the same content; its permission is required.
    pub rule: &'static Rule,
}

/// Every resource.
pub const RESOURCES: &[ResourceSpec] = &[
    ResourceSpec {
        uri: "mcp-server://templates",
        name: "templates",
        description: "The code templates of generate_code and their parameters.",
        rule: &access::TEMPLATES,
    },
    ResourceSpec {
        uri: "mcp-server://graph/stats",
        name: "graph-stats",
        description: "Node and relationship counts of the knowledge graph.",
        rule: &access::GRAPH_STATS,
    },
    ResourceSpec {
        uri: "mcp-server://me",
        name: "me",
        description: "Who you are: user id, name, roles and the permissions they grant.",
        rule: &access::ME,
    },
];

/// One resource template: a family of resources under one URI pattern.
pub struct TemplateSpec {
    /// The RFC 6570 URI template (level 1: `{name}` variables, one path segment each).
    pub uri_template: &'static str,
    /// Short name.
    pub name: &'static str,
    /// What a resource of it holds.
    pub description: &'static str,
    /// The rule of the REST route with the same content; its permission is required.
    pub rule: &'static Rule,
}

/// Every resource template.
pub const TEMPLATES: &[TemplateSpec] = &[
    TemplateSpec {
        uri_template: "mcp-server://graph/nodes/{label}/{key}",
        name: "graph-node",
        description: "A node of the knowledge graph by label and key (percent-encode a key \
                      with `/`): its properties.",
        rule: &access::GRAPH_NEIGHBORHOOD,
    },
    TemplateSpec {
        uri_template: "mcp-server://audit/events/{id}",
        name: "audit-event",
        description: "One event of the audit log by its event id, with its chain hashes \
                      (administrators).",
        rule: &access::AUDIT_QUERY,
    },
    TemplateSpec {
        uri_template: "mcp-server://templates/{name}",
        name: "code-template",
        description: "One code template of generate_code by name: language, description and \
                      parameters.",
        rule: &access::TEMPLATES,
    },
];

/// The templates `who` may read.
pub fn templates(state: &AppState, who: &Principal) -> Vec<ResourceTemplate> {
    TEMPLATES
        .iter()
        .filter(|t| super::tools::visible(state, who, t.rule))
        .map(|t| {
            ResourceTemplate::new(t.uri_template, t.name)
                .with_description(t.description)
                .with_mime_type("application/json")
        })
        .collect()
}

/// The template `uri_template`.
pub fn find_template(uri_template: &str) -> Option<&'static TemplateSpec> {
    TEMPLATES.iter().find(|t| t.uri_template == uri_template)
}

/// The variables of `uri` when it matches `template` (each one non-empty, percent-decoded).
pub fn match_template(template: &str, uri: &str) -> Option<Vec<(String, String)>> {
    let t_parts: Vec<&str> = template.split('/').collect();
    let u_parts: Vec<&str> = uri.split('/').collect();
    if t_parts.len() != u_parts.len() {
        return None;
    }
    let mut vars = Vec::new();
    for (t, u) in t_parts.iter().zip(&u_parts) {
        if let Some(name) = t.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
            let value = percent_decode(u)?;
            if value.is_empty() {
                return None;
            }
            vars.push((name.to_owned(), value));
        } else if t != u {
            return None;
        }
    }
    Some(vars)
}

/// `text` with `%XX` escapes decoded; `None` when an escape is malformed or the result is not
/// UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The template `uri` belongs to, with its variables.
pub fn resolve(uri: &str) -> Option<(&'static TemplateSpec, Vec<(String, String)>)> {
    TEMPLATES
        .iter()
        .find_map(|t| match_template(t.uri_template, uri).map(|vars| (t, vars)))
}

fn var<'a>(vars: &'a [(String, String)], name: &str) -> &'a str {
    vars.iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Reads the resource `uri` of template `spec` (permission already checked).
pub async fn read_template(
    state: &AppState,
    spec: &TemplateSpec,
    vars: &[(String, String)],
    uri: &str,
) -> Result<ResourceContents, ApiError> {
    let value = match spec.name {
        "graph-node" => {
            let node = mcp_graph::NodeRef::parse(var(vars, "label"), var(vars, "key"))
                .map_err(crate::ops::tools::graph_error)?;
            let found = state
                .graph()?
                .get_node(&node)
                .await
                .map_err(crate::ops::tools::graph_error)?
                .ok_or_else(|| ApiError::NotFound(format!("no node {uri}")))?;
            serde_json::to_value(found).map_err(ApiError::internal)?
        }
        "audit-event" => {
            let id = var(vars, "id");
            let event = audit_event(state, id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("no audit event {id}")))?;
            serde_json::to_value(event).map_err(ApiError::internal)?
        }
        "code-template" => {
            let name = var(vars, "name");
            let template = crate::ops::tools::templates(state)
                .into_iter()
                .find(|t| t.name == name)
                .ok_or_else(|| ApiError::NotFound(format!("no code template {name}")))?;
            serde_json::to_value(template).map_err(ApiError::internal)?
        }
        other => {
            return Err(ApiError::internal(format!(
                "resource template {other} has no reader"
            )));
        }
    };
    let text = serde_json::to_string_pretty(&value).map_err(ApiError::internal)?;
    Ok(ResourceContents::text(text, uri).with_mime_type("application/json"))
}

/// The audit event with id `id`. Event ids are UUIDv7, so the id gives the time to look at:
/// one bounded query around it, not a scan of the log.
async fn audit_event(
    state: &AppState,
    id: &str,
) -> Result<Option<mcp_audit::StoredEvent>, ApiError> {
    let Ok(uuid) = uuid::Uuid::parse_str(id) else {
        return Err(ApiError::NotFound(format!("no audit event {id}")));
    };
    let Some(ts) = uuid.get_timestamp() else {
        return Err(ApiError::NotFound(format!("no audit event {id}")));
    };
    let (secs, nanos) = ts.to_unix();
    let at = chrono::DateTime::from_timestamp(i64::try_from(secs).unwrap_or(i64::MAX), nanos)
        .ok_or_else(|| ApiError::NotFound(format!("no audit event {id}")))?;
    let window = chrono::Duration::seconds(2);
    let mut filter = mcp_audit::AuditFilter::new();
    filter.since = Some(at - window);
    filter.until = Some(at + window);
    filter.limit = Some(mcp_audit::AuditFilter::MAX_LIMIT);
    let _ = state.audit.flush(std::time::Duration::from_secs(2)).await;
    let events = state
        .audit
        .query(&filter)
        .await
        .map_err(crate::ops::audit::audit_error)?;
    Ok(events.into_iter().find(|e| e.event.event_id == uuid))
}

/// The resource at `uri`.
pub fn find(uri: &str) -> Option<&'static ResourceSpec> {
    RESOURCES.iter().find(|r| r.uri == uri)
}

/// The resources `who` may read.
pub fn list(state: &AppState, who: &Principal) -> Vec<Resource> {
    RESOURCES
        .iter()
        .filter(|r| super::tools::visible(state, who, r.rule))
        .map(|r| {
            Resource::new(r.uri, r.name)
                .with_description(r.description)
                .with_mime_type("application/json")
        })
        .collect()
}

/// Reads a resource (permission already checked).
pub async fn read(
    state: &AppState,
    who: &Principal,
    spec: &ResourceSpec,
) -> Result<ResourceContents, ApiError> {
    let value = match spec.name {
        "templates" => json!({ "templates": crate::ops::tools::templates(state) }),
        "graph-stats" => serde_json::to_value(crate::ops::tools::graph_stats(state).await?)
            .map_err(ApiError::internal)?,
        "me" => {
            let permissions: Vec<String> = state
                .authorizer
                .as_ref()
                .map(|a| a.policy().permissions_of(&who.roles))
                .unwrap_or_default()
                .iter()
                .map(ToString::to_string)
                .collect();
            json!({
                "user_id": who.user_id,
                "username": who.username,
                "roles": who.roles,
                "permissions": permissions,
            })
        }
        other => {
            return Err(ApiError::internal(format!(
                "resource {other} has no reader"
            )));
        }
    };
    let text = serde_json::to_string_pretty(&value).map_err(ApiError::internal)?;
    Ok(ResourceContents::text(text, spec.uri).with_mime_type("application/json"))
}
