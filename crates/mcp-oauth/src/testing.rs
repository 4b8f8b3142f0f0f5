//! Test doubles and a browser stand-in (feature `testing`), for this crate's tests, the
//! conformance suite and the server's tests.
//!
//! - [`TestUsers`]: users with passwords and scopes, which can be disabled or locked out.
//! - [`TestTokens`]: mints opaque access tokens, remembers what each was minted for, and
//!   which were revoked.
//! - [`TestBrowser`]: drives the authorization pages the way a browser would: it keeps the
//!   CSRF cookie, reads the hidden fields of each form and posts them back.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use mcp_core::BoxError;

use crate::pages::Interaction;
use crate::record::AccessTokenRef;
use crate::scope::ScopeSet;
use crate::seams::{
    AccessTokenIssuer, AuthenticatedUser, AuthenticationError, MintedToken, PresentedToken,
    TokenRequest, UserAuthenticator,
};
use crate::server::AuthorizationServer;

/// Users for tests: name, password, scopes; disable or lock them at will.
#[derive(Debug, Default)]
pub struct TestUsers {
    users: Mutex<HashMap<String, (String, AuthenticatedUser, bool, bool)>>,
}

impl TestUsers {
    /// No users.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a user whose id is `id-<name>`.
    pub fn add(&self, name: &str, password: &str, scopes: &str) {
        let user = AuthenticatedUser::new(
            format!("id-{name}"),
            name,
            ScopeSet::parse(scopes).expect("test scopes"),
        );
        self.lock()
            .insert(name.to_owned(), (password.to_owned(), user, false, false));
    }

    /// Disables (or enables) a user: no log-in, and `user` answers `None`.
    pub fn set_disabled(&self, name: &str, disabled: bool) {
        if let Some(entry) = self.lock().get_mut(name) {
            entry.2 = disabled;
        }
    }

    /// Locks (or unlocks) a user out.
    pub fn set_locked(&self, name: &str, locked: bool) {
        if let Some(entry) = self.lock().get_mut(name) {
            entry.3 = locked;
        }
    }

    /// Replaces a user's scopes (their permissions changed).
    pub fn set_scopes(&self, name: &str, scopes: &str) {
        if let Some(entry) = self.lock().get_mut(name) {
            entry.1.scopes = ScopeSet::parse(scopes).expect("test scopes");
        }
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (String, AuthenticatedUser, bool, bool)>> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl UserAuthenticator for TestUsers {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<AuthenticatedUser, AuthenticationError> {
        let users = self.lock();
        match users.get(username) {
            Some((_, _, _, true)) => Err(AuthenticationError::LockedOut {
                retry_after_secs: Some(60),
            }),
            Some((pw, user, false, false)) if pw == password => Ok(user.clone()),
            _ => Err(AuthenticationError::InvalidCredentials),
        }
    }

    async fn user(&self, user_id: &str) -> Result<Option<AuthenticatedUser>, BoxError> {
        Ok(self
            .lock()
            .values()
            .find(|(_, u, disabled, _)| u.id == user_id && !disabled)
            .map(|(_, u, _, _)| u.clone()))
    }
}

/// What [`TestTokens`] knows about a minted token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MintRecord {
    /// The token text.
    pub token: String,
    /// What it was minted for.
    pub request: TokenRequest,
    /// Its id and expiry.
    pub reference: AccessTokenRef,
}

/// Mints opaque access tokens `at-<n>` valid for an hour, and records revocations.
#[derive(Debug, Default)]
pub struct TestTokens {
    state: Mutex<(Vec<MintRecord>, HashSet<String>)>,
}

impl TestTokens {
    /// Nothing minted yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every token minted so far, oldest first.
    pub fn minted(&self) -> Vec<MintRecord> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clone()
    }

    /// What `token` was minted for, if it was.
    pub fn find(&self, token: &str) -> Option<MintRecord> {
        self.minted().into_iter().find(|m| m.token == token)
    }

    /// Whether the token with this text was revoked.
    pub fn is_revoked(&self, token: &str) -> bool {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .0
            .iter()
            .find(|m| m.token == token)
            .is_some_and(|m| state.1.contains(&m.reference.id))
    }
}

#[async_trait]
impl AccessTokenIssuer for TestTokens {
    async fn mint(&self, request: &TokenRequest) -> Result<MintedToken, BoxError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let n = state.0.len() + 1;
        let token = format!("at-{n}-{}", crate::secret::random_token());
        let reference =
            AccessTokenRef::new(format!("jti-{n}"), chrono::Utc::now().timestamp() + 3600);
        state.0.push(MintRecord {
            token: token.clone(),
            request: request.clone(),
            reference: reference.clone(),
        });
        Ok(MintedToken::new(token, reference, 3600))
    }

    async fn revoke(&self, tokens: &[AccessTokenRef]) -> Result<(), BoxError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for t in tokens {
            state.1.insert(t.id.clone());
        }
        Ok(())
    }

    async fn recognise(&self, token: &str) -> Result<Option<PresentedToken>, BoxError> {
        Ok(self
            .find(token)
            .map(|m| PresentedToken::new(m.reference.clone(), Some(m.request.client_id.clone()))))
    }
}

/// A browser stand-in for the authorization pages: it keeps the CSRF cookie and posts the
/// forms back with their hidden fields, as a browser without JavaScript would.
#[derive(Debug, Default, Clone)]
pub struct TestBrowser {
    /// The `Cookie` header it sends (the CSRF cookie once set).
    pub cookie: Option<String>,
}

impl TestBrowser {
    /// A browser without cookies.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the cookie a page sets.
    pub fn absorb(&mut self, interaction: &Interaction) {
        if let Some(set) = interaction.page().and_then(|p| p.set_cookie.as_deref()) {
            let pair = set.split(';').next().unwrap_or_default().to_owned();
            self.cookie = Some(pair);
        }
    }

    /// `GET /oauth/authorize?query`.
    pub async fn authorize(&mut self, server: &AuthorizationServer, query: &str) -> Interaction {
        let answer = server.authorize(query, self.cookie.as_deref()).await;
        self.absorb(&answer);
        answer
    }

    /// Submits the log-in form of `page` with these credentials.
    pub async fn log_in(
        &mut self,
        server: &AuthorizationServer,
        page: &Interaction,
        username: &str,
        password: &str,
    ) -> Interaction {
        let fields = hidden_fields(page);
        let form = encode(&[
            ("csrf_token", fields.0.as_str()),
            ("request", fields.1.as_str()),
            ("username", username),
            ("password", password),
            ("action", "login"),
        ]);
        server.log_in(form.as_bytes(), self.cookie.as_deref()).await
    }

    /// Submits the consent form of `page` with `decision` (`allow` or `deny`).
    pub async fn decide(
        &mut self,
        server: &AuthorizationServer,
        page: &Interaction,
        decision: &str,
        remember: bool,
    ) -> Interaction {
        let fields = hidden_fields(page);
        let mut pairs = vec![
            ("csrf_token", fields.0.as_str()),
            ("request", fields.1.as_str()),
            ("decision", decision),
        ];
        if remember {
            pairs.push(("remember", "yes"));
        }
        server
            .consent(encode(&pairs).as_bytes(), self.cookie.as_deref())
            .await
    }
}

/// The `csrf_token` and `request` hidden fields of a page (empty when absent).
pub fn hidden_fields(page: &Interaction) -> (String, String) {
    let html = page.page().map(|p| p.html.as_str()).unwrap_or_default();
    (field(html, "csrf_token"), field(html, "request"))
}

fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    html.find(&marker)
        .map(|i| {
            let rest = &html[i + marker.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_owned()
        })
        .unwrap_or_default()
}

/// A form body from pairs.
pub fn encode(pairs: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

/// The query parameters of a redirect's `Location`.
pub fn redirect_params(interaction: &Interaction) -> HashMap<String, String> {
    interaction
        .redirect()
        .and_then(|r| url::Url::parse(&r.location).ok())
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}
