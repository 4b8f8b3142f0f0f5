//! The knowledge graph.
use actix_web::{HttpRequest, web};
use serde_json::Value;

use crate::auth::perm::{GraphDelete, GraphQuery, GraphUpsert};
use crate::auth::{Allowed, CallContext};
use crate::body::JsonBody;
use crate::error::{ApiError, ErrorBody};
use crate::ops::gateway;
use crate::ops::tools::{
    self, DeleteRelationship, Deleted, GraphQueryRequest, NodeId, UpsertNode, UpsertRelationship,
};
use crate::query::Query;
use crate::state::AppState;

/// Run a read-only Cypher query (write clauses are refused with 422).
#[utoipa::path(post, path = "/api/v1/graph/query", tag = "graph", request_body = GraphQueryRequest,
    security(("bearer" = [])), responses(
    (status = 200, description = "columns, rows, truncated", body = Object),
    (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn query(
    auth: Allowed<GraphQuery>,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<GraphQueryRequest>,
) -> Result<web::Json<Value>, ApiError> {
    let ctx = CallContext::of(&req);
    let result = tools::graph_query(&state, &auth.principal, &ctx, body.into_inner()).await?;
    Ok(web::Json(gateway::own_output(&state, &result)?))
}

/// Counts of nodes and relationships.
#[utoipa::path(get, path = "/api/v1/graph/stats", tag = "graph", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn stats(
    _: Allowed<GraphQuery>,
    state: web::Data<AppState>,
) -> Result<web::Json<mcp_graph::GraphStats>, ApiError> {
    Ok(web::Json(tools::graph_stats(&state).await?))
}

/// Create or update a node.
#[utoipa::path(post, path = "/api/v1/graph/nodes", tag = "graph", request_body = UpsertNode,
    security(("bearer" = [])), responses(
    (status = 200, description = "the node as stored", body = Object),
    (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn upsert_nodes(
    auth: Allowed<GraphUpsert>,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<UpsertNode>,
) -> Result<web::Json<Value>, ApiError> {
    let ctx = CallContext::of(&req);
    let node = tools::graph_upsert_node(&state, &auth.principal, &ctx, body.into_inner()).await?;
    Ok(web::Json(gateway::own_output(&state, &node)?))
}

/// Delete a node and its relationships (`?label=…&key=…`).
#[utoipa::path(delete, path = "/api/v1/graph/nodes", tag = "graph", params(
    ("label" = String, Query), ("key" = String, Query)),
    security(("bearer" = [])), responses((status = 200, body = Deleted), (status = 403, body = ErrorBody)))]
pub async fn delete_nodes(
    auth: Allowed<GraphDelete>,
    req: HttpRequest,
    state: web::Data<AppState>,
    params: Query<NodeId>,
) -> Result<web::Json<Deleted>, ApiError> {
    let ctx = CallContext::of(&req);
    Ok(web::Json(
        tools::graph_delete_node(&state, &auth.principal, &ctx, params.into_inner()).await?,
    ))
}

/// Create or update a relationship (both nodes must exist).
#[utoipa::path(post, path = "/api/v1/graph/relationships", tag = "graph",
    request_body = UpsertRelationship, security(("bearer" = [])), responses(
    (status = 200, description = "the relationship as stored", body = Object),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn upsert_relationships(
    auth: Allowed<GraphUpsert>,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<UpsertRelationship>,
) -> Result<web::Json<Value>, ApiError> {
    let ctx = CallContext::of(&req);
    let input = body.into_inner();
    let rel = tools::graph_upsert_relationship(&state, &auth.principal, &ctx, input).await?;
    Ok(web::Json(gateway::own_output(&state, &rel)?))
}

/// Delete a relationship (JSON body `{from, type, to}`).
#[utoipa::path(delete, path = "/api/v1/graph/relationships", tag = "graph",
    request_body = DeleteRelationship, security(("bearer" = [])),
    responses((status = 200, body = Deleted), (status = 403, body = ErrorBody)))]
pub async fn delete_relationships(
    auth: Allowed<GraphDelete>,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<DeleteRelationship>,
) -> Result<web::Json<Deleted>, ApiError> {
    let ctx = CallContext::of(&req);
    let input = body.into_inner();
    Ok(web::Json(
        tools::graph_delete_relationship(&state, &auth.principal, &ctx, input).await?,
    ))
}
