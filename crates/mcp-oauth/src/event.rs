//! Audit-ready records of every step, for the embedding server to turn into audit events.
//!
//! The authorization server hands each [`OAuthEvent`] to an [`EventSink`] as it happens,
//! successes and refusals alike; this crate does not depend on the audit crate.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use serde::Serialize;

use crate::error::ErrorCode;
use crate::record::ClientSource;
use crate::scope::ScopeSet;

/// Which endpoint refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Endpoint {
    /// `GET /oauth/authorize`.
    Authorize,
    /// `POST /oauth/login`.
    Login,
    /// `POST /oauth/consent`.
    Consent,
    /// `POST /oauth/token`.
    Token,
    /// `POST /oauth/revoke`.
    Revoke,
    /// `POST /oauth/register`.
    Register,
}

/// How consent for a code was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConsentSource {
    /// The user approved the consent page.
    Given,
    /// A remembered consent covered the request.
    Remembered,
    /// The client is the application's own interface (consent implied by configuration).
    FirstParty,
}

/// Which kind of token was revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenKind {
    /// An access token.
    AccessToken,
    /// A refresh token (its whole grant is revoked).
    RefreshToken,
}

/// One step of the authorization server. Secrets never appear: no codes, tokens, secrets or
/// passwords, only ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum OAuthEvent {
    /// A client was registered (dynamically) or its metadata document fetched and accepted.
    ClientRegistered {
        /// The client id.
        client_id: String,
        /// How.
        source: ClientSource,
        /// The self-asserted name.
        client_name: Option<String>,
        /// The hosts of its redirect URIs.
        redirect_hosts: Vec<String>,
    },
    /// A user logged in on the log-in page.
    LoginSucceeded {
        /// The user.
        user_id: String,
        /// The client the user was authorizing.
        client_id: String,
    },
    /// A log-in failed.
    LoginFailed {
        /// The user name typed (bounded, control characters removed).
        username: String,
        /// The client the user was authorizing.
        client_id: String,
        /// Whether the failure was a lock-out.
        locked_out: bool,
    },
    /// The user approved the consent page.
    ConsentGranted {
        /// The user.
        user_id: String,
        /// The client.
        client_id: String,
        /// The scopes approved.
        scope: ScopeSet,
        /// The resource.
        resource: String,
        /// Whether the user asked for the consent to be remembered.
        remembered: bool,
    },
    /// The user declined the consent page, or had none of the requested permissions.
    ConsentDenied {
        /// The user.
        user_id: String,
        /// The client.
        client_id: String,
        /// The scopes that were asked for.
        scope: ScopeSet,
    },
    /// A remembered consent was revoked (by the user or an admin), with the client's grants.
    ConsentRevoked {
        /// The user.
        user_id: String,
        /// The client.
        client_id: String,
        /// How many grants were revoked with it.
        grants_revoked: u64,
        /// Who revoked it (the user's own id, or an admin's).
        revoked_by: String,
    },
    /// An authorization code was issued.
    CodeIssued {
        /// The user.
        user_id: String,
        /// The client.
        client_id: String,
        /// The scopes.
        scope: ScopeSet,
        /// The resource.
        resource: String,
        /// The grant the code starts.
        grant_id: String,
        /// How consent was obtained.
        consent: ConsentSource,
    },
    /// A code was exchanged for tokens.
    TokenIssued {
        /// The user.
        user_id: String,
        /// The client.
        client_id: String,
        /// The scopes of the access token.
        scope: ScopeSet,
        /// The audience.
        resource: String,
        /// The grant.
        grant_id: String,
        /// The access token's id.
        access_token_id: String,
    },
    /// A refresh token was exchanged (rotated) for new tokens.
    TokenRefreshed {
        /// The user.
        user_id: String,
        /// The client.
        client_id: String,
        /// The scopes of the access token.
        scope: ScopeSet,
        /// The audience.
        resource: String,
        /// The grant.
        grant_id: String,
        /// The new access token's id.
        access_token_id: String,
    },
    /// A token was revoked through the revocation endpoint.
    TokenRevoked {
        /// The client that asked.
        client_id: String,
        /// The user, when known.
        user_id: Option<String>,
        /// The grant revoked with a refresh token.
        grant_id: Option<String>,
        /// What was revoked.
        token_kind: TokenKind,
    },
    /// A code was presented again: its grant and every token issued from it were revoked.
    CodeReplayDetected {
        /// The user of the code.
        user_id: String,
        /// The client of the code.
        client_id: String,
        /// The revoked grant.
        grant_id: String,
    },
    /// A rotated-out refresh token was presented again: the whole grant (family) was revoked.
    RefreshReuseDetected {
        /// The user of the grant.
        user_id: String,
        /// The client of the grant.
        client_id: String,
        /// The revoked grant.
        grant_id: String,
    },
    /// A request was refused (bad PKCE, redirect mismatch, missing CSRF token, wrong
    /// audience, bad client credentials, …).
    RequestRefused {
        /// Where.
        endpoint: Endpoint,
        /// The client named by the request, if any.
        client_id: Option<String>,
        /// The error answered.
        error: ErrorCode,
        /// Why, for the log (never secrets).
        reason: String,
    },
    /// A request was refused before any work because its sender is over a rate limit (the
    /// embedding server decides the limits: [`AuthorizationServer::too_many_requests`]).
    ///
    /// [`AuthorizationServer::too_many_requests`]: crate::AuthorizationServer::too_many_requests
    RequestThrottled {
        /// Where.
        endpoint: Endpoint,
        /// Seconds until a request can pass again.
        retry_after_secs: u64,
    },
}

impl OAuthEvent {
    /// A dotted name for the audit log, such as `oauth.token_issued`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ClientRegistered { .. } => "oauth.client_registered",
            Self::LoginSucceeded { .. } => "oauth.login_succeeded",
            Self::LoginFailed { .. } => "oauth.login_failed",
            Self::ConsentGranted { .. } => "oauth.consent_granted",
            Self::ConsentDenied { .. } => "oauth.consent_denied",
            Self::ConsentRevoked { .. } => "oauth.consent_revoked",
            Self::CodeIssued { .. } => "oauth.code_issued",
            Self::TokenIssued { .. } => "oauth.token_issued",
            Self::TokenRefreshed { .. } => "oauth.token_refreshed",
            Self::TokenRevoked { .. } => "oauth.token_revoked",
            Self::CodeReplayDetected { .. } => "oauth.code_replay_detected",
            Self::RefreshReuseDetected { .. } => "oauth.refresh_reuse_detected",
            Self::RequestRefused { .. } => "oauth.request_refused",
            Self::RequestThrottled { .. } => "oauth.request_throttled",
        }
    }

    /// Whether the event records something refused or an attack detected (an audit
    /// "failure" or "denied" outcome).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::LoginFailed { .. }
                | Self::ConsentDenied { .. }
                | Self::CodeReplayDetected { .. }
                | Self::RefreshReuseDetected { .. }
                | Self::RequestRefused { .. }
                | Self::RequestThrottled { .. }
        )
    }

    /// The user concerned, when known.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Self::LoginSucceeded { user_id, .. }
            | Self::ConsentGranted { user_id, .. }
            | Self::ConsentDenied { user_id, .. }
            | Self::ConsentRevoked { user_id, .. }
            | Self::CodeIssued { user_id, .. }
            | Self::TokenIssued { user_id, .. }
            | Self::TokenRefreshed { user_id, .. }
            | Self::CodeReplayDetected { user_id, .. }
            | Self::RefreshReuseDetected { user_id, .. } => Some(user_id),
            Self::TokenRevoked { user_id, .. } => user_id.as_deref(),
            _ => None,
        }
    }

    /// The client concerned, when known.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::ClientRegistered { client_id, .. }
            | Self::LoginSucceeded { client_id, .. }
            | Self::LoginFailed { client_id, .. }
            | Self::ConsentGranted { client_id, .. }
            | Self::ConsentDenied { client_id, .. }
            | Self::ConsentRevoked { client_id, .. }
            | Self::CodeIssued { client_id, .. }
            | Self::TokenIssued { client_id, .. }
            | Self::TokenRefreshed { client_id, .. }
            | Self::TokenRevoked { client_id, .. }
            | Self::CodeReplayDetected { client_id, .. }
            | Self::RefreshReuseDetected { client_id, .. } => Some(client_id),
            Self::RequestRefused { client_id, .. } => client_id.as_deref(),
            Self::RequestThrottled { .. } => None,
        }
    }
}

/// Receives the events (the server: turns them into audit events).
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Records one event. Must not fail the OAuth step: a sink that cannot record should log.
    async fn record(&self, event: OAuthEvent);
}

#[async_trait]
impl<T: EventSink + ?Sized> EventSink for Arc<T> {
    async fn record(&self, event: OAuthEvent) {
        (**self).record(event).await;
    }
}

/// Drops every event.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEvents;

#[async_trait]
impl EventSink for NoEvents {
    async fn record(&self, _event: OAuthEvent) {}
}

/// Keeps events in memory, for tests.
#[derive(Debug, Default)]
pub struct MemoryEventSink {
    events: Mutex<Vec<OAuthEvent>>,
}

impl MemoryEventSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The events so far, oldest first.
    pub fn events(&self) -> Vec<OAuthEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes the events so far, leaving none.
    pub fn take(&self) -> Vec<OAuthEvent> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The names of the events so far.
    pub fn names(&self) -> Vec<&'static str> {
        self.events().iter().map(OAuthEvent::name).collect()
    }
}

#[async_trait]
impl EventSink for MemoryEventSink {
    async fn record(&self, event: OAuthEvent) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }
}
