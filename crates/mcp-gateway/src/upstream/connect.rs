//! Opening one connection to an upstream: a launched process over stdio, or streamable HTTP
//! (with a static token or OAuth client credentials), and the MCP handshake.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::service::{ClientInitializeError, RoleClient, RunningService, ServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransportConfig, StreamableHttpError,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::client::GatewayClient;
use crate::config::{ClientCredentials, HttpConfig, StdioConfig};
use crate::launcher::{LaunchSpec, ProcessLauncher, ProcessOutput, RunningProcess};

/// Largest token-endpoint response read, in bytes.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;
/// Longest stderr line logged, in bytes.
const MAX_STDERR_LINE: usize = 2048;

/// A live connection: the MCP client service, the process behind it (stdio), and when its
/// access token expires (OAuth).
pub(crate) struct Connection {
    pub(crate) service: RunningService<RoleClient, GatewayClient>,
    pub(crate) process: Option<Box<dyn RunningProcess>>,
    pub(crate) token_expires: Option<Instant>,
}

/// Starts the process and speaks MCP over its stdin/stdout.
pub(crate) async fn stdio(
    namespace: &str,
    config: &StdioConfig,
    launcher: &dyn ProcessLauncher,
    handler: GatewayClient,
) -> Result<Connection, String> {
    let spec = LaunchSpec::for_stdio(namespace, config);
    let launched = launcher
        .launch(&spec)
        .await
        .map_err(|e| format!("cannot start {}: {e}", config.command.display()))?;
    if let Some(stderr) = launched.stderr {
        tokio::spawn(drain_stderr(namespace.to_owned(), stderr));
    }
    let mut process = launched.process;
    match handler.serve((launched.stdout, launched.stdin)).await {
        Ok(service) => Ok(Connection {
            service,
            process: Some(process),
            token_expires: None,
        }),
        Err(e) => {
            let status = tokio::time::timeout(Duration::from_millis(500), process.wait())
                .await
                .ok()
                .and_then(Result::ok);
            let _ = process.kill().await;
            Err(match status {
                Some(status) => format!("handshake failed ({e}); the process ended: {status}"),
                None => format!("handshake failed: {e}"),
            })
        }
    }
}

/// Logs the process's stderr line by line (debug level, lines cut at 2 KiB), so the pipe never
/// fills up and blocks it.
async fn drain_stderr(namespace: String, stderr: ProcessOutput) {
    let mut lines = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match lines.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                buf.truncate(MAX_STDERR_LINE);
                let line = String::from_utf8_lossy(&buf);
                tracing::debug!(upstream = %namespace, line = %line.trim_end(), "upstream stderr");
            }
        }
    }
}

/// An HTTP client that never follows redirects (the upstream is reached only at its origin),
/// uses no proxy from the environment, and speaks TLS with [`tls_config`].
pub(crate) fn http_client(
    connect_timeout: Duration,
    config: &HttpConfig,
) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(connect_timeout)
        .tls_backend_preconfigured(tls_config(config)?)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// TLS towards https upstreams and token endpoints: rustls on ring (TLS 1.2 and 1.3), servers
/// verified against the platform's trust store plus the CA certificates of `ca_file`; with
/// `client_cert` and `client_key`, that certificate is presented when the server asks.
pub(crate) fn tls_config(http: &HttpConfig) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let extra = match http.ca_file.as_deref() {
        Some(path) => read_ca_file(path)?,
        None => Vec::new(),
    };
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
            .map_err(|e| format!("TLS trust store: {e}"))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .dangerous()
        // The platform verifier is the safe default of rustls-platform-verifier, not a bypass.
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match (http.client_cert.as_deref(), http.client_key.as_deref()) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain = read_pem_certificates(cert, "client certificate")?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("client key {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate and key: {e}"))?
        }
        _ => return Err("set both client_cert and client_key, or neither".into()),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The certificates of a CA file (at least one).
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    read_pem_certificates(path, "CA file")
}

/// The certificates of a PEM file (at least one); `what` names the file in errors.
fn read_pem_certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{what} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{what} {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certs)
}

/// The handshake's error with its causes: rmcp's transport error does not link the HTTP
/// client's error as its source, so a TLS failure (the reason an operator must see in
/// `/ready`) is dug out of it here.
fn handshake_failure(error: &ClientInitializeError) -> String {
    let mut text = error.to_string();
    if let ClientInitializeError::TransportError { error, .. } = error {
        let inner: &(dyn std::error::Error + 'static) = error.error.as_ref();
        let causes = match inner.downcast_ref::<StreamableHttpError<reqwest::Error>>() {
            Some(StreamableHttpError::Client(e)) => std::error::Error::source(e),
            _ => inner.source(),
        };
        append_causes(&mut text, causes);
    }
    text
}

/// An error and its causes, `: `-separated.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    append_causes(&mut text, error.source());
    text
}

fn append_causes(text: &mut String, mut cause: Option<&(dyn std::error::Error + 'static)>) {
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text.push_str(": ");
            text.push_str(&c_text);
        }
        cause = c.source();
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Gets an access token with the client credentials grant (RFC 6749 §4.4): the secret goes in
/// the request body, the answer must be JSON with a bearer `access_token`.
pub(crate) async fn client_credentials_token(
    client: &reqwest::Client,
    cc: &ClientCredentials,
) -> Result<(String, Option<Duration>), String> {
    let mut form: Vec<(&str, String)> = vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", cc.client_id.clone()),
        ("client_secret", cc.client_secret.clone()),
    ];
    if !cc.scopes.is_empty() {
        form.push(("scope", cc.scopes.join(" ")));
    }
    if let Some(r) = &cc.resource {
        form.push(("resource", r.clone()));
    }
    if let Some(a) = &cc.audience {
        form.push(("audience", a.clone()));
    }
    let mut response = client
        .post(&cc.token_url)
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| format!("token request failed: {}", with_causes(&e)))?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("token response: {e}"))?
    {
        if body.len() + chunk.len() > MAX_TOKEN_RESPONSE {
            return Err("token response is too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        // The error body of an OAuth server names the error; it holds no secret of ours.
        let error = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_default();
        return Err(format!("token endpoint answered {status} {error}"));
    }
    let token: TokenResponse =
        serde_json::from_slice(&body).map_err(|e| format!("token response is not JSON: {e}"))?;
    if token
        .token_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
    {
        return Err("token endpoint returned a token that is not a bearer token".into());
    }
    Ok((
        token.access_token,
        token.expires_in.map(Duration::from_secs),
    ))
}

/// Connects to a streamable HTTP upstream.
pub(crate) async fn http(
    config: &HttpConfig,
    connect_timeout: Duration,
    handler: GatewayClient,
) -> Result<Connection, String> {
    let client = http_client(connect_timeout, config)?;
    let mut transport = StreamableHttpClientTransportConfig::with_uri(config.url.as_str());
    let mut token_expires = None;
    if let Some(token) = &config.bearer_token {
        transport = transport.auth_header(token.clone());
    }
    if let Some(cc) = &config.oauth {
        let started = Instant::now();
        let (token, lifetime) = client_credentials_token(&client, cc).await?;
        // Renewed at four fifths of its lifetime, and at least 10 s after it was fetched.
        token_expires = lifetime.map(|l| started + (l * 4 / 5).max(Duration::from_secs(10)));
        transport = transport.auth_header(token);
    }
    if !config.headers.is_empty() {
        let mut headers = HashMap::new();
        for (name, value) in &config.headers {
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| format!("header {name}: {e}"))?;
            let value =
                http::HeaderValue::from_str(value).map_err(|e| format!("header {name}: {e}"))?;
            headers.insert(name, value);
        }
        transport = transport.custom_headers(headers);
    }
    let transport = StreamableHttpClientTransport::with_client(client, transport);
    let service = handler
        .serve(transport)
        .await
        .map_err(|e| format!("handshake failed: {}", handshake_failure(&e)))?;
    Ok(Connection {
        service,
        process: None,
        token_expires,
    })
}
