//! The guard: `Allowed<P>` in a handler's signature admits only callers holding permission `P`.
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use mcp_audit::AuditEvent;
use mcp_rbac::Permission;

use super::perm::Perm;
use super::principal::{CallContext, Principal};
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
    let granted = decision.is_allowed();
    let event = AuditEvent::authorization(
        principal.user_id.clone(),
        ctx.route.clone(),
        permission.as_str(),
        granted,
    )
    .with_detail("username", principal.username.clone())
    .with_detail("reason", decision.to_string());
    state.audit(ctx.stamp(event)).await;
    if granted {
        Ok(())
    } else {
        state
            .metrics
            .permission_denials
            .with_label_values(&[permission.as_str()])
            .inc();
        Err(ApiError::PermissionDenied(permission.to_string()))
    }
}

impl<P: Perm> FromRequest for Allowed<P> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let principal = Principal::from_request(&req, payload);
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
            let principal = principal.await?;
            authorize(&state, &principal, &P::PERMISSION, &CallContext::of(&req)).await?;
            Ok(Self {
                principal,
                _perm: PhantomData,
            })
        })
    }
}
