//! [`AuthorizationServer`]: the endpoints, framework-free. Each method takes what the HTTP
//! request carried (query string, form body, `Cookie` and `Authorization` headers) and
//! returns what to answer, as data the embedding server copies onto its response.

mod authorize;
mod grant;
mod manage;
mod token;

use std::collections::HashMap;
use std::sync::Arc;

use crate::client::Clients;
use crate::client::document::DocumentClients;
use crate::config::{MAX_CODE_TTL_SECS, MIN_SECRET_BYTES, OAuthConfig, check_base_url};
use crate::error::{Error, ErrorResponse};
use crate::event::{EventSink, NoEvents, OAuthEvent};
use crate::fetch::HttpFetch;
use crate::metadata::{
    AUTH_METHODS, AuthorizationServerMetadata, Endpoints, authorization_server_metadata_paths,
};
use crate::pages::{Descriptions, PageKeys, Pages};
use crate::record::{AuthMethod, ClientRecord, ClientSource};
use crate::redirect::validate_redirect_uri;
use crate::resource::ProtectedResource;
use crate::scope::ScopeSet;
use crate::seams::{AccessTokenIssuer, UserAuthenticator};
use crate::secret::{Secret, hash_token};
use crate::store::OAuthStore;

pub use token::TokenResponse;

/// How long after expiry codes and other records are kept before `purge_expired` removes
/// them, in seconds: a code replayed within this time still revokes its grant.
pub const PURGE_GRACE_SECS: i64 = 3600;

/// The validated configuration.
pub(crate) struct Settings {
    pub(crate) endpoints: Endpoints,
    pub(crate) resources: Vec<String>,
    pub(crate) require_resource: bool,
    pub(crate) scopes_supported: ScopeSet,
    pub(crate) default_scopes: ScopeSet,
    pub(crate) descriptions: Descriptions,
    pub(crate) code_ttl: i64,
    pub(crate) refresh_ttl: i64,
    pub(crate) grant_max: i64,
    pub(crate) dynamic_registration: bool,
    pub(crate) max_clients: u64,
    pub(crate) initial_access_token: Option<Secret>,
    pub(crate) service_documentation: Option<String>,
}

struct Inner {
    settings: Settings,
    store: Arc<dyn OAuthStore>,
    users: Arc<dyn UserAuthenticator>,
    tokens: Arc<dyn AccessTokenIssuer>,
    events: Arc<dyn EventSink>,
    clients: Clients,
    pages: Pages,
    keys: PageKeys,
}

/// The OAuth 2.1 authorization server. Cheap to clone (one `Arc`).
///
/// Built with [`AuthorizationServer::builder`]; see the crate documentation for the flow and
/// the endpoints to route.
#[derive(Clone)]
pub struct AuthorizationServer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("issuer", &self.inner.settings.endpoints.issuer)
            .field("resources", &self.inner.settings.resources)
            .finish_non_exhaustive()
    }
}

/// Collects what the authorization server needs; [`build`](Self::build) validates it.
pub struct AuthorizationServerBuilder {
    config: OAuthConfig,
    store: Option<Arc<dyn OAuthStore>>,
    users: Option<Arc<dyn UserAuthenticator>>,
    tokens: Option<Arc<dyn AccessTokenIssuer>>,
    events: Arc<dyn EventSink>,
    fetcher: Option<Arc<dyn HttpFetch>>,
}

impl std::fmt::Debug for AuthorizationServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServerBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AuthorizationServerBuilder {
    /// The store of clients, codes, grants, refresh tokens and consents (required).
    #[must_use]
    pub fn store(mut self, store: Arc<dyn OAuthStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Who checks passwords and says who a user is (required).
    #[must_use]
    pub fn users(mut self, users: Arc<dyn UserAuthenticator>) -> Self {
        self.users = Some(users);
        self
    }

    /// Who mints and revokes access tokens (required).
    #[must_use]
    pub fn tokens(mut self, tokens: Arc<dyn AccessTokenIssuer>) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// Where events go (default: nowhere).
    #[must_use]
    pub fn events(mut self, events: Arc<dyn EventSink>) -> Self {
        self.events = events;
        self
    }

    /// The fetcher of client metadata documents (without one, such client ids are refused).
    #[must_use]
    pub fn fetcher(mut self, fetcher: Arc<dyn HttpFetch>) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    /// Validates the configuration and builds the server.
    pub fn build(self) -> Result<AuthorizationServer, Error> {
        let missing = |what: &str| Error::config(format!("the authorization server needs {what}"));
        let store = self.store.ok_or_else(|| missing("a store"))?;
        let users = self.users.ok_or_else(|| missing("a user authenticator"))?;
        let tokens = self
            .tokens
            .ok_or_else(|| missing("an access-token issuer"))?;
        let config = self.config;
        let settings = validate(&config)?;
        let statics = static_clients(&config, &settings.scopes_supported)?;
        let documents = match (&self.fetcher, config.client_metadata_documents.enabled) {
            (Some(fetcher), true) => Some(DocumentClients::new(
                Arc::clone(fetcher),
                &config.client_metadata_documents,
            )),
            _ => None,
        };
        let secure = settings.endpoints.issuer.starts_with("https://");
        let keys = PageKeys::new(
            config.page_secret.as_ref().map(Secret::expose),
            secure,
            i64::try_from(config.page_ttl_secs).unwrap_or(600),
        );
        let pages = Pages::new(
            config.display_name.as_deref().unwrap_or("MCP server"),
            &settings.endpoints.login,
            &settings.endpoints.consent,
        );
        let clients = Clients::new(
            statics,
            Arc::clone(&store),
            documents,
            settings.scopes_supported.clone(),
            Arc::clone(&self.events),
        );
        Ok(AuthorizationServer {
            inner: Arc::new(Inner {
                settings,
                store,
                users,
                tokens,
                events: self.events,
                clients,
                pages,
                keys,
            }),
        })
    }
}

/// Validates a configuration as `build` does.
pub(crate) fn check_config(config: &OAuthConfig) -> Result<(), Error> {
    let settings = validate(config)?;
    static_clients(config, &settings.scopes_supported).map(|_| ())
}

fn secs(what: &str, value: u64, min: u64, max: u64) -> Result<i64, Error> {
    if !(min..=max).contains(&value) {
        return Err(Error::config(format!(
            "{what} must be between {min} and {max} seconds"
        )));
    }
    i64::try_from(value).map_err(|_| Error::config(format!("{what} is too large")))
}

fn scopes(what: &str, scopes: &[String]) -> Result<ScopeSet, Error> {
    ScopeSet::try_from_iter(scopes).map_err(|e| Error::config(format!("{what}: {e}")))
}

fn validate(config: &OAuthConfig) -> Result<Settings, Error> {
    let issuer = check_base_url("issuer", &config.issuer)?;
    let resources = if config.resources.is_empty() {
        vec![format!("{issuer}/mcp")]
    } else {
        config
            .resources
            .iter()
            .map(|r| check_base_url("resource", r))
            .collect::<Result<Vec<_>, _>>()?
    };
    let scopes_supported = scopes("scopes_supported", &config.scopes_supported)?;
    if scopes_supported.is_empty() {
        return Err(Error::config(
            "scopes_supported must name at least one scope",
        ));
    }
    let default_scopes = scopes("default_scopes", &config.default_scopes)?;
    if !default_scopes.is_subset(&scopes_supported) {
        return Err(Error::config(format!(
            "default_scopes has scopes that are not supported: {}",
            default_scopes.difference(&scopes_supported)
        )));
    }
    if let Some(unknown) = config
        .scope_descriptions
        .keys()
        .find(|s| !scopes_supported.contains(s))
    {
        return Err(Error::config(format!(
            "scope_descriptions names the unsupported scope {unknown:?}"
        )));
    }
    let year = 366 * 24 * 3600;
    let code_ttl = secs("code_ttl_secs", config.code_ttl_secs, 1, MAX_CODE_TTL_SECS)?;
    let refresh_ttl = secs(
        "refresh_token_ttl_secs",
        config.refresh_token_ttl_secs,
        60,
        year,
    )?;
    let grant_max = secs("grant_max_secs", config.grant_max_secs, 60, 5 * year)?;
    secs("page_ttl_secs", config.page_ttl_secs, 60, 24 * 3600)?;
    if let Some(secret) = &config.page_secret
        && secret.expose().len() < MIN_SECRET_BYTES
    {
        return Err(Error::config(format!(
            "page_secret must be at least {MIN_SECRET_BYTES} bytes"
        )));
    }
    let dcr = &config.dynamic_registration;
    if let Some(token) = &dcr.initial_access_token
        && token.expose().len() < MIN_SECRET_BYTES
    {
        return Err(Error::config(format!(
            "dynamic_registration.initial_access_token must be at least {MIN_SECRET_BYTES} bytes"
        )));
    }
    let cimd = &config.client_metadata_documents;
    if cimd.max_bytes == 0 || cimd.max_bytes > 1024 * 1024 {
        return Err(Error::config(
            "client_metadata_documents.max_bytes must be between 1 and 1048576",
        ));
    }
    if cimd.timeout_ms == 0 || cimd.timeout_ms > 60_000 {
        return Err(Error::config(
            "client_metadata_documents.timeout_ms must be between 1 and 60000",
        ));
    }
    for url in [&config.service_documentation].into_iter().flatten() {
        if !url.starts_with("https://") && !url.starts_with("http://") {
            return Err(Error::config("service_documentation must be a URL"));
        }
    }
    Ok(Settings {
        endpoints: Endpoints::new(&issuer),
        resources,
        require_resource: config.require_resource,
        scopes_supported,
        default_scopes,
        descriptions: config.scope_descriptions.clone(),
        code_ttl,
        refresh_ttl,
        grant_max,
        dynamic_registration: dcr.enabled,
        max_clients: dcr.max_clients,
        initial_access_token: dcr.initial_access_token.clone(),
        service_documentation: config.service_documentation.clone(),
    })
}

fn static_clients(
    config: &OAuthConfig,
    supported: &ScopeSet,
) -> Result<HashMap<String, ClientRecord>, Error> {
    let mut clients = HashMap::new();
    for c in &config.clients {
        let id = &c.client_id;
        if id.is_empty()
            || id.len() > crate::client::MAX_CLIENT_ID_LEN
            || !id.bytes().all(|b| (0x21..=0x7E).contains(&b))
        {
            return Err(Error::config(format!(
                "client id {id:?} must be 1 to 256 printable ASCII characters"
            )));
        }
        if crate::client::document::is_document_client_id(id) {
            return Err(Error::config(format!(
                "client id {id:?} is a URL; URLs name client metadata documents"
            )));
        }
        if c.redirect_uris.is_empty() {
            return Err(Error::config(format!("client {id:?} needs a redirect URI")));
        }
        for uri in &c.redirect_uris {
            validate_redirect_uri(uri)
                .map_err(|e| Error::config(format!("client {id:?}: redirect URI {uri:?}: {e}")))?;
        }
        let scope = match &c.scopes {
            Some(list) => {
                let set = scopes(&format!("client {id:?} scopes"), list)?;
                if !set.is_subset(supported) {
                    return Err(Error::config(format!(
                        "client {id:?} has unsupported scopes: {}",
                        set.difference(supported)
                    )));
                }
                Some(set)
            }
            None => None,
        };
        let mut record =
            ClientRecord::public(id.clone(), ClientSource::Config, c.redirect_uris.clone());
        record.client_name = c.client_name.clone();
        record.scope = scope;
        record.refresh_tokens = c.refresh_tokens;
        record.first_party = c.first_party;
        if let Some(secret) = &c.client_secret {
            if secret.expose().len() < MIN_SECRET_BYTES {
                return Err(Error::config(format!(
                    "client {id:?}: client_secret must be at least {MIN_SECRET_BYTES} bytes"
                )));
            }
            let text = std::str::from_utf8(secret.expose())
                .map_err(|_| Error::config(format!("client {id:?}: secret is not UTF-8")))?;
            record.secret_hash = Some(hash_token(text));
            record.auth_method = AuthMethod::ClientSecretBasic;
        }
        if clients.insert(id.clone(), record).is_some() {
            return Err(Error::config(format!(
                "client id {id:?} is configured twice"
            )));
        }
    }
    Ok(clients)
}

impl AuthorizationServer {
    /// Starts building a server from its configuration.
    pub fn builder(config: OAuthConfig) -> AuthorizationServerBuilder {
        AuthorizationServerBuilder {
            config,
            store: None,
            users: None,
            tokens: None,
            events: Arc::new(NoEvents),
            fetcher: None,
        }
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.inner.settings.endpoints.issuer
    }

    /// The endpoints' absolute URLs (route their paths with [`Endpoints::path_of`]).
    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.settings.endpoints
    }

    /// The resources (audiences) tokens are issued for; the first is the default.
    pub fn resources(&self) -> &[String] {
        &self.inner.settings.resources
    }

    /// Every scope clients may request.
    pub fn scopes_supported(&self) -> &ScopeSet {
        &self.inner.settings.scopes_supported
    }

    /// The name of the CSRF cookie the pages use.
    pub fn csrf_cookie_name(&self) -> &'static str {
        self.inner.keys.cookie_name()
    }

    /// Whether `POST /oauth/register` is open.
    pub fn registration_enabled(&self) -> bool {
        self.inner.settings.dynamic_registration
    }

    /// The Authorization Server Metadata (RFC 8414).
    pub fn metadata(&self) -> AuthorizationServerMetadata {
        let s = &self.inner.settings;
        let e = &s.endpoints;
        AuthorizationServerMetadata {
            issuer: e.issuer.clone(),
            authorization_endpoint: e.authorization.clone(),
            token_endpoint: e.token.clone(),
            registration_endpoint: s.dynamic_registration.then(|| e.registration.clone()),
            revocation_endpoint: e.revocation.clone(),
            scopes_supported: s.scopes_supported.to_vec(),
            response_types_supported: vec!["code"],
            response_modes_supported: vec!["query"],
            grant_types_supported: vec!["authorization_code", "refresh_token"],
            token_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
            revocation_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
            code_challenge_methods_supported: vec!["S256"],
            authorization_response_iss_parameter_supported: true,
            client_id_metadata_document_supported: self.inner.clients.documents_enabled(),
            service_documentation: s.service_documentation.clone(),
        }
    }

    /// The paths where the metadata must be served (see
    /// [`authorization_server_metadata_paths`]).
    pub fn metadata_paths(&self) -> Vec<String> {
        authorization_server_metadata_paths(self.issuer())
    }

    /// The protected resource `resource` (one of [`resources`](Self::resources)) with this
    /// server as its authorization server, plus `extra_servers` (trusted external issuers).
    pub fn protected_resource(
        &self,
        resource: &str,
        extra_servers: &[String],
    ) -> Result<ProtectedResource, Error> {
        let mut servers = vec![self.issuer().to_owned()];
        servers.extend(extra_servers.iter().cloned());
        ProtectedResource::new(resource, servers, self.scopes_supported().clone())
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    async fn record(&self, event: OAuthEvent) {
        self.inner.events.record(event).await;
    }

    fn store_error(&self, what: &str, err: &mcp_core::StoreError) -> ErrorResponse {
        ErrorResponse::from_store(what, err)
    }
}
