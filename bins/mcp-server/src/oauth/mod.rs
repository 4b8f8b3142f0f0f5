//! OAuth 2.1 for MCP clients (issue 14): the resource server's challenges on every response
//! ([`challenge`]), and the built-in authorization server of `mcp-oauth` wired to this server's
//! user accounts, JWT issuer and audit log ([`attach`]); the routes are in
//! `crate::routes::oauth`.
mod challenge;
pub mod seams;

use std::sync::Arc;

use anyhow::Context;
use mcp_oauth::AuthorizationServer;

pub use challenge::challenge;
pub use seams::within;

use crate::state::AppState;

/// Sets up the built-in authorization server of `state` (`state.oauth`), when the resource
/// server is on (the public URL is known) and `oauth.enabled`. Its seams hold a copy of the
/// state without it.
pub fn attach(mut state: AppState) -> anyhow::Result<AppState> {
    let config = Arc::clone(&state.config);
    let Some(rs) = state.resource_server.clone() else {
        return Ok(state);
    };
    if !config.oauth.enabled {
        return Ok(state);
    }
    let scopes: Vec<String> = rs.scopes().iter().map(str::to_owned).collect();
    let library = config
        .oauth
        .library_config(
            rs.public_url(),
            &config.oauth_resources(),
            &scopes,
            &|name| std::env::var(name).ok(),
        )
        .context("[oauth]")?;
    let ttl = config.oauth.access_token_ttl(config.auth.token_ttl_secs);
    let (users, tokens, audit) = seams::seams(&state, rs.scopes().clone(), ttl);
    let mut builder = AuthorizationServer::builder(library)
        .store(Arc::clone(&state.oauth_store))
        .users(users)
        .tokens(tokens)
        .events(audit);
    if config.oauth.client_metadata_documents.enabled {
        let fetcher = match rs.fetcher() {
            Some(fetcher) => fetcher,
            None => Arc::new(crate::resource_server::https_client(
                &config.oauth.extra_ca_files,
            )?),
        };
        builder = builder.fetcher(fetcher);
    }
    state.oauth = Some(builder.build().context("[oauth]")?);
    // A memory counter store counts this instance alone: the limits then keep their own,
    // bounded by `tracked_addresses`, so addresses cannot crowd out the log-in lock-out's keys.
    let shared = (config.limits.counter_backend(&config.storage) != crate::config::Backend::Memory)
        .then(|| Arc::clone(&state.counters));
    state.oauth_limits = Some(Arc::new(crate::oauth_limits::OAuthLimits::from_config(
        &config.oauth.rate_limits,
        shared,
    )));
    tracing::info!(
        issuer = rs.public_url(),
        "OAuth authorization server on (docs/oauth.md)"
    );
    Ok(state)
}

/// How often expired OAuth records are removed.
pub const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Starts the upkeep of the authorization server of `state` (if any): every
/// [`PURGE_EVERY`], expired codes, refresh tokens and grants are removed.
pub fn spawn_upkeep(state: &AppState) {
    let Some(server) = state.oauth.clone() else {
        return;
    };
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(PURGE_EVERY);
        loop {
            tick.tick().await;
            match server.purge_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "expired OAuth records removed"),
                Err(e) => tracing::warn!(error = %e, "OAuth upkeep failed"),
            }
        }
    });
}
