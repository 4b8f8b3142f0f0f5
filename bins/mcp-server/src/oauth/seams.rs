//! What the built-in authorization server needs from this server: the user accounts (password
//! log-in with the lock-out, the bounded Argon2 gate and their audit), JWT access tokens bound
//! to a resource, and the audit log.
use std::sync::Arc;

use async_trait::async_trait;
use mcp_audit::{AuditEvent, EventType};
use mcp_core::BoxError;
use mcp_jwt::{RevocationStore as _, TokenOptions};
use mcp_oauth::event::{EventSink, OAuthEvent};
use mcp_oauth::store::AccessTokenRef;
use mcp_oauth::{
    AccessTokenIssuer, AuthenticatedUser, AuthenticationError, MintedToken, PresentedToken,
    ScopeSet, TokenRequest, UserAuthenticator,
};
use mcp_rbac::Permission;

use crate::auth::CallContext;
use crate::error::ApiError;
use crate::state::AppState;

tokio::task_local! {
    /// The request an authorization-server call serves (its address feeds the lock-out and
    /// the audit events); set by the OAuth routes around each call.
    static CALL: CallContext;
}

/// Runs `fut` (a call into the authorization server) as part of the request `ctx`.
pub async fn within<F: std::future::Future>(ctx: CallContext, fut: F) -> F::Output {
    CALL.scope(ctx, fut).await
}

fn current_call() -> CallContext {
    CALL.try_with(Clone::clone).unwrap_or_default()
}

/// The audit-budget kind of the refusals unauthenticated callers cause at the OAuth endpoints.
const OAUTH_REFUSED: &str = "oauth_refused";

/// The scopes the user with `roles` may grant: every supported scope their roles allow.
pub fn scopes_of(state: &AppState, supported: &ScopeSet, roles: &[String]) -> ScopeSet {
    let Some(authorizer) = state.authorizer.as_ref() else {
        return ScopeSet::default();
    };
    let allowed = supported.iter().filter(|scope| {
        scope
            .parse::<Permission>()
            .is_ok_and(|p| authorizer.policy().allows(roles, &p))
    });
    ScopeSet::try_from_iter(allowed.map(str::to_owned)).unwrap_or_default()
}

/// [`UserAuthenticator`] over the user store: `auth::login::check_password` for passwords.
pub struct Users {
    /// The server's state, without its authorization server (no cycle).
    pub state: AppState,
    /// Every scope clients may ask for.
    pub supported: ScopeSet,
}

impl Users {
    async fn as_authenticated(
        &self,
        user: &crate::users::User,
    ) -> Result<AuthenticatedUser, ApiError> {
        let roles = self
            .state
            .authorizer()?
            .roles_of(&user.id)
            .await
            .map_err(crate::error::rbac_error)?;
        Ok(AuthenticatedUser::new(
            user.id.clone(),
            user.username.clone(),
            scopes_of(&self.state, &self.supported, &roles),
        ))
    }
}

#[async_trait]
impl UserAuthenticator for Users {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<AuthenticatedUser, AuthenticationError> {
        let ctx = current_call();
        let checked =
            crate::auth::login::check_password(&self.state, &ctx, username, password.to_owned())
                .await;
        let user = match checked {
            Ok(user) => user,
            Err(ApiError::InvalidCredentials) => {
                return Err(AuthenticationError::InvalidCredentials);
            }
            Err(ApiError::RateLimited { retry_after_secs }) => {
                return Err(AuthenticationError::LockedOut {
                    retry_after_secs: Some(retry_after_secs),
                });
            }
            Err(e) => return Err(AuthenticationError::Unavailable(Box::new(e))),
        };
        self.as_authenticated(&user)
            .await
            .map_err(|e| AuthenticationError::Unavailable(Box::new(e)))
    }

    async fn user(&self, user_id: &str) -> Result<Option<AuthenticatedUser>, BoxError> {
        let Some(user) = self.state.users.by_id(user_id).await? else {
            return Ok(None);
        };
        if user.disabled {
            return Ok(None);
        }
        Ok(Some(self.as_authenticated(&user).await?))
    }
}

/// [`AccessTokenIssuer`] over the server's JWT issuer and revocation store.
pub struct Tokens {
    /// The server's state, without its authorization server.
    pub state: AppState,
    /// Lifetime of the access tokens, in seconds.
    pub ttl_secs: u64,
}

#[async_trait]
impl AccessTokenIssuer for Tokens {
    async fn mint(&self, request: &TokenRequest) -> Result<MintedToken, BoxError> {
        let user = self
            .state
            .users
            .by_id(&request.user_id)
            .await?
            .ok_or("the user no longer exists")?;
        let roles = self
            .state
            .authorizer()?
            .roles_of(&user.id)
            .await
            .map_err(crate::error::rbac_error)?;
        // A token issued in the second of a password change would predate it (iat is whole
        // seconds): the user's own issue time says when.
        let now = chrono::Utc::now();
        let options = TokenOptions::new()
            .audience(request.audience.clone())
            .scope(request.scope.iter())
            .client_id(request.client_id.clone())
            .ttl_secs(self.ttl_secs)
            .issued_at(user.token_issue_time(now));
        let issued = self.state.issuer.issue_with(&user.id, roles, options)?;
        let exp = i64::try_from(issued.claims.exp).unwrap_or(i64::MAX);
        let expires_in = u64::try_from(exp - now.timestamp()).unwrap_or(0);
        Ok(MintedToken::new(
            issued.token,
            AccessTokenRef::new(issued.claims.jti, exp),
            expires_in,
        ))
    }

    async fn revoke(&self, tokens: &[AccessTokenRef]) -> Result<(), BoxError> {
        for token in tokens {
            let expires_at = chrono::DateTime::from_timestamp(token.expires_at, 0)
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
            self.state.revocations.revoke(&token.id, expires_at).await?;
        }
        Ok(())
    }

    async fn recognise(&self, token: &str) -> Result<Option<PresentedToken>, BoxError> {
        match self.state.verifier.verify(token).await {
            Ok(claims) => {
                let exp = i64::try_from(claims.exp).unwrap_or(i64::MAX);
                Ok(Some(PresentedToken::new(
                    AccessTokenRef::new(claims.jti, exp),
                    claims.client_id,
                )))
            }
            Err(mcp_jwt::Error::Store(e)) => Err(Box::new(e)),
            Err(_) => Ok(None),
        }
    }
}

/// [`EventSink`] writing every step of the authorization server into the audit log.
///
/// | OAuth event | audit event type | outcome |
/// |---|---|---|
/// | `login_succeeded`, `consent_granted`, `code_issued`, `token_issued`, `token_refreshed` | `auth_success` | success |
/// | `consent_denied`, `request_refused` | `auth_failure` | failure |
/// | `request_throttled` | `rate_limit_exceeded` | failure |
/// | `client_registered` | `data_write` | success |
/// | `consent_revoked`, `token_revoked` | `token_revoked` | success |
/// | `code_replay_detected`, `refresh_reuse_detected` | `security_violation` | failure |
///
/// The action is the event's name (`oauth.token_issued`), the details its fields. A failed
/// password is audited by the log-in check itself (`auth_failure`, action `authenticate`), so
/// `login_failed` is not written twice. Refusals of callers not yet known to be anyone draw on
/// the unauthenticated audit budget.
pub struct Audit {
    /// The server's state, without its authorization server.
    pub state: AppState,
}

#[async_trait]
impl EventSink for Audit {
    async fn record(&self, event: OAuthEvent) {
        let (kind, budgeted) = match &event {
            OAuthEvent::LoginFailed { .. } => return,
            OAuthEvent::LoginSucceeded { .. }
            | OAuthEvent::ConsentGranted { .. }
            | OAuthEvent::CodeIssued { .. }
            | OAuthEvent::TokenIssued { .. }
            | OAuthEvent::TokenRefreshed { .. } => (EventType::AuthSuccess, false),
            OAuthEvent::ConsentDenied { .. } => (EventType::AuthFailure, false),
            OAuthEvent::RequestRefused { .. } => (EventType::AuthFailure, true),
            OAuthEvent::RequestThrottled { .. } => (EventType::RateLimitExceeded, true),
            // Dynamic registration is open to anyone: budgeted like other anonymous events.
            OAuthEvent::ClientRegistered { .. } => (EventType::DataWrite, true),
            OAuthEvent::ConsentRevoked { .. } | OAuthEvent::TokenRevoked { .. } => {
                (EventType::TokenRevoked, false)
            }
            _ => (EventType::SecurityViolation, false),
        };
        let mut audit = AuditEvent::new(kind)
            .with_action(event.name())
            .with_success(!event.is_refusal());
        audit.user_id = event.user_id().map(str::to_owned);
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(&event) {
            for (name, value) in fields {
                if name != "event" {
                    audit = audit.with_detail(name, value);
                }
            }
        }
        let audit = current_call().stamp(audit);
        if budgeted {
            self.state.audit_unauthenticated(OAUTH_REFUSED, audit).await;
        } else {
            self.state.audit(audit).await;
        }
    }
}

/// The three seams over one state.
pub fn seams(
    state: &AppState,
    supported: ScopeSet,
    ttl_secs: u64,
) -> (Arc<Users>, Arc<Tokens>, Arc<Audit>) {
    (
        Arc::new(Users {
            state: state.clone(),
            supported,
        }),
        Arc::new(Tokens {
            state: state.clone(),
            ttl_secs,
        }),
        Arc::new(Audit {
            state: state.clone(),
        }),
    )
}
