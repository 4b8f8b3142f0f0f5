//! The real fetcher: HTTP/1.1 over rustls (ring provider, the platform's trust store, plus
//! any extra roots), on a connection made to the addresses that passed the checks.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use url::{Host, Url};

use super::{FetchError, FetchPolicy, FetchedDocument, HttpFetch, check_address, check_url};

/// An [`HttpFetch`] that enforces the [`FetchPolicy`] guards (see the module docs). It speaks
/// HTTP/1.1 itself, so there is no redirect handling or proxy to turn off.
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
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| FetchError::Request(format!("TLS configuration: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
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
        let addrs: Vec<SocketAddr> = match host {
            Host::Domain(domain) => {
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
                addrs
            }
            Host::Ipv4(ip) => vec![SocketAddr::from((ip, port))],
            Host::Ipv6(ip) => vec![SocketAddr::from((ip, port))],
        };
        let tcp = connect(&addrs).await?;
        let request = request_for(url)?;
        if url.scheme() == "https" {
            let name = match host {
                Host::Domain(domain) => ServerName::try_from(domain.to_owned())
                    .map_err(|e| FetchError::UrlRefused(format!("server name: {e}")))?,
                Host::Ipv4(ip) => ServerName::IpAddress(std::net::IpAddr::V4(ip).into()),
                Host::Ipv6(ip) => ServerName::IpAddress(std::net::IpAddr::V6(ip).into()),
            };
            let tls = tokio_rustls::TlsConnector::from(Arc::clone(&self.tls))
                .connect(name, tcp)
                .await
                .map_err(|e| FetchError::Request(format!("TLS: {e}")))?;
            exchange(TokioIo::new(tls), request, policy).await
        } else {
            exchange(TokioIo::new(tcp), request, policy).await
        }
    }
}

/// Connects to the first address that answers.
async fn connect(addrs: &[SocketAddr]) -> Result<TcpStream, FetchError> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(FetchError::Request(format!(
        "connect: {}",
        last.map_or_else(|| "no address".to_owned(), |e| e.to_string())
    )))
}

/// `GET path?query` with `Host`, `Accept: application/json` and `Connection: close`.
fn request_for(url: &Url) -> Result<http::Request<Empty<Bytes>>, FetchError> {
    let host = url.host_str().unwrap_or_default();
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    http::Request::get(target)
        .header(http::header::HOST, authority)
        .header(http::header::ACCEPT, "application/json")
        .header(http::header::CONNECTION, "close")
        .header(
            http::header::USER_AGENT,
            concat!("mcp-oauth/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::new())
        .map_err(|e| FetchError::UrlRefused(format!("request: {e}")))
}

/// Sends the request on `io` and reads a 200 answer's body within the size limit.
async fn exchange<IO>(
    io: IO,
    request: http::Request<Empty<Bytes>>,
    policy: &FetchPolicy,
) -> Result<FetchedDocument, FetchError>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| FetchError::Request(format!("HTTP: {e}")))?;
    let driver = tokio::spawn(connection);
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| FetchError::Request(format!("HTTP: {e}")))?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            return Err(FetchError::Redirect(status));
        }
        if status != 200 {
            return Err(FetchError::Status(status));
        }
        let headers = response.headers();
        let announced = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|len| len > policy.max_bytes as u64) {
            return Err(FetchError::TooLarge(policy.max_bytes));
        }
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| FetchError::Request(format!("body: {e}")))?;
            if let Some(data) = frame.data_ref() {
                if bytes.len() + data.len() > policy.max_bytes {
                    return Err(FetchError::TooLarge(policy.max_bytes));
                }
                bytes.extend_from_slice(data);
            }
        }
        Ok(FetchedDocument::new(content_type, bytes))
    }
    .await;
    driver.abort();
    result
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
