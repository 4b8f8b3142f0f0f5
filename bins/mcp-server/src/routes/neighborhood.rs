//! A node's neighbourhood: the node, its direct relationships and the nodes at their other end
//! (what the console draws).
use actix_web::{HttpRequest, web};
use mcp_audit::{AuditEvent, EventType};
use mcp_graph::{Direction, GraphStore, Node, NodeRef, RelType};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::perm::GraphQuery;
use crate::auth::{Allowed, CallContext};
use crate::error::{ApiError, ErrorBody};
use crate::ops::tools::{NodeId, graph_error};
use crate::query::{self, Query};
use crate::state::AppState;

/// The most relationship types looked at (types past it are reported as `truncated`).
const MAX_TYPES: usize = 64;
/// The default and the largest number of neighbours per direction and type.
const DEFAULT_LIMIT: usize = 50;
/// The largest `limit`.
pub const MAX_LIMIT: usize = 500;

/// Query parameters of `GET /api/v1/graph/neighborhood`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NeighborhoodQuery {
    /// The node's label.
    pub label: String,
    /// The node's key.
    pub key: String,
    /// At most this many neighbours per relationship type and direction (default 50, at most 500).
    #[serde(default, deserialize_with = "neighbor_limit")]
    pub limit: Option<usize>,
}

/// An optional integer from 1 to [`MAX_LIMIT`], with an error that names the range.
fn neighbor_limit<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<usize>, D::Error> {
    query::bounded(de, 1, MAX_LIMIT)
}

/// One relationship of the neighbourhood (its properties are not included).
#[derive(Debug, Serialize, ToSchema)]
pub struct Edge {
    /// Start node.
    pub from: NodeId,
    /// Relationship type.
    #[serde(rename = "type")]
    pub rel_type: String,
    /// End node.
    pub to: NodeId,
}

/// `GET /api/v1/graph/neighborhood` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Neighborhood {
    /// The node itself.
    #[schema(value_type = Object)]
    pub node: Node,
    /// The nodes one relationship away (each once).
    #[schema(value_type = Vec<Object>)]
    pub neighbors: Vec<Node>,
    /// The relationships between the node and its neighbours.
    pub relationships: Vec<Edge>,
    /// Whether some neighbours or relationship types were left out (limits).
    pub truncated: bool,
}

fn id_of(node: &Node) -> NodeId {
    NodeId {
        label: node.label.as_str().to_owned(),
        key: node.key.as_str().to_owned(),
    }
}

async fn collect(
    graph: &dyn GraphStore,
    center: &Node,
    limit: usize,
) -> Result<Neighborhood, mcp_graph::Error> {
    let at = NodeRef::new(center.label.clone(), center.key.clone());
    let types: Vec<RelType> = graph.stats().await?.rel_types.into_keys().collect();
    let mut truncated = types.len() > MAX_TYPES;
    let mut neighbors: Vec<Node> = Vec::new();
    let mut relationships = Vec::new();
    for rel_type in types.iter().take(MAX_TYPES) {
        for direction in [Direction::Outgoing, Direction::Incoming] {
            let found = graph
                .neighbors(&at, Some(rel_type), direction, 1, limit)
                .await?;
            truncated |= found.len() >= limit;
            for other in found {
                let (from, to) = match direction {
                    Direction::Incoming => (id_of(&other), id_of(center)),
                    _ => (id_of(center), id_of(&other)),
                };
                relationships.push(Edge {
                    from,
                    rel_type: rel_type.as_str().to_owned(),
                    to,
                });
                if !neighbors
                    .iter()
                    .any(|n| n.label == other.label && n.key == other.key)
                {
                    neighbors.push(other);
                }
            }
        }
    }
    Ok(Neighborhood {
        node: center.clone(),
        neighbors,
        relationships,
        truncated,
    })
}

/// A node with its direct relationships and neighbours (404 when the node does not exist).
#[utoipa::path(get, path = "/api/v1/graph/neighborhood", tag = "graph", params(NeighborhoodQuery),
    security(("bearer" = [])), responses(
    (status = 200, body = Neighborhood), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn neighborhood(
    auth: Allowed<GraphQuery>,
    req: HttpRequest,
    state: web::Data<AppState>,
    params: Query<NeighborhoodQuery>,
) -> Result<web::Json<Neighborhood>, ApiError> {
    let params = params.into_inner();
    let at = NodeRef::parse(&params.label, &params.key).map_err(graph_error)?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    let graph = state.graph()?;
    let result = match graph.get_node(&at).await.map_err(graph_error)? {
        Some(center) => collect(graph.as_ref(), &center, limit)
            .await
            .map_err(graph_error),
        None => Err(ApiError::NotFound(format!(
            "no node {}:{}",
            params.label, params.key
        ))),
    };
    let event = AuditEvent::new(EventType::GraphQuery)
        .with_user(auth.principal.user_id.clone())
        .with_action("neighborhood")
        .with_success(result.is_ok())
        .with_detail(
            "target",
            serde_json::json!({ "label": params.label, "key": params.key }),
        );
    state.audit(CallContext::of(&req).stamp(event)).await;
    Ok(web::Json(result?))
}
