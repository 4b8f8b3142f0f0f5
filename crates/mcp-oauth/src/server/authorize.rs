//! The browser side: `GET /oauth/authorize`, the log-in form and the consent form.

use url::Url;

use super::AuthorizationServer;
use crate::client::ClientError;
use crate::error::ErrorCode;
use crate::event::{ConsentSource, Endpoint, OAuthEvent};
use crate::pages::{
    ConsentView, Interaction, LoginView, Page, PageKeys, Pending, Redirect, ScopeLine,
};
use crate::params::{Params, shorten};
use crate::pkce::{S256, is_s256_challenge};
use crate::record::{ClientRecord, ClientSource, CodeRecord, ConsentRecord};
use crate::redirect::{redirect_csp_source, redirect_display_host, redirect_matches};
use crate::scope::ScopeSet;
use crate::seams::AuthenticationError;
use crate::secret::{hash_token, random_token};

/// Longest `state` accepted, in bytes.
pub const MAX_STATE_LEN: usize = 2048;
const MAX_USERNAME_LEN: usize = 256;
const MAX_PASSWORD_LEN: usize = 1024;

/// A refusal before the redirect URI is trusted (shown as a page) or after (sent to it).
enum Refusal {
    Page(Page),
    Redirect(Redirect),
}

impl From<Refusal> for Interaction {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Page(page) => Interaction::Page(page),
            Refusal::Redirect(redirect) => Interaction::Redirect(redirect),
        }
    }
}

/// Where and how to answer an error to the client.
struct ReplyTo<'a> {
    redirect_uri: &'a str,
    state: Option<&'a str>,
    status: u16,
}

impl AuthorizationServer {
    /// `GET {issuer}/oauth/authorize?…`: checks the authorization request and shows the
    /// log-in page (setting the CSRF cookie if the browser has none).
    ///
    /// Before the client and its redirect URI are known good, errors are shown as a page
    /// (never redirected: that would be an open redirect); after, they are redirected to
    /// the client with `error`, `state` and `iss` (RFC 9207).
    pub async fn authorize(&self, query: &str, cookie_header: Option<&str>) -> Interaction {
        let params = match Params::parse(query.as_bytes()) {
            Ok(p) => p,
            Err(e) => {
                let reason = e.error_description.unwrap_or_default();
                return Interaction::Page(
                    self.refuse_page(
                        Endpoint::Authorize,
                        None,
                        ErrorCode::InvalidRequest,
                        400,
                        &reason,
                    )
                    .await,
                );
            }
        };
        let (client, mut pending) = match self.check_request(&params).await {
            Ok(ok) => ok,
            Err(refusal) => return refusal.into(),
        };
        let (cookie, set_cookie) = match self.inner.keys.cookie_from_header(cookie_header) {
            Some(cookie) => (cookie, None),
            None => {
                let (value, header) = self.inner.keys.new_cookie();
                (value, Some(header))
            }
        };
        pending.binding = PageKeys::binding(&cookie);
        let sealed = self.inner.keys.seal(&pending);
        let csrf = self.inner.keys.csrf_token(&cookie);
        let view = LoginView {
            client_name: display_name(&client),
            unverified: client.source == ClientSource::Dynamic,
            username: "",
            error: None,
            request: &sealed,
            csrf_token: &csrf,
            form_target: redirect_csp_source(&pending.redirect_uri),
        };
        Interaction::Page(self.inner.pages.login(200, &view, set_cookie))
    }

    /// `POST {issuer}/oauth/login` (form): checks the CSRF token and the user's password;
    /// then shows the consent page, or, when a remembered consent covers the request,
    /// redirects to the client with a code. "Cancel" redirects with `access_denied`.
    pub async fn log_in(&self, form: &[u8], cookie_header: Option<&str>) -> Interaction {
        let (params, cookie, pending) =
            match self.open_form(Endpoint::Login, form, cookie_header).await {
                Ok(ok) => ok,
                Err(page) => return Interaction::Page(page),
            };
        if pending.user.is_some() {
            return Interaction::Page(
                self.refuse_page(
                    Endpoint::Login,
                    Some(&pending.client_id),
                    ErrorCode::InvalidRequest,
                    400,
                    "a consent form was posted to the log-in endpoint",
                )
                .await,
            );
        }
        let reply = ReplyTo {
            redirect_uri: &pending.redirect_uri,
            state: pending.state.as_deref(),
            status: 303,
        };
        if params.get("action") == Some("cancel") {
            self.record(OAuthEvent::RequestRefused {
                endpoint: Endpoint::Login,
                client_id: Some(pending.client_id.clone()),
                error: ErrorCode::AccessDenied,
                reason: "the user cancelled at the log-in page".into(),
            })
            .await;
            return Interaction::Redirect(self.error_redirect(
                &reply,
                ErrorCode::AccessDenied,
                "the user cancelled",
            ));
        }
        let client = match self.inner.clients.find(&pending.client_id).await {
            Ok(client) => client,
            Err(e) => {
                return Interaction::Page(
                    self.client_error_page(Endpoint::Login, &pending.client_id, e)
                        .await,
                );
            }
        };
        let csrf = self.inner.keys.csrf_token(&cookie);
        let sealed_again = params.get("request").unwrap_or_default().to_owned();
        let username = params.get("username").unwrap_or_default();
        let password = params.get("password").unwrap_or_default();
        let login_page = |status: u16, error: &str, username: &str| {
            let view = LoginView {
                client_name: display_name(&client),
                unverified: client.source == ClientSource::Dynamic,
                username,
                error: Some(error),
                request: &sealed_again,
                csrf_token: &csrf,
                form_target: redirect_csp_source(&pending.redirect_uri),
            };
            Interaction::Page(self.inner.pages.login(status, &view, None))
        };
        if username.is_empty() || password.is_empty() {
            return login_page(400, "Enter your user name and password.", "");
        }
        if username.len() > MAX_USERNAME_LEN || password.len() > MAX_PASSWORD_LEN {
            return login_page(400, "Invalid user name or password.", "");
        }
        let user = match self.inner.users.authenticate(username, password).await {
            Ok(user) => user,
            Err(AuthenticationError::InvalidCredentials) => {
                self.record(OAuthEvent::LoginFailed {
                    username: shorten(username),
                    client_id: client.client_id.clone(),
                    locked_out: false,
                })
                .await;
                return login_page(401, "Invalid user name or password.", username);
            }
            Err(AuthenticationError::LockedOut { .. }) => {
                self.record(OAuthEvent::LoginFailed {
                    username: shorten(username),
                    client_id: client.client_id.clone(),
                    locked_out: true,
                })
                .await;
                return login_page(429, "Too many failed attempts. Try again later.", username);
            }
            Err(AuthenticationError::Unavailable(e)) => {
                tracing::warn!(error = %e, "user authenticator unavailable during OAuth log-in");
                return Interaction::Page(self.inner.pages.error(
                    503,
                    "Temporarily unavailable",
                    "Signing in is not possible right now. Try again later.",
                ));
            }
        };
        self.record(OAuthEvent::LoginSucceeded {
            user_id: user.id.clone(),
            client_id: client.client_id.clone(),
        })
        .await;
        let grantable = pending.scope.intersection(&user.scopes);
        if grantable.is_empty() {
            self.record(OAuthEvent::ConsentDenied {
                user_id: user.id.clone(),
                client_id: client.client_id.clone(),
                scope: pending.scope.clone(),
            })
            .await;
            return Interaction::Redirect(self.error_redirect(
                &reply,
                ErrorCode::AccessDenied,
                "the user holds none of the requested permissions",
            ));
        }
        if client.first_party && client.source == ClientSource::Config {
            return self
                .issue_code(&pending, &user.id, grantable, ConsentSource::FirstParty)
                .await;
        }
        match self.inner.store.consent(&user.id, &client.client_id).await {
            Ok(Some(consent)) if consent.covers(&grantable, &pending.resource) => {
                return self
                    .issue_code(&pending, &user.id, grantable, ConsentSource::Remembered)
                    .await;
            }
            Ok(_) => {}
            Err(e) => {
                let err = self.store_error("consent lookup", &e);
                return Interaction::Page(self.inner.pages.error(
                    err.status,
                    "Temporarily unavailable",
                    "Try again later.",
                ));
            }
        }
        let withheld = pending.scope.difference(&grantable);
        let mut next = pending.clone();
        next.user = Some((user.id.clone(), user.username.clone()));
        next.grantable = Some(grantable.clone());
        next.expires_at = Self::now() + self.inner.keys.ttl_secs();
        let sealed = self.inner.keys.seal(&next);
        let descriptions = &self.inner.settings.descriptions;
        let view = ConsentView {
            client_name: display_name(&client),
            client_id: &client.client_id,
            unverified: client.source == ClientSource::Dynamic,
            username: &user.username,
            redirect_host: &redirect_display_host(&pending.redirect_uri),
            resource: &pending.resource,
            scopes: grantable
                .iter()
                .map(|name| ScopeLine {
                    name,
                    description: descriptions.get(name).map(String::as_str),
                })
                .collect(),
            withheld: withheld.iter().collect(),
            request: &sealed,
            csrf_token: &csrf,
            form_target: redirect_csp_source(&pending.redirect_uri),
        };
        Interaction::Page(self.inner.pages.consent(&view, None))
    }

    /// `POST {issuer}/oauth/consent` (form): checks the CSRF token and the signed state;
    /// "allow" (optionally remembered) redirects with a code, "deny" with `access_denied`.
    pub async fn consent(&self, form: &[u8], cookie_header: Option<&str>) -> Interaction {
        let (params, _cookie, pending) =
            match self.open_form(Endpoint::Consent, form, cookie_header).await {
                Ok(ok) => ok,
                Err(page) => return Interaction::Page(page),
            };
        let (Some((user_id, _)), Some(grantable)) =
            (pending.user.clone(), pending.grantable.clone())
        else {
            return Interaction::Page(
                self.refuse_page(
                    Endpoint::Consent,
                    Some(&pending.client_id),
                    ErrorCode::InvalidRequest,
                    400,
                    "a log-in form was posted to the consent endpoint",
                )
                .await,
            );
        };
        let reply = ReplyTo {
            redirect_uri: &pending.redirect_uri,
            state: pending.state.as_deref(),
            status: 303,
        };
        match params.get("decision") {
            Some("allow") => {}
            Some("deny") => {
                self.record(OAuthEvent::ConsentDenied {
                    user_id,
                    client_id: pending.client_id.clone(),
                    scope: grantable,
                })
                .await;
                return Interaction::Redirect(self.error_redirect(
                    &reply,
                    ErrorCode::AccessDenied,
                    "the user denied the request",
                ));
            }
            _ => {
                return Interaction::Page(
                    self.refuse_page(
                        Endpoint::Consent,
                        Some(&pending.client_id),
                        ErrorCode::InvalidRequest,
                        400,
                        "no decision (allow or deny) in the consent form",
                    )
                    .await,
                );
            }
        }
        let remember = matches!(params.get("remember"), Some("yes" | "on" | "true"));
        if remember && let Err(e) = self.remember_consent(&user_id, &pending, &grantable).await {
            let err = self.store_error("consent write", &e);
            return Interaction::Page(self.inner.pages.error(
                err.status,
                "Temporarily unavailable",
                "Try again later.",
            ));
        }
        self.record(OAuthEvent::ConsentGranted {
            user_id: user_id.clone(),
            client_id: pending.client_id.clone(),
            scope: grantable.clone(),
            resource: pending.resource.clone(),
            remembered: remember,
        })
        .await;
        self.issue_code(&pending, &user_id, grantable, ConsentSource::Given)
            .await
    }

    async fn remember_consent(
        &self,
        user_id: &str,
        pending: &Pending,
        scope: &ScopeSet,
    ) -> Result<(), mcp_core::StoreError> {
        let now = Self::now();
        let store = &self.inner.store;
        let consent = match store.consent(user_id, &pending.client_id).await? {
            Some(mut existing) => {
                existing.scope = existing.scope.union(scope);
                if !existing.resources.contains(&pending.resource) {
                    existing.resources.push(pending.resource.clone());
                    existing.resources.sort();
                }
                existing.updated_at = now;
                existing
            }
            None => ConsentRecord {
                user_id: user_id.to_owned(),
                client_id: pending.client_id.clone(),
                scope: scope.clone(),
                resources: vec![pending.resource.clone()],
                granted_at: now,
                updated_at: now,
            },
        };
        store.put_consent(&consent).await
    }

    /// Issues a code and redirects to the client with it.
    async fn issue_code(
        &self,
        pending: &Pending,
        user_id: &str,
        scope: ScopeSet,
        consent: ConsentSource,
    ) -> Interaction {
        let now = Self::now();
        let code = random_token();
        let record = CodeRecord {
            code_hash: hash_token(&code),
            client_id: pending.client_id.clone(),
            user_id: user_id.to_owned(),
            redirect_uri: pending.redirect_uri.clone(),
            scope: scope.clone(),
            resource: pending.resource.clone(),
            code_challenge: pending.code_challenge.clone(),
            grant_id: random_token(),
            issued_at: now,
            expires_at: now + self.inner.settings.code_ttl,
        };
        if let Err(e) = self.inner.store.insert_code(&record).await {
            let err = self.store_error("code write", &e);
            return Interaction::Page(self.inner.pages.error(
                err.status,
                "Temporarily unavailable",
                "Try again later.",
            ));
        }
        self.record(OAuthEvent::CodeIssued {
            user_id: user_id.to_owned(),
            client_id: pending.client_id.clone(),
            scope,
            resource: pending.resource.clone(),
            grant_id: record.grant_id.clone(),
            consent,
        })
        .await;
        let mut pairs = vec![("code", code.as_str())];
        if let Some(state) = pending.state.as_deref() {
            pairs.push(("state", state));
        }
        pairs.push(("iss", self.issuer()));
        Interaction::Redirect(Redirect {
            status: 303,
            location: with_query(&pending.redirect_uri, &pairs),
        })
    }

    /// Parses a posted form, checks its CSRF token and opens its signed state.
    async fn open_form(
        &self,
        endpoint: Endpoint,
        form: &[u8],
        cookie_header: Option<&str>,
    ) -> Result<(Params, String, Pending), Page> {
        let params = match Params::parse(form) {
            Ok(p) => p,
            Err(e) => {
                let reason = e.error_description.unwrap_or_default();
                return Err(self
                    .refuse_page(endpoint, None, ErrorCode::InvalidRequest, 400, &reason)
                    .await);
            }
        };
        let cookie = self.inner.keys.cookie_from_header(cookie_header);
        if !self
            .inner
            .keys
            .check_csrf(cookie.as_deref(), params.get("csrf_token"))
        {
            return Err(self
                .refuse_page(
                    endpoint,
                    None,
                    ErrorCode::InvalidRequest,
                    403,
                    "missing or wrong CSRF token",
                )
                .await);
        }
        let cookie = cookie.unwrap_or_default();
        let Some(sealed) = params.get("request") else {
            return Err(self
                .refuse_page(
                    endpoint,
                    None,
                    ErrorCode::InvalidRequest,
                    400,
                    "the form has no request",
                )
                .await);
        };
        match self.inner.keys.unseal(sealed, &cookie, Self::now()) {
            Ok(pending) => Ok((params, cookie, pending)),
            Err(crate::pages::Unseal::Expired) => Err(self
                .refuse_page(
                    endpoint,
                    None,
                    ErrorCode::InvalidRequest,
                    400,
                    "the form expired",
                )
                .await),
            Err(why) => Err(self
                .refuse_page(
                    endpoint,
                    None,
                    ErrorCode::InvalidRequest,
                    403,
                    &format!("the form's signed state was refused ({why:?})"),
                )
                .await),
        }
    }

    /// Checks an authorization request (RFC 6749 §4.1.1, RFC 7636, RFC 8707).
    async fn check_request(&self, params: &Params) -> Result<(ClientRecord, Pending), Refusal> {
        let settings = &self.inner.settings;
        let Some(client_id) = params.get("client_id") else {
            return Err(Refusal::Page(
                self.refuse_page(
                    Endpoint::Authorize,
                    None,
                    ErrorCode::InvalidRequest,
                    400,
                    "the request names no client (client_id)",
                )
                .await,
            ));
        };
        let client = match self.inner.clients.find(client_id).await {
            Ok(client) => client,
            Err(e) => {
                return Err(Refusal::Page(
                    self.client_error_page(Endpoint::Authorize, client_id, e)
                        .await,
                ));
            }
        };
        let refuse = |reason: &str| reason.to_owned();
        let redirect_uri = match params.get("redirect_uri") {
            Some(uri) => match client
                .redirect_uris
                .iter()
                .find(|r| redirect_matches(r, uri))
            {
                Some(_) => uri.to_owned(),
                None => {
                    return Err(Refusal::Page(
                        self.refuse_page(
                            Endpoint::Authorize,
                            Some(client_id),
                            ErrorCode::InvalidRequest,
                            400,
                            &refuse("the redirect URI is not registered for this client"),
                        )
                        .await,
                    ));
                }
            },
            None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
            None => {
                return Err(Refusal::Page(
                    self.refuse_page(
                        Endpoint::Authorize,
                        Some(client_id),
                        ErrorCode::InvalidRequest,
                        400,
                        "the request has no redirect_uri and the client registered several",
                    )
                    .await,
                ));
            }
        };
        // From here on the redirect URI is trusted: errors go back to the client.
        let state = params.get("state");
        let (state, state_ok) = match state {
            Some(s) if s.len() > MAX_STATE_LEN => (None, false),
            other => (other, true),
        };
        let reply = ReplyTo {
            redirect_uri: &redirect_uri,
            state,
            status: 302,
        };
        let fail = |code: ErrorCode, reason: &str| (code, reason.to_owned());
        let checked: Result<(ScopeSet, String, String), (ErrorCode, String)> = (|| {
            if !state_ok {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    &format!("state is longer than {MAX_STATE_LEN} bytes"),
                ));
            }
            if params.get("request").is_some() {
                return Err(fail(
                    ErrorCode::RequestNotSupported,
                    "request objects are not supported",
                ));
            }
            if params.get("request_uri").is_some() {
                return Err(fail(
                    ErrorCode::RequestUriNotSupported,
                    "request_uri is not supported",
                ));
            }
            match params.get("response_type") {
                Some("code") => {}
                None => return Err(fail(ErrorCode::InvalidRequest, "response_type is required")),
                Some(_) => {
                    return Err(fail(
                        ErrorCode::UnsupportedResponseType,
                        "only response_type=code is supported",
                    ));
                }
            }
            if params.get("response_mode").is_some_and(|m| m != "query") {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "only response_mode=query is supported",
                ));
            }
            let Some(challenge) = params.get("code_challenge") else {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "code_challenge is required (PKCE with S256)",
                ));
            };
            match params.get("code_challenge_method") {
                Some(S256) => {}
                None => {
                    return Err(fail(
                        ErrorCode::InvalidRequest,
                        "code_challenge_method=S256 is required (plain is not supported)",
                    ));
                }
                Some(_) => {
                    return Err(fail(
                        ErrorCode::InvalidRequest,
                        "code_challenge_method must be S256 (plain is not supported)",
                    ));
                }
            }
            if !is_s256_challenge(challenge) {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "code_challenge must be 43 base64url characters (S256)",
                ));
            }
            if params
                .get("prompt")
                .is_some_and(|p| p.split(' ').any(|v| v == "none"))
            {
                return Err(fail(
                    ErrorCode::LoginRequired,
                    "prompt=none: the user must log in",
                ));
            }
            let scope = self.requested_scope(&client, params.get("scope"))?;
            let resource = self.requested_resource(params.all("resource"))?;
            Ok((scope, resource, challenge.to_owned()))
        })();
        let (scope, resource, code_challenge) = match checked {
            Ok(ok) => ok,
            Err((code, reason)) => {
                self.record(OAuthEvent::RequestRefused {
                    endpoint: Endpoint::Authorize,
                    client_id: Some(client.client_id.clone()),
                    error: code,
                    reason: reason.clone(),
                })
                .await;
                return Err(Refusal::Redirect(
                    self.error_redirect(&reply, code, &reason),
                ));
            }
        };
        let pending = Pending {
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            state: state.map(str::to_owned),
            scope,
            resource,
            code_challenge,
            user: None,
            grantable: None,
            expires_at: Self::now() + self.inner.keys.ttl_secs(),
            binding: String::new(),
        };
        let _ = settings;
        Ok((client, pending))
    }

    /// The scopes of an authorization request: as asked, else the client's registered ones,
    /// else the default; all supported and allowed to the client.
    fn requested_scope(
        &self,
        client: &ClientRecord,
        asked: Option<&str>,
    ) -> Result<ScopeSet, (ErrorCode, String)> {
        let settings = &self.inner.settings;
        let scope = match asked {
            Some(text) => {
                ScopeSet::parse(text).map_err(|e| (ErrorCode::InvalidScope, e.to_string()))?
            }
            None => client
                .scope
                .clone()
                .unwrap_or_else(|| settings.default_scopes.clone()),
        };
        if scope.is_empty() {
            return Err((
                ErrorCode::InvalidScope,
                "no scope requested and no default scope".into(),
            ));
        }
        let unknown = scope.difference(&settings.scopes_supported);
        if !unknown.is_empty() {
            return Err((
                ErrorCode::InvalidScope,
                format!("unsupported scope: {unknown}"),
            ));
        }
        if let Some(allowed) = &client.scope {
            let beyond = scope.difference(allowed);
            if !beyond.is_empty() {
                return Err((
                    ErrorCode::InvalidScope,
                    format!("the client may not request: {beyond}"),
                ));
            }
        }
        Ok(scope)
    }

    /// The resource of a request (RFC 8707): one of ours, or the default when none is named.
    pub(crate) fn requested_resource(
        &self,
        asked: &[String],
    ) -> Result<String, (ErrorCode, String)> {
        let settings = &self.inner.settings;
        match asked {
            [] if settings.require_resource => Err((
                ErrorCode::InvalidTarget,
                "the resource parameter is required".into(),
            )),
            [] => Ok(settings.resources[0].clone()),
            [one] => self.known_resource(one).ok_or_else(|| {
                (
                    ErrorCode::InvalidTarget,
                    "the resource is not served by this authorization server".into(),
                )
            }),
            _ => Err((
                ErrorCode::InvalidTarget,
                "only one resource may be requested".into(),
            )),
        }
    }

    /// The configured resource `asked` names (ignoring one trailing `/`).
    pub(crate) fn known_resource(&self, asked: &str) -> Option<String> {
        let trimmed = asked.strip_suffix('/').unwrap_or(asked);
        self.inner
            .settings
            .resources
            .iter()
            .find(|r| r.as_str() == trimmed)
            .cloned()
    }

    fn error_redirect(&self, reply: &ReplyTo<'_>, code: ErrorCode, description: &str) -> Redirect {
        let mut pairs = vec![("error", code.as_str()), ("error_description", description)];
        if let Some(state) = reply.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", self.issuer()));
        Redirect {
            status: reply.status,
            location: with_query(reply.redirect_uri, &pairs),
        }
    }

    async fn refuse_page(
        &self,
        endpoint: Endpoint,
        client_id: Option<&str>,
        error: ErrorCode,
        status: u16,
        reason: &str,
    ) -> Page {
        self.record(OAuthEvent::RequestRefused {
            endpoint,
            client_id: client_id.map(shorten),
            error,
            reason: reason.to_owned(),
        })
        .await;
        let message = match status {
            403 => "This form expired or did not come from this site. Return to the application and start again.".to_owned(),
            _ => format!("The authorization request was refused: {reason}."),
        };
        self.inner.pages.error(status, "Request refused", &message)
    }

    async fn client_error_page(
        &self,
        endpoint: Endpoint,
        client_id: &str,
        err: ClientError,
    ) -> Page {
        match err {
            ClientError::Unknown(reason) => {
                self.refuse_page(
                    endpoint,
                    Some(client_id),
                    ErrorCode::InvalidClient,
                    400,
                    &format!("the client is not valid: {reason}"),
                )
                .await
            }
            ClientError::Store(e) => {
                self.inner
                    .pages
                    .error(e.status, "Temporarily unavailable", "Try again later.")
            }
        }
    }
}

/// The name to show for a client: its registered name, else its id.
fn display_name(client: &ClientRecord) -> &str {
    client.client_name.as_deref().unwrap_or(&client.client_id)
}

/// `uri` with `pairs` appended to its query (form-encoded).
fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    match Url::parse(uri) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (k, v) in pairs {
                    query.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => uri.to_owned(),
    }
}
