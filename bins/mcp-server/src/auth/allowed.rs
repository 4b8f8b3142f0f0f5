//! The guard: `Allowed<P>` in a handler's signature admits only callers holding permission `P`.
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use mcp_audit::AuditEvent;
use mcp_rbac::Permission;

use super::perm::Perm;
use super::principal::{CallContext, Principal, authenticate, bearer_token};
use crate::access::{self, Access};
use crate::error::ApiError;
use crate::state::AppState;

/// Proof that the caller holds permission `P`; carries the caller.
///
/// Extracting it authenticates (401 without a valid token), checks the permission through the
/// authorizer (403 `Permission denied: <perm>`), audits the decision (`authz_granted` /
/// `authz_denied`), and checks that the route table declares the same permission for this route
/// (500 otherwise, so a handler and the table cannot disagree).
#[derive(Debug)]
pub struct Allowed<P: Perm> {
    /// The caller.
    pub principal: Principal,
    _perm: PhantomData<P>,
}

/// Checks `permission` for `principal` and audits the decision. Shared by the HTTP guard and
/// other transports.
pub async fn authorize(
    state: &AppState,
    principal: &Principal,
    permission: &Permission,
    ctx: &CallContext,
) -> Result<(), ApiError> {
    let authorizer = state.authorizer()?;
    let decision = mcp_rbac::Policy::check(authorizer.policy(), &principal.roles, permission);
    // Effective permissions: the roles' grants, limited to the token's scopes when it has any
    // (OAuth access tokens); a token without a `scope` claim is limited by the roles only.
    let in_scope = principal.claims.allows_scope(permission.as_str());
    let granted = decision.is_allowed() && in_scope;
    let reason = if decision.is_allowed() && !in_scope {
        format!("the token's scope does not include {permission}")
    } else {
        decision.to_string()
    };
    let mut event = AuditEvent::authorization(
        principal.user_id.clone(),
        ctx.route.clone(),
        permission.as_str(),
        granted,
    )
    .with_detail("username", principal.username.clone())
    .with_detail("reason", reason);
    if let Some(client) = &principal.claims.client_id {
        event = event.with_detail("client_id", client.clone());
    }
    state.audit(ctx.stamp(event)).await;
    if granted {
        Ok(())
    } else if decision.is_allowed() {
        state
            .metrics
            .permission_denials
            .with_label_values(&[permission.as_str()])
            .inc();
        Err(ApiError::InsufficientScope(permission.to_string()))
    } else {
        state
            .metrics
            .permission_denials
            .with_label_values(&[permission.as_str()])
            .inc();
        Err(ApiError::PermissionDenied(permission.to_string()))
    }
}

/// The permission the route guard checked (and audited) for this request, so the handler's
/// [`Allowed`] does not check it again.
#[derive(Debug, Clone)]
struct Authorized(Permission);

/// Middleware on every route of the table: authenticates and checks the declared permission
/// (auditing the decision) before anything reads the request's body or query, so a caller
/// without the permission gets 401/403 and an `authz_denied` event whatever they sent (a body
/// too large, malformed, of the wrong type, …). Routes declared `Authenticated` are
/// authenticated here too; `Public` ones and methods the table does not list pass through.
pub async fn guard_route(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Err(err) = check_declared_access(&req).await {
        // Answered here, in the API's error shape, without reading the body.
        return Ok(req.error_response(err));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

async fn check_declared_access(req: &ServiceRequest) -> Result<(), ApiError> {
    let access = req
        .match_pattern()
        .and_then(|pattern| access::rule(req.method(), &pattern))
        .map(|r| &r.access);
    if let Some(Access::Permission(_) | Access::Authenticated) = access {
        let state = req
            .app_data::<web::Data<AppState>>()
            .ok_or(ApiError::NotWired("application state"))?
            .clone();
        // Not wired: answer 500 before looking at the token, as the handlers do.
        state.authorizer()?;
        let ctx = CallContext::of(req.request());
        let known = req.extensions().get::<Principal>().cloned();
        let principal = match known {
            Some(p) => p,
            None => authenticate(&state, bearer_token(req.request()), &ctx).await?,
        };
        if let Some(Access::Permission(permission)) = access {
            authorize(&state, &principal, permission, &ctx).await?;
            req.extensions_mut().insert(Authorized(permission.clone()));
        }
        req.extensions_mut().insert(principal);
    }
    Ok(())
}

impl<P: Perm> FromRequest for Allowed<P> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or(ApiError::NotWired("application state"))?
                .clone();
            // Not wired: answer 500 before looking at the token, as the seed did.
            state.authorizer()?;
            let declared = req
                .match_pattern()
                .and_then(|pattern| access::rule(req.method(), &pattern));
            match declared.map(|r| &r.access) {
                Some(Access::Permission(p)) if *p == P::PERMISSION => {}
                other => {
                    tracing::error!(
                        route = ?req.match_pattern(),
                        declared = ?other,
                        handler = %P::PERMISSION,
                        "route table and handler disagree on the permission"
                    );
                    return Err(ApiError::NotWired("route permission"));
                }
            }
            // The route guard left the caller it authenticated: taken, not copied (a
            // `Principal` extractor after this one authenticates again).
            let known = req.extensions_mut().remove::<Principal>();
            let principal = match known {
                Some(principal) => principal,
                None => {
                    let ctx = CallContext::of(&req);
                    authenticate(&state, bearer_token(&req), &ctx).await?
                }
            };
            let checked = req
                .extensions()
                .get::<Authorized>()
                .is_some_and(|a| a.0 == P::PERMISSION);
            if !checked {
                authorize(&state, &principal, &P::PERMISSION, &CallContext::of(&req)).await?;
            }
            Ok(Self {
                principal,
                _perm: PhantomData,
            })
        })
    }
}
