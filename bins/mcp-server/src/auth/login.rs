//! Password log-in: the lock-out, the bounded Argon2 check and their audit events, for every
//! way in that takes a password (`POST /auth/token` now, a sign-in page later).
use mcp_audit::{AuditEvent, EventType};

use super::principal::CallContext;
use crate::error::ApiError;
use crate::limits::retry_after_secs;
use crate::state::AppState;
use crate::state::audit_budget::kind;
use crate::users::lockout::{LockScope, Outcome, Refusal};
use crate::users::{self, Busy, User};

/// How long a caller refused for a full password queue is asked to wait.
const BUSY_RETRY_SECS: u64 = 1;

/// Checks `username` and `password` and returns the enabled user they name.
///
/// - Unknown name, wrong password and disabled user are one 401 `invalid_credentials`, after
///   the same Argon2 work (a dummy hash for unknown names).
/// - A name, address or pair the lock-out refuses gets 429 with `Retry-After` before any
///   password work ([`crate::users::lockout`]); so does a guess while as many are being checked
///   as the limit allows.
/// - Too many password checks at once (running and queued): 503 `busy` with `Retry-After`.
/// - Every outcome is audited: the failure's `user_id` is the id of the account the name
///   belongs to, or none (never the submitted text, which goes, bounded, into
///   `details.username`); failures and refusals draw on the unauthenticated audit budget. A
///   failure that starts a lock also records a `security_violation` (`lockout_triggered`).
pub async fn check_password(
    state: &AppState,
    ctx: &CallContext,
    username: &str,
    password: String,
) -> Result<User, ApiError> {
    let account = state.users.by_username(username).await?;
    let account_id = account.as_ref().map(|u| u.id.clone());
    let failure = |reason: &str| {
        let mut event = AuditEvent::new(EventType::AuthFailure)
            .with_action("authenticate")
            .with_detail("username", mcp_core::bounded::text(username))
            .with_error_message(reason);
        event.user_id.clone_from(&account_id);
        ctx.stamp(event)
    };
    let attempt = match state
        .login_guard
        .begin(
            username,
            ctx.ip,
            account.as_ref().and_then(|u| u.unlocked_at),
        )
        .await
    {
        Ok(attempt) => attempt,
        Err(refusal) => {
            count_failure(state, "locked_out");
            let (reason, error) = match refusal {
                Refusal::Locked { scope, wait } => (
                    format!("locked out ({})", scope.as_str()),
                    ApiError::RateLimited {
                        retry_after_secs: retry_after_secs(wait),
                    },
                ),
                Refusal::Full => (
                    "the lock-out could not count the attempt".to_owned(),
                    ApiError::Busy {
                        retry_after_secs: BUSY_RETRY_SECS,
                    },
                ),
            };
            let event = failure(&reason).with_detail("refused", true);
            state
                .audit_unauthenticated(kind::LOGIN_REFUSED, event)
                .await;
            return Err(error);
        }
    };
    let hash = account.as_ref().map_or_else(
        || users::dummy_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    let matches = match state.passwords.verify(password, hash).await {
        Ok(matches) => matches,
        Err(Busy) => {
            // Not checked: the attempt gives its reservation back.
            drop(attempt);
            count_failure(state, "busy");
            let event = failure("too many password checks at once").with_detail("refused", true);
            state
                .audit_unauthenticated(kind::LOGIN_REFUSED, event)
                .await;
            return Err(ApiError::Busy {
                retry_after_secs: BUSY_RETRY_SECS,
            });
        }
    };
    let reason = match account {
        Some(user) if matches && !user.disabled => {
            let _ = attempt.finish(Outcome::Success).await;
            return Ok(user);
        }
        None => "unknown user",
        Some(u) if u.disabled => "user disabled",
        Some(_) => "wrong password",
    };
    let locked = attempt.finish(Outcome::Failure).await;
    count_failure(state, "invalid_credentials");
    state
        .audit_unauthenticated(kind::LOGIN_FAILURE, failure(reason))
        .await;
    for scope in locked {
        lockout_triggered(state, ctx, username, account_id.clone(), scope).await;
    }
    Err(ApiError::InvalidCredentials)
}

fn count_failure(state: &AppState, reason: &'static str) {
    state
        .metrics
        .auth_failures
        .with_label_values(&[reason])
        .inc();
}

/// A `security_violation` for a lock that just began (one per lock, so not budgeted: locks
/// begin at most once per `auth.max_failures_per_*` checked failures).
async fn lockout_triggered(
    state: &AppState,
    ctx: &CallContext,
    username: &str,
    user_id: Option<String>,
    scope: LockScope,
) {
    let event = AuditEvent::security_violation(
        user_id,
        "lockout_triggered",
        format!(
            "too many failed log-ins: locked for {} s ({})",
            state.config.auth.lockout_secs,
            scope.as_str()
        ),
    )
    .with_detail("scope", scope.as_str())
    .with_detail("username", mcp_core::bounded::text(username));
    state.audit(ctx.stamp(event)).await;
}
