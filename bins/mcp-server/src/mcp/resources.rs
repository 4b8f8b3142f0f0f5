//! MCP resources: the code templates, graph counts, and the caller's own identity.
use rmcp::model::{Resource, ResourceContents};
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
