//! The real fetcher: reqwest over rustls (ring, the platform's trust store), with the
//! address checks done on our own DNS answers and the connection pinned to them.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use url::{Host, Url};

use super::{FetchError, FetchPolicy, FetchedDocument, HttpFetch, check_address, check_url};

/// An [`HttpFetch`] that enforces the [`FetchPolicy`] guards (see the module docs).
///
/// ```no_run
/// use std::time::Duration;
/// use mcp_oauth::fetch::{FetchPolicy, GuardedFetcher, HttpFetch};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let fetcher = GuardedFetcher::new()?;
/// let policy = FetchPolicy::public(5 * 1024, Duration::from_secs(5));
/// let doc = fetcher.get(&"https://app.example/client.json".parse()?, &policy).await?;
/// assert!(doc.body.len() <= 5 * 1024);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct GuardedFetcher {
    tls: Arc<rustls::ClientConfig>,
    allow_plain_http: bool,
}

impl std::fmt::Debug for GuardedFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedFetcher")
            .field("allow_plain_http", &self.allow_plain_http)
            .finish_non_exhaustive()
    }
}

impl GuardedFetcher {
    /// A fetcher verifying servers against the platform's trust store.
    pub fn new() -> Result<Self, FetchError> {
        Self::with_extra_roots(Vec::new())
    }

    /// A fetcher that also trusts these CA certificates (DER), for identity providers
    /// behind an internal CA.
    pub fn with_extra_roots(extra_roots_der: Vec<Vec<u8>>) -> Result<Self, FetchError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = extra_roots_der
            .into_iter()
            .map(rustls::pki_types::CertificateDer::from);
        let verifier =
            rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider.clone())
                .map_err(|e| FetchError::Request(format!("TLS trust store: {e}")))?;
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| FetchError::Request(format!("TLS configuration: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(Self {
            tls: Arc::new(config),
            allow_plain_http: false,
        })
    }

    /// Test builds only: allows plain `http://` to any host the address rules allow, so that
    /// tests can serve documents from a local socket without TLS. Never in a default build.
    #[cfg(feature = "testing")]
    #[must_use]
    pub fn dangerous_allow_plain_http(mut self) -> Self {
        self.allow_plain_http = true;
        self
    }

    async fn fetch(&self, url: &Url, policy: &FetchPolicy) -> Result<FetchedDocument, FetchError> {
        let host = check_url(url, policy, self.allow_plain_http)?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| FetchError::UrlRefused("no port".into()))?;
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .tls_backend_preconfigured((*self.tls).clone())
            .user_agent(concat!("mcp-oauth/", env!("CARGO_PKG_VERSION")))
            .timeout(policy.timeout);
        if let Host::Domain(domain) = host {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((domain, port))
                .await
                .map_err(|e| FetchError::Resolve(format!("{domain}: {e}")))?
                .collect();
            if addrs.is_empty() {
                return Err(FetchError::Resolve(format!("{domain}: no addresses")));
            }
            // Every answer must pass: a host with one public and one private address is
            // refused rather than trusted to pick the public one.
            for addr in &addrs {
                check_address(addr.ip(), policy)?;
            }
            builder = builder.resolve_to_addrs(domain, &addrs);
        }
        let client = builder
            .build()
            .map_err(|e| FetchError::Request(format!("client: {e}")))?;
        let mut response = client
            .get(url.clone())
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| reqwest_error(&e, policy))?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            return Err(FetchError::Redirect(status));
        }
        if status != 200 {
            return Err(FetchError::Status(status));
        }
        if response
            .content_length()
            .is_some_and(|len| len > policy.max_bytes as u64)
        {
            return Err(FetchError::TooLarge(policy.max_bytes));
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| reqwest_error(&e, policy))?
        {
            if body.len() + chunk.len() > policy.max_bytes {
                return Err(FetchError::TooLarge(policy.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchedDocument { content_type, body })
    }
}

fn reqwest_error(err: &reqwest::Error, policy: &FetchPolicy) -> FetchError {
    if err.is_timeout() {
        FetchError::Timeout(policy.timeout)
    } else {
        FetchError::Request(error_chain(err))
    }
}

/// The error and its sources on one line (reqwest's own message is often just "error
/// sending request").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[async_trait]
impl HttpFetch for GuardedFetcher {
    async fn get(&self, url: &Url, policy: &FetchPolicy) -> Result<FetchedDocument, FetchError> {
        match tokio::time::timeout(policy.timeout, self.fetch(url, policy)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout(policy.timeout)),
        }
    }
}
