//! Access tokens of trusted external issuers (`[[oauth.external_issuers]]`): verified by
//! `mcp_oauth::external::ExternalVerifier` (the issuer's JWKS, cached and refetched on an
//! unknown key), with roles mapped from a claim instead of read from the role store.
use mcp_audit::{AuditEvent, EventType};
use sha2::Digest;

use super::principal::{CallContext, Principal};
use crate::error::ApiError;
use crate::state::AppState;

/// The prefix of the user id of an external identity: `external:<issuer>#<subject>` (never a
/// local user's id, which are UUIDs).
pub const USER_ID_PREFIX: &str = "external:";

/// The caller of `token` when it claims to come from a trusted external issuer: `None` when it
/// does not (the server's own verifier then decides), else the verified identity or 401.
pub async fn authenticate(
    state: &AppState,
    ctx: &CallContext,
    token: &str,
) -> Option<Result<Principal, ApiError>> {
    let verifier = state.resource_server.as_ref()?.external()?;
    let issuer = verifier.claimed_issuer(token)?.to_owned();
    Some(match verifier.verify(token).await {
        Ok(identity) => {
            let mut claims = mcp_jwt::Claims::new(
                identity.subject.clone(),
                identity.issuer.clone(),
                u64::try_from(identity.expires_at).unwrap_or(0),
                String::new(),
            );
            claims.roles.clone_from(&identity.roles);
            claims.client_id = identity.client_id.clone();
            // A token without a scope claim is limited by its mapped roles only.
            claims.scope = (!identity.scopes.is_empty())
                .then(|| identity.scopes.iter().map(str::to_owned).collect());
            Ok(Principal {
                user_id: format!("{USER_ID_PREFIX}{}#{}", identity.issuer, identity.subject),
                username: identity.subject,
                roles: identity.roles,
                claims,
            })
        }
        Err(e) => {
            state
                .metrics
                .auth_failures
                .with_label_values(&["invalid_token"])
                .inc();
            if matches!(
                e,
                mcp_oauth::external::ExternalTokenError::KeysUnavailable(_)
            ) {
                // The token's validity is unknown: not accepted, and not the caller's fault.
                tracing::warn!(issuer = %issuer, error = %e, "external issuer keys unavailable");
                return Some(Err(ApiError::Unavailable(
                    "the token issuer's signing keys".into(),
                )));
            }
            tracing::info!(issuer = %issuer, error = %e, "external token refused");
            let digest = sha2::Sha256::digest(token.as_bytes());
            let event = AuditEvent::new(EventType::TokenValidation)
                .with_success(false)
                .with_action("verify_external_token")
                .with_error_message(e.to_string())
                .with_detail("issuer", mcp_core::bounded::text(&issuer).into_owned())
                .with_detail("token_sha256_prefix", hex::encode(&digest[..8]));
            state
                .audit_unauthenticated(
                    crate::state::audit_budget::kind::TOKEN_REFUSED,
                    ctx.stamp(event),
                )
                .await;
            Err(ApiError::InvalidToken)
        }
    })
}
