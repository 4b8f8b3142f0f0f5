//! Configuration: a TOML file, overridden by `MCP_...` environment variables, overridden by
//! flags. Only this module reads files or the environment for settings.
//!
//! Layers are merged as TOML trees and deserialized once with `deny_unknown_fields`, so a typo in
//! any layer fails at start-up with the key's name.
//!
//! Environment variables: `MCP_<SECTION>__<KEY>` sets `[section] key` (for example
//! `MCP_HTTP__PORT=8081`, `MCP_STORAGE__NEO4J__URI=bolt://…`), and these short aliases exist:
//! `MCP_HOST`, `MCP_PORT`, `MCP_DATA_DIR`, `MCP_STORAGE_BACKEND`, `MCP_JWT_SECRET`,
//! `MCP_JWT_SIGNING_KID`, `MCP_JWT_AUDIENCE`, `MCP_LOG_FORMAT`,
//! `MCP_LOG_LEVEL`, `MCP_EXECUTE_PER_MINUTE`, `MCP_LINT_PER_MINUTE`, `MCP_NEO4J_URI`,
//! `MCP_NEO4J_USER`, `MCP_NEO4J_PASSWORD`, `MCP_NEO4J_DATABASE`, `MCP_NEO4J_GRAPH_DATABASE`,
//! `MCP_NEO4J_USERS_DATABASE`, `MCP_NEO4J_ROLES_DATABASE`, `MCP_NEO4J_TOKENS_DATABASE`,
//! `MCP_NEO4J_AUDIT_DATABASE`, `MCP_NEO4J_DANGEROUS_ALLOW_SHARED_GRAPH_DATABASE`,
//! `MCP_NEO4J_SERVER`. `MCP_CONFIG` names the file when `--config` is not given.
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod gateway;
mod mcp;
mod neo4j;
pub mod oauth;
mod sources;
mod trusted_proxies;
pub use gateway::GatewayConfig;
pub use mcp::McpConfig;
pub use neo4j::Neo4jConfig;
pub use oauth::OAuthConfig;
pub use sources::{Origin, Sources};
pub use trusted_proxies::TrustedProxies;

/// Environment aliases: variable name → dotted key in the config tree.
const ENV_ALIASES: &[(&str, &str)] = &[
    ("MCP_HOST", "http.host"),
    ("MCP_PORT", "http.port"),
    ("MCP_DATA_DIR", "storage.data_dir"),
    ("MCP_STORAGE_BACKEND", "storage.backend"),
    ("MCP_JWT_SECRET", "auth.jwt_secret"),
    ("MCP_JWT_SIGNING_KID", "auth.jwt_signing_kid"),
    ("MCP_JWT_AUDIENCE", "auth.jwt_audience"),
    ("MCP_LOG_FORMAT", "log.format"),
    ("MCP_LOG_LEVEL", "log.level"),
    ("MCP_EXECUTE_PER_MINUTE", "limits.execute_per_minute"),
    ("MCP_LINT_PER_MINUTE", "limits.lint_per_minute"),
    ("MCP_LIMITS_COUNTERS", "limits.counters"),
    ("MCP_NEO4J_URI", "storage.neo4j.uri"),
    ("MCP_NEO4J_USER", "storage.neo4j.user"),
    ("MCP_NEO4J_PASSWORD", "storage.neo4j.password"),
    ("MCP_NEO4J_DATABASE", "storage.neo4j.database"),
    ("MCP_NEO4J_GRAPH_DATABASE", "storage.neo4j.graph_database"),
    ("MCP_NEO4J_USERS_DATABASE", "storage.neo4j.users_database"),
    ("MCP_NEO4J_ROLES_DATABASE", "storage.neo4j.roles_database"),
    ("MCP_NEO4J_TOKENS_DATABASE", "storage.neo4j.tokens_database"),
    ("MCP_NEO4J_AUDIT_DATABASE", "storage.neo4j.audit_database"),
    (
        "MCP_NEO4J_DANGEROUS_ALLOW_SHARED_GRAPH_DATABASE",
        "storage.neo4j.dangerous_allow_shared_graph_database",
    ),
    ("MCP_NEO4J_SERVER", "storage.neo4j.server"),
    ("MCP_PUBLIC_URL", "http.public_url"),
    ("MCP_OAUTH_PAGE_SECRET", "oauth.page_secret"),
];

/// Keys whose values are secrets: always strings, never parsed as numbers or booleans.
const STRING_KEYS: &[&str] = &[
    "auth.jwt_secret",
    "auth.jwt_signing_kid",
    "auth.jwt_audience",
    "storage.neo4j.password",
    "storage.neo4j.user",
    "storage.neo4j.database",
    "storage.neo4j.graph_database",
    "storage.neo4j.users_database",
    "storage.neo4j.roles_database",
    "storage.neo4j.tokens_database",
    "storage.neo4j.audit_database",
    "http.host",
    "http.public_url",
    "oauth.page_secret",
    "oauth.dynamic_registration.initial_access_token",
];

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {} (named by {via}): {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What named it: `--config` or `MCP_CONFIG`.
        via: &'static str,
        /// The I/O error (part of the message, so it is said once).
        error: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A value of the config file has the wrong type, or its key is unknown.
    #[error("config file {}, line {line}: `{key}`: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The dotted key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// An environment variable has a value of the wrong type, or names an unknown key.
    #[error("environment variable {var} (sets `{key}`): {message}")]
    Env {
        /// The variable.
        var: String,
        /// The dotted key it sets.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The merged configuration has an unknown key or a value of the wrong type.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// Values that do not fit together or are out of range, each naming its key and where it
    /// was set.
    #[error("{}", problems_text(.0))]
    Problems(Vec<String>),
    /// The configuration asks for a backend this build does not include.
    #[error(
        "storage backend `{0}` is not compiled into this build (rebuild with `--features {0}`)"
    )]
    BackendNotCompiled(&'static str),
}

fn problems_text(problems: &[String]) -> String {
    match problems {
        [one] => format!("invalid configuration: {one}"),
        many => {
            let mut text = format!("invalid configuration ({} problems):", many.len());
            for p in many {
                text.push_str("\n  - ");
                text.push_str(p);
            }
            text
        }
    }
}

/// One value that is out of range or does not fit with the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The dotted key to change.
    pub key: String,
    /// What is wrong (names the key).
    pub message: String,
}

impl Problem {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The message, with where the key was set when it was not the default.
    pub fn explain(&self, sources: &Sources) -> String {
        match sources.origin(&self.key) {
            Origin::Default => self.message.clone(),
            origin => format!("{} ({origin})", self.message),
        }
    }
}

/// A secret string: masked in `Debug` and when the config is printed.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"********\"")
    }
}

impl Secret {
    /// Whether no value is set (an empty string counts as unset).
    pub fn is_unset(&self) -> bool {
        self.0.is_empty()
    }
}

/// Printed as `********` when set and as `""` when unset, so `config check` never shows a
/// secret and never pretends an unset one is set.
impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.is_unset() { "" } else { "********" })
    }
}

/// The whole configuration of the server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The HTTP listener and request limits.
    pub http: HttpConfig,
    /// Logging.
    pub log: LogConfig,
    /// Where each store keeps its data.
    pub storage: StorageConfig,
    /// Tokens and log-in protection.
    pub auth: AuthConfig,
    /// Rate limits.
    pub limits: LimitsConfig,
    /// The audit log's write path.
    pub audit: AuditConfig,
    /// Custom roles (`[roles.NAME]` with `inherits`, `permissions`, `description`); the
    /// built-in `viewer`, `developer` and `admin` always exist.
    pub roles: std::collections::BTreeMap<String, mcp_rbac::RoleConfig>,
    /// The code sandbox (see the mcp-sandbox crate for every key).
    pub sandbox: mcp_sandbox::SandboxConfig,
    /// The MCP endpoint (`/mcp` and `mcp-stdio`): allowed hosts and origins, message size.
    pub mcp: McpConfig,
    /// Upstream MCP servers served behind the guard (see `config::gateway`).
    pub gateway: GatewayConfig,
    /// OAuth: the built-in authorization server and trusted external issuers.
    pub oauth: OAuthConfig,
}

/// The HTTP listener and request limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on.
    pub host: String,
    /// Port to listen on (0 picks a free one).
    pub port: u16,
    /// Largest accepted request body, in bytes (413 above).
    pub body_limit_bytes: usize,
    /// Time a request may take before it is answered with 503.
    pub request_timeout_secs: u64,
    /// Time in-flight requests get to finish on SIGINT/SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Worker threads (0: one per core).
    pub workers: usize,
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For` / `Forwarded`
    /// headers name the client: for requests from them, the client address of lock-outs,
    /// audit events and logs is the nearest untrusted address in those headers. Empty (the
    /// default): the TCP peer is the client and the headers are ignored.
    pub trusted_proxies: TrustedProxies,
    /// The server's canonical public URL (`https://host[:port]`, no path): the OAuth issuer and
    /// the base of the resource identifiers tokens are bound to. Behind a proxy, set it: the
    /// `Host` header is never trusted for this. Unset: `http://<host>:<port>` when the server
    /// listens on a loopback address and a fixed port; otherwise OAuth is off (a warning says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            body_limit_bytes: 256 * 1024,
            request_timeout_secs: 60,
            shutdown_timeout_secs: 10,
            workers: 0,
            trusted_proxies: TrustedProxies::default(),
            public_url: None,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Line format.
    pub format: LogFormat,
    /// Default level or `tracing` filter (`RUST_LOG` wins when set).
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// A storage backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// In memory: lost on restart (tests, trials).
    Memory,
    /// Embedded SQLite files in the data dir.
    #[default]
    Sqlite,
    /// A Neo4j (Bolt) server: needs `[storage.neo4j]` and a build with the `neo4j` feature.
    Neo4j,
}

/// Where each store keeps its data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Directory of the SQLite files and the generated JWT secret.
    pub data_dir: PathBuf,
    /// Backend of every store not set below.
    pub backend: Backend,
    /// Backend of user accounts.
    pub users: Option<Backend>,
    /// Backend of roles and role assignments.
    pub roles: Option<Backend>,
    /// Backend of revoked tokens.
    pub tokens: Option<Backend>,
    /// Backend of the audit log.
    pub audit: Option<Backend>,
    /// Backend of the knowledge graph.
    pub graph: Option<Backend>,
    /// The Neo4j server, for stores on `neo4j`.
    pub neo4j: Option<Neo4jConfig>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            backend: Backend::Sqlite,
            users: None,
            roles: None,
            tokens: None,
            audit: None,
            graph: None,
            neo4j: None,
        }
    }
}

/// The stores the server keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// User accounts.
    Users,
    /// Roles and assignments.
    Roles,
    /// Revoked tokens.
    Tokens,
    /// The audit log.
    Audit,
    /// The knowledge graph.
    Graph,
}

impl StoreKind {
    /// Every store, in start-up order.
    pub const ALL: [StoreKind; 5] = [
        Self::Users,
        Self::Roles,
        Self::Tokens,
        Self::Audit,
        Self::Graph,
    ];

    /// The store's name in config and `/ready`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Roles => "roles",
            Self::Tokens => "tokens",
            Self::Audit => "audit",
            Self::Graph => "graph",
        }
    }
}

impl StorageConfig {
    /// The backend chosen for one store.
    pub fn backend_of(&self, store: StoreKind) -> Backend {
        let chosen = match store {
            StoreKind::Users => self.users,
            StoreKind::Roles => self.roles,
            StoreKind::Tokens => self.tokens,
            StoreKind::Audit => self.audit,
            StoreKind::Graph => self.graph,
        };
        chosen.unwrap_or(self.backend)
    }

    /// The SQLite file of one store.
    pub fn sqlite_path(&self, store: StoreKind) -> PathBuf {
        self.data_dir.join(format!("{}.sqlite3", store.name()))
    }
}

/// Longest accepted `auth.role_cache_ttl_ms` / `auth.user_cache_ttl_ms` /
/// `auth.revocation_cache_ttl_ms`: one minute.
pub const MAX_CACHE_TTL_MS: u64 = 60_000;

/// The `kid` of the HS256 key made from `auth.jwt_secret` (or the generated secret), and the
/// default `auth.jwt_signing_kid`.
pub const LEGACY_JWT_KID: &str = "primary";

/// Tokens and log-in protection.
///
/// Token keys: with no `jwt_keys`, tokens are signed and verified with one HS256 key, `kid`
/// [`LEGACY_JWT_KID`], whose secret is `jwt_secret` or else generated into
/// `<data_dir>/jwt_secret`. With `jwt_keys`, those keys are used (plus `jwt_secret` as key
/// `primary` when it is set; the generated file is then not used), and `jwt_signing_kid`
/// names the one that signs new tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// HMAC secret of the tokens (key `primary`); generated into `<data_dir>/jwt_secret` when
    /// absent and no `jwt_keys` are configured.
    pub jwt_secret: Option<Secret>,
    /// Further token keys (`[[auth.jwt_keys]]`), for rotation and for RS256 / EdDSA. Their
    /// secrets and private keys come from environment variables or files, never from here.
    pub jwt_keys: Vec<JwtKeyConfig>,
    /// The `kid` of the key that signs new tokens (default `primary`); every configured key
    /// verifies.
    pub jwt_signing_kid: Option<String>,
    /// When set, issued tokens carry it as `aud` and a token must name it in its `aud`.
    pub jwt_audience: Option<String>,
    /// Lifetime of an access token.
    pub token_ttl_secs: u64,
    /// `iss` of issued tokens.
    pub issuer: String,
    /// Failed log-ins for one user name from one client address before that pair is locked
    /// for `lockout_secs` (other addresses are not affected).
    pub max_failures_per_user: u32,
    /// Failed log-ins from one client address, whatever the names, before it is locked for
    /// `lockout_secs`.
    pub max_failures_per_ip: u32,
    /// Failed log-ins for one user name from all addresses that have not logged in as it
    /// (within `remember_login_address_days`) before such addresses wait for the window to
    /// end: the slow-down of distributed guessing, which the owner does not feel from an
    /// address they logged in from before.
    pub max_failures_per_account: u32,
    /// How long a lock-out lasts, and the window failures are counted in.
    pub lockout_secs: u64,
    /// How long an address a user logged in from is remembered as theirs (exempt from the
    /// per-address lock and the slow-down for that user).
    pub remember_login_address_days: u64,
    /// Password checks (Argon2, 19 MiB each) running at once; 0: one per CPU core.
    pub max_concurrent_password_checks: usize,
    /// Password checks waiting for their turn; beyond it a log-in gets 503 with
    /// `Retry-After`.
    pub password_check_queue: usize,
    /// How long a user's roles are reused before the role store is read again (0: every
    /// request reads it). A role change made through this instance applies at once; one made on
    /// another instance applies here within this time.
    pub role_cache_ttl_ms: u64,
    /// How long a user's account (the disabled flag) is reused before the user store is read
    /// again (0: every request reads it). Disabling a user through this instance applies at
    /// once; through another instance or the `users disable` command, within this time.
    pub user_cache_ttl_ms: u64,
    /// How long the answer "this token is (not) revoked" is reused before the revocation store
    /// is read again (0: every request reads it). A revocation made through this instance
    /// applies at once; one made on another instance or with the `tokens revoke` command
    /// applies here within this time.
    pub revocation_cache_ttl_ms: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            jwt_keys: Vec::new(),
            jwt_signing_kid: None,
            jwt_audience: None,
            token_ttl_secs: 3600,
            issuer: "mcp-server".into(),
            max_failures_per_user: 5,
            max_failures_per_ip: 20,
            max_failures_per_account: 30,
            lockout_secs: 300,
            remember_login_address_days: 30,
            max_concurrent_password_checks: 0,
            password_check_queue: 32,
            role_cache_ttl_ms: 2000,
            user_cache_ttl_ms: 2000,
            revocation_cache_ttl_ms: 2000,
        }
    }
}

impl AuthConfig {
    /// The `kid` that signs new tokens: `jwt_signing_kid`, else `primary`.
    pub fn signing_kid(&self) -> &str {
        self.jwt_signing_kid.as_deref().unwrap_or(LEGACY_JWT_KID)
    }

    /// Checks the key list without reading any file or variable: unique kids, each key's
    /// sources fit its algorithm, and the signing key exists and can sign.
    fn validate_jwt_keys(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        if self.jwt_keys.is_empty() {
            if self.signing_kid() != LEGACY_JWT_KID {
                return invalid(format!(
                    "auth.jwt_signing_kid `{}` is not a configured key: without \
                     [[auth.jwt_keys]] the only key is `{LEGACY_JWT_KID}` (auth.jwt_secret)",
                    self.signing_kid()
                ));
            }
        } else {
            let mut kids = std::collections::HashSet::new();
            if self.jwt_secret.is_some() {
                kids.insert(LEGACY_JWT_KID);
            }
            for key in &self.jwt_keys {
                key.validate()?;
                if !kids.insert(key.kid.as_str()) {
                    let why = if key.kid == LEGACY_JWT_KID && self.jwt_secret.is_some() {
                        " (auth.jwt_secret is key `primary`)"
                    } else {
                        ""
                    };
                    return invalid(format!(
                        "auth.jwt_keys: kid `{}` is configured twice{why}",
                        key.kid
                    ));
                }
            }
            let signing = self.signing_kid();
            if !kids.contains(signing) {
                let mut known: Vec<&str> = kids.into_iter().collect();
                known.sort_unstable();
                return invalid(format!(
                    "auth.jwt_signing_kid `{signing}` is not among the configured keys ({})",
                    known.join(", ")
                ));
            }
            if let Some(key) = self.jwt_keys.iter().find(|k| k.kid == signing)
                && key.algorithm != mcp_jwt::Algorithm::HS256
                && key.private_key_file.is_none()
            {
                return invalid(format!(
                    "auth.jwt_signing_kid `{signing}` has no private_key_file, so it cannot \
                     sign; a key with only a public key verifies only"
                ));
            }
        }
        if self
            .jwt_audience
            .as_deref()
            .is_some_and(|a| a.trim().is_empty())
        {
            return invalid("auth.jwt_audience must not be empty when set".into());
        }
        Ok(())
    }
}

/// One token key (`[[auth.jwt_keys]]`).
///
/// * `HS256`: exactly one of `secret_env` (the name of an environment variable holding the
///   secret) or `secret_file` (a file holding it; surrounding whitespace is trimmed); at
///   least 32 bytes.
/// * `RS256` / `EdDSA`: `public_key_file` (SPKI PEM) and, on instances that sign with it,
///   `private_key_file` (PKCS#8 PEM). A key with only a public key verifies but never signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKeyConfig {
    /// The key id in token headers.
    pub kid: String,
    /// The only algorithm this key is used with: `HS256`, `RS256` or `EdDSA`.
    pub algorithm: mcp_jwt::Algorithm,
    /// HS256: the environment variable holding the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// HS256: the file holding the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// RS256 / EdDSA: the private key PEM file (only where this key signs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<PathBuf>,
    /// RS256 / EdDSA: the public key PEM file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_file: Option<PathBuf>,
}

impl JwtKeyConfig {
    /// An HS256 key whose secret is in the environment variable `var`.
    pub fn hs256_env(kid: impl Into<String>, var: impl Into<String>) -> Self {
        Self {
            secret_env: Some(var.into()),
            ..Self::empty(kid.into(), mcp_jwt::Algorithm::HS256)
        }
    }

    /// An HS256 key whose secret is in the file `path`.
    pub fn hs256_file(kid: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self {
            secret_file: Some(path.into()),
            ..Self::empty(kid.into(), mcp_jwt::Algorithm::HS256)
        }
    }

    /// An RS256 or EdDSA key from PEM files; without `private_key_file` it only verifies.
    pub fn asymmetric(
        kid: impl Into<String>,
        algorithm: mcp_jwt::Algorithm,
        public_key_file: impl Into<PathBuf>,
        private_key_file: Option<PathBuf>,
    ) -> Self {
        Self {
            public_key_file: Some(public_key_file.into()),
            private_key_file,
            ..Self::empty(kid.into(), algorithm)
        }
    }

    fn empty(kid: String, algorithm: mcp_jwt::Algorithm) -> Self {
        Self {
            kid,
            algorithm,
            secret_env: None,
            secret_file: None,
            private_key_file: None,
            public_key_file: None,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let kid = &self.kid;
        let fail = |why: &str| {
            Err(ConfigError::Invalid(format!(
                "auth.jwt_keys: key `{kid}` ({}): {why}",
                self.algorithm
            )))
        };
        if kid.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "auth.jwt_keys: every key needs a non-empty kid".into(),
            ));
        }
        match self.algorithm {
            mcp_jwt::Algorithm::HS256 => {
                if self.private_key_file.is_some() || self.public_key_file.is_some() {
                    return fail("HS256 takes secret_env or secret_file, not PEM files");
                }
                match (&self.secret_env, &self.secret_file) {
                    (Some(_), Some(_)) => fail("set secret_env or secret_file, not both"),
                    (None, None) => fail("set secret_env or secret_file"),
                    (Some(var), None) if var.trim().is_empty() => {
                        fail("secret_env must name a variable")
                    }
                    _ => Ok(()),
                }
            }
            _ => {
                if self.secret_env.is_some() || self.secret_file.is_some() {
                    return fail("takes public_key_file (and private_key_file), not a secret");
                }
                if self.public_key_file.is_none() {
                    return fail("public_key_file is required");
                }
                Ok(())
            }
        }
    }
}

/// Per-user rate limits of the tools that use the sandbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Runs of submitted code per user per minute, shared by every tool that runs code
    /// (`execute`, `test`, over REST and MCP alike). Default 10.
    pub execute_per_minute: u32,
    /// Lints per user per minute (`lint`, which runs checkers over the code, never the code).
    /// Default 60.
    pub lint_per_minute: u32,
    /// Where the per-user budgets above, the log-in lock-out (`[auth]` `max_failures_per_*`)
    /// and the OAuth per-address limits (`[oauth.rate_limits]`) are counted. Default `auto`.
    pub counters: CounterBackend,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            execute_per_minute: 10,
            lint_per_minute: 60,
            counters: CounterBackend::Auto,
        }
    }
}

/// Where rate-limit and lock-out counts are kept (`limits.counters`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CounterBackend {
    /// `neo4j` when the user accounts are on Neo4j (the instances that share them share the
    /// counts), `memory` otherwise.
    #[default]
    Auto,
    /// In each process: with N instances a limit allows up to N times its count, and a restart
    /// forgets the counts.
    Memory,
    /// `limits.sqlite3` in the data dir: shared by the processes of one host that use the same
    /// data dir, and kept across restarts.
    Sqlite,
    /// The Neo4j database of the user accounts (`storage.neo4j.users_database`, default
    /// `database`): shared by every instance on it, and kept across restarts.
    Neo4j,
}

impl LimitsConfig {
    /// The backend `counters` resolves to for `storage` (`auto` decided).
    pub fn counter_backend(&self, storage: &StorageConfig) -> Backend {
        match self.counters {
            CounterBackend::Auto if storage.backend_of(StoreKind::Users) == Backend::Neo4j => {
                Backend::Neo4j
            }
            CounterBackend::Auto | CounterBackend::Memory => Backend::Memory,
            CounterBackend::Sqlite => Backend::Sqlite,
            CounterBackend::Neo4j => Backend::Neo4j,
        }
    }
}

/// The audit log's write path.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// How long a code execution waits for its audit event to be durable (stored, or fsynced
    /// to the spill file) before answering; when it takes longer the caller gets 503
    /// `audit_unavailable` (the code has run). 0 answers without waiting. Default 2000.
    pub durable_timeout_ms: u64,
    /// Audit events that callers without a valid token can cause (failed and refused
    /// log-ins, refused tokens, refused `Host`/`Origin`) stored per minute; beyond it they are
    /// counted, and the counts are stored in one summary event a minute. Default 120.
    pub unauthenticated_events_per_minute: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            durable_timeout_ms: 2_000,
            unauthenticated_events_per_minute: 120,
        }
    }
}

/// Values given as flags: the last, strongest layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--host`.
    pub host: Option<String>,
    /// `--port`.
    pub port: Option<u16>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--storage`.
    pub backend: Option<Backend>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
}

/// A loaded configuration and the layers it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated configuration; `storage.data_dir` is absolute.
    pub config: Config,
    /// Where each setting came from.
    pub sources: Sources,
}

impl Config {
    /// Loads the file (if any), then the environment, then the flags, and validates the result.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        Ok(Self::load_with_sources(file, overrides)?.config)
    }

    /// [`Config::load`], keeping where each setting came from.
    pub fn load_with_sources(
        file: Option<&Path>,
        overrides: &Overrides,
    ) -> Result<Loaded, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let loaded = Self::load_unvalidated(file, &env, overrides)?;
        loaded.config.validate_with(&loaded.sources)?;
        Ok(loaded)
    }

    /// [`Config::load`] with the environment given explicitly (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: &[(String, String)],
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let loaded = Self::load_unvalidated(file, env, overrides)?;
        loaded.config.validate_with(&loaded.sources)?;
        Ok(loaded.config)
    }

    /// Reads and merges the layers, checking keys and types but not values (`config check`
    /// reports the values' problems all together).
    pub fn load_unvalidated(
        file: Option<&Path>,
        env: &[(String, String)],
        overrides: &Overrides,
    ) -> Result<Loaded, ConfigError> {
        let file = match file {
            Some(path) => Some((path.to_path_buf(), "--config")),
            None => env
                .iter()
                .find(|(k, _)| k == "MCP_CONFIG")
                .map(|(_, v)| (PathBuf::from(v), "MCP_CONFIG")),
        };
        let mut sources = Sources::new(file.clone(), env, overrides);
        let mut tree = toml::Table::new();
        if let Some((path, via)) = file {
            let text = std::fs::read_to_string(&path).map_err(|error| ConfigError::Read {
                path: path.clone(),
                via,
                error,
            })?;
            tree = text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Parse {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            check_file_layer(&path, &text)?;
            sources.text = Some(text);
        }
        let mut env_tree = toml::Table::new();
        apply_env(&mut env_tree, env)?;
        check_env_layer(&env_tree, &sources)?;
        apply_env(&mut tree, env)?;
        apply_overrides(&mut tree, overrides);
        let mut config: Config =
            deserialize(toml::Value::Table(tree)).map_err(|(key, message)| {
                ConfigError::Invalid(format!("`{key}` ({}): {message}", sources.origin(&key)))
            })?;
        // Resolved once, against the directory the command started in.
        if let Ok(absolute) = std::path::absolute(&config.storage.data_dir) {
            config.storage.data_dir = absolute;
        }
        Ok(Loaded { config, sources })
    }

    /// Checks values serde cannot: the first problem, if any.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.problems().into_iter().next() {
            Some(p) => Err(ConfigError::Invalid(p.message)),
            None => Ok(()),
        }
    }

    /// [`Config::validate`], naming every problem and where its key was set.
    pub fn validate_with(&self, sources: &Sources) -> Result<(), ConfigError> {
        let problems: Vec<String> = self.problems().iter().map(|p| p.explain(sources)).collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Problems(problems))
        }
    }

    /// Every value serde cannot check that is out of range or does not fit with the others.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let uses_neo4j = StoreKind::ALL
            .iter()
            .any(|s| self.storage.backend_of(*s) == Backend::Neo4j);
        let counters_on_neo4j = self.limits.counter_backend(&self.storage) == Backend::Neo4j;
        if counters_on_neo4j && !uses_neo4j && self.storage.neo4j.is_none() {
            out.push(Problem::new(
                "limits.counters",
                "limits.counters = \"neo4j\" but [storage.neo4j] (uri, user, password) is not set",
            ));
        }
        if uses_neo4j && self.storage.neo4j.is_none() {
            out.push(Problem::new(
                "storage.backend",
                "a store uses the neo4j backend but [storage.neo4j] (uri, user, password) is not set",
            ));
        }
        if let Err(e) = self.storage.check_graph_database_isolation() {
            out.push(Problem::new("storage.neo4j.graph_database", e.to_string()));
        }
        if self.limits.execute_per_minute == 0 {
            out.push(Problem::new(
                "limits.execute_per_minute",
                "limits.execute_per_minute must be at least 1",
            ));
        }
        if self.limits.lint_per_minute == 0 {
            out.push(Problem::new(
                "limits.lint_per_minute",
                "limits.lint_per_minute must be at least 1",
            ));
        }
        if self.auth.token_ttl_secs == 0 {
            out.push(Problem::new(
                "auth.token_ttl_secs",
                "auth.token_ttl_secs must be at least 1",
            ));
        }
        for (key, value) in [
            ("auth.role_cache_ttl_ms", self.auth.role_cache_ttl_ms),
            ("auth.user_cache_ttl_ms", self.auth.user_cache_ttl_ms),
            (
                "auth.revocation_cache_ttl_ms",
                self.auth.revocation_cache_ttl_ms,
            ),
        ] {
            if value > MAX_CACHE_TTL_MS {
                out.push(Problem::new(
                    key,
                    format!(
                        "{key} must be at most {MAX_CACHE_TTL_MS} (auth.role_cache_ttl_ms, \
                         auth.user_cache_ttl_ms and auth.revocation_cache_ttl_ms bound how long \
                         a role change, a disabled user or a revoked token takes to apply on \
                         other instances)"
                    ),
                ));
            }
        }
        if self.http.body_limit_bytes == 0 {
            out.push(Problem::new(
                "http.body_limit_bytes",
                "http.body_limit_bytes must be at least 1",
            ));
        }
        if self.http.request_timeout_secs == 0 {
            out.push(Problem::new(
                "http.request_timeout_secs",
                "http.request_timeout_secs must be at least 1",
            ));
        }
        if let Some(secret) = &self.auth.jwt_secret
            && secret.expose().len() < 32
        {
            out.push(Problem::new(
                "auth.jwt_secret",
                "auth.jwt_secret must be at least 32 bytes",
            ));
        }
        if let Err(ConfigError::Invalid(message)) = self.auth.validate_jwt_keys() {
            let key = ["auth.jwt_signing_kid", "auth.jwt_audience"]
                .into_iter()
                .find(|k| message.starts_with(k))
                .unwrap_or("auth.jwt_keys");
            out.push(Problem::new(key, message));
        }
        if let Err(e) = self.gateway.validate() {
            let message = match e {
                ConfigError::Invalid(m) => m,
                other => other.to_string(),
            };
            out.push(Problem::new("gateway", message));
        }
        if let Some(url) = &self.http.public_url
            && let Err(ConfigError::Invalid(message)) = oauth::check_public_url(url)
        {
            out.push(Problem::new("http.public_url", message));
        }
        if let Err(ConfigError::Invalid(message)) = self.oauth.validate(self.auth.token_ttl_secs) {
            let key = ["oauth.access_token_ttl_secs", "oauth.clients"]
                .into_iter()
                .find(|k| message.starts_with(k))
                .unwrap_or("oauth");
            out.push(Problem::new(key, message));
        }
        out
    }

    /// The canonical public URL (no trailing `/`): `http.public_url`, else
    /// `http://<host>:<port>` for a loopback host and a fixed port, else `None`.
    pub fn public_url(&self) -> Option<String> {
        if let Some(url) = &self.http.public_url {
            return oauth::check_public_url(url).ok();
        }
        let host = self.http.host.trim();
        if self.http.port == 0 || !oauth::is_loopback(host.trim_matches(['[', ']'])) {
            return None;
        }
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        Some(format!("http://{host}:{}", self.http.port))
    }

    /// The resource identifiers (RFC 8707 audiences) of this server: `<public_url>/mcp` (the
    /// MCP endpoint, the default) and `<public_url>` (the REST API). Empty without a public
    /// URL.
    pub fn oauth_resources(&self) -> Vec<String> {
        self.public_url()
            .map(|url| vec![format!("{url}/mcp"), url])
            .unwrap_or_default()
    }

    /// The effective configuration as TOML, secrets masked (`config check`): a set secret is
    /// `********`, an unset one `""`, and a closing comment says which secrets are set.
    pub fn to_masked_toml(&self) -> String {
        let mut text = toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# cannot print config: {e}\n"));
        text.push_str("\n# secrets (never printed):\n");
        let jwt = match &self.auth.jwt_secret {
            Some(s) if !s.is_unset() => "set".to_owned(),
            _ if !self.auth.jwt_keys.is_empty() => {
                "unset (the keys of [[auth.jwt_keys]] sign)".to_owned()
            }
            _ => format!(
                "unset (the server uses the secret generated into {})",
                self.storage.data_dir.join("jwt_secret").display()
            ),
        };
        text.push_str(&format!("#   auth.jwt_secret: {jwt}\n"));
        if let Some(neo) = &self.storage.neo4j {
            let state = if neo.password.is_unset() {
                "unset"
            } else {
                "set"
            };
            text.push_str(&format!("#   storage.neo4j.password: {state}\n"));
        }
        text
    }
}

/// Deserializes a merged tree; on failure, the dotted key and what is wrong with it.
fn deserialize(tree: toml::Value) -> Result<Config, (String, String)> {
    serde_path_to_error::deserialize(tree).map_err(|e| {
        let mut key = e.path().to_string();
        let message = e.inner().message().to_owned();
        // An unknown field is reported at its table: name the field itself.
        if let Some(field) = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
        {
            if key == "." || key.is_empty() {
                key = field.to_owned();
            } else if key.rsplit('.').next() != Some(field) {
                key = format!("{key}.{field}");
            }
        }
        (key, message)
    })
}

/// The file alone: an unknown key or a wrong type is reported with its line. A missing field
/// is left to the merged check (another layer may set it).
fn check_file_layer(path: &Path, text: &str) -> Result<(), ConfigError> {
    let Err(e) = toml::from_str::<Config>(text) else {
        return Ok(());
    };
    if e.message().starts_with("missing field") {
        return Ok(());
    }
    let offset = e.span().map_or(0, |s| s.start);
    Err(ConfigError::File {
        path: path.to_path_buf(),
        line: sources::line_at(text, offset),
        key: sources::key_at(text, offset).unwrap_or_else(|| "?".into()),
        message: e.message().to_owned(),
    })
}

/// The environment alone: an unknown key or a wrong type is reported with its variable.
fn check_env_layer(tree: &toml::Table, sources: &Sources) -> Result<(), ConfigError> {
    let Err((key, message)) = deserialize(toml::Value::Table(tree.clone())) else {
        return Ok(());
    };
    if message.starts_with("missing field") {
        return Ok(());
    }
    let var = sources
        .env_var_of(&key)
        .unwrap_or_else(|| "MCP_…".to_owned());
    Err(ConfigError::Env { var, key, message })
}

fn apply_env(tree: &mut toml::Table, env: &[(String, String)]) -> Result<(), ConfigError> {
    // Generic `MCP_SECTION__KEY` first, aliases after, so an alias is the more specific.
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("MCP_") else {
            continue;
        };
        if !rest.contains("__") {
            continue;
        }
        let key: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
        if key.iter().any(String::is_empty) {
            return Err(ConfigError::Invalid(format!(
                "malformed environment variable {name}"
            )));
        }
        set_path(tree, &key, env_value(&key.join("."), value));
    }
    for (alias, dotted) in ENV_ALIASES {
        if let Some((_, value)) = env.iter().find(|(k, _)| k == alias) {
            let key: Vec<String> = dotted.split('.').map(str::to_owned).collect();
            set_path(tree, &key, env_value(dotted, value));
        }
    }
    Ok(())
}

/// Reads an env value as a TOML scalar (so `8081` is a number), except for string keys.
fn env_value(dotted: &str, raw: &str) -> toml::Value {
    if STRING_KEYS.contains(&dotted) {
        return toml::Value::String(raw.to_owned());
    }
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_owned()),
    }
}

fn set_path(tree: &mut toml::Table, key: &[String], value: toml::Value) {
    let Some((last, parents)) = key.split_last() else {
        return;
    };
    let mut table = tree;
    for part in parents {
        let entry = table
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else {
            return;
        };
        table = next;
    }
    table.insert(last.clone(), value);
}

fn apply_overrides(tree: &mut toml::Table, o: &Overrides) {
    let mut set = |dotted: &str, value: toml::Value| {
        let key: Vec<String> = dotted.split('.').map(str::to_owned).collect();
        set_path(tree, &key, value);
    };
    if let Some(host) = &o.host {
        set("http.host", toml::Value::String(host.clone()));
    }
    if let Some(port) = o.port {
        set("http.port", toml::Value::Integer(i64::from(port)));
    }
    if let Some(dir) = &o.data_dir {
        set(
            "storage.data_dir",
            toml::Value::String(dir.to_string_lossy().into_owned()),
        );
    }
    if let Some(backend) = o.backend {
        set(
            "storage.backend",
            toml::Value::try_from(backend).unwrap_or(toml::Value::Boolean(false)),
        );
    }
    if let Some(format) = o.log_format {
        set(
            "log.format",
            toml::Value::try_from(format).unwrap_or(toml::Value::Boolean(false)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_use_sqlite_in_data_and_ten_executions_per_minute() {
        let c = Config::load_from(None, &[], &Overrides::default()).unwrap();
        assert_eq!(c.storage.backend_of(StoreKind::Audit), Backend::Sqlite);
        // Resolved once, against the current directory.
        assert!(c.storage.data_dir.is_absolute() && c.storage.data_dir.ends_with("data"));
        assert_eq!(c.limits.execute_per_minute, 10);
    }

    #[test]
    fn env_overrides_file_and_flags_override_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[http]\nport = 1000\nhost = \"0.0.0.0\"\n").unwrap();
        let e = env(&[
            ("MCP_PORT", "2000"),
            ("MCP_HTTP__REQUEST_TIMEOUT_SECS", "5"),
        ]);
        let c = Config::load_from(Some(&file), &e, &Overrides::default()).unwrap();
        assert_eq!((c.http.host.as_str(), c.http.port), ("0.0.0.0", 2000));
        assert_eq!(c.http.request_timeout_secs, 5);
        let flags = Overrides {
            port: Some(3000),
            ..Overrides::default()
        };
        let c = Config::load_from(Some(&file), &e, &flags).unwrap();
        assert_eq!(c.http.port, 3000);
    }

    #[test]
    fn every_value_problem_is_named_with_where_it_was_set() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[limits]\nexecute_per_minute = 0\n").unwrap();
        let e = env(&[("MCP_AUTH__TOKEN_TTL_SECS", "0")]);
        let err = Config::load_from(Some(&file), &e, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("2 problems"), "{err}");
        assert!(err.contains(&format!("{} line 2", file.display())), "{err}");
        assert!(err.contains("MCP_AUTH__TOKEN_TTL_SECS"), "{err}");
    }

    #[test]
    fn a_wrong_type_in_the_file_is_reported_with_its_line_and_key() {
        let err = load_toml("[http]\nhost = \"h\"\nport = \"x\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 3") && err.contains("`http.port`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_is_refused_with_its_name() {
        let e = env(&[("MCP_HTTP__PROT", "1")]);
        let err = Config::load_from(None, &e, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("prot"), "{err}");
    }

    #[test]
    fn neo4j_backend_without_a_server_is_refused() {
        let e = env(&[("MCP_STORAGE__GRAPH", "neo4j")]);
        let err = Config::load_from(None, &e, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("storage.neo4j"), "{err}");
    }

    const ALL_ON_NEO4J: &[(&str, &str)] = &[
        ("MCP_STORAGE_BACKEND", "neo4j"),
        ("MCP_NEO4J_URI", "bolt://db:7687"),
        ("MCP_NEO4J_DATABASE", "mcp"),
    ];

    fn load_neo4j(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let pairs: Vec<(&str, &str)> = ALL_ON_NEO4J.iter().chain(extra).copied().collect();
        Config::load_from(None, &env(&pairs), &Overrides::default())
    }

    #[test]
    fn stores_in_the_graph_database_are_refused_naming_the_keys_to_set() {
        for extra in [
            &[][..],
            // Accounts apart is no longer enough: roles, revocations and audit are readable too.
            &[("MCP_NEO4J_USERS_DATABASE", "mcp_users")],
            &[
                ("MCP_NEO4J_USERS_DATABASE", "mcp_users"),
                ("MCP_NEO4J_AUDIT_DATABASE", "mcp_audit"),
            ],
            &[
                ("MCP_NEO4J_GRAPH_DATABASE", "mcp_sec"),
                ("MCP_NEO4J_ROLES_DATABASE", "mcp_sec"),
            ],
            &[("MCP_NEO4J_DANGEROUS_ALLOW_SHARED_GRAPH_DATABASE", "false")],
        ] {
            let err = load_neo4j(extra).unwrap_err().to_string();
            assert!(
                err.contains("storage.neo4j.graph_database")
                    && err.contains("dangerous_allow_shared_graph_database")
                    && err.contains("roles"),
                "{extra:?}: {err}"
            );
        }
    }

    #[test]
    fn a_graph_in_its_own_database_is_accepted() {
        let c = load_neo4j(&[("MCP_NEO4J_GRAPH_DATABASE", "mcp_graph")]).unwrap();
        let neo = c.storage.neo4j.as_ref().unwrap();
        assert_eq!(neo.database_of(StoreKind::Graph), Some("mcp_graph"));
        assert_eq!(neo.database_of(StoreKind::Roles), Some("mcp"));
        // Every security store in a database of its own, the graph in the default one.
        load_neo4j(&[
            ("MCP_NEO4J_USERS_DATABASE", "sec"),
            ("MCP_NEO4J_ROLES_DATABASE", "sec"),
            ("MCP_NEO4J_TOKENS_DATABASE", "sec"),
            ("MCP_NEO4J_AUDIT_DATABASE", "audit"),
        ])
        .unwrap();
        // Only the graph on neo4j: nothing to share with.
        let e = env(&[
            ("MCP_STORAGE__GRAPH", "neo4j"),
            ("MCP_NEO4J_URI", "bolt://db:7687"),
        ]);
        Config::load_from(None, &e, &Overrides::default()).unwrap();
    }

    #[test]
    fn the_dangerous_opt_in_accepts_a_shared_graph_database_from_file_or_environment() {
        let c = load_neo4j(&[("MCP_NEO4J_DANGEROUS_ALLOW_SHARED_GRAPH_DATABASE", "true")]).unwrap();
        assert_eq!(c.storage.stores_sharing_the_graph_database().len(), 4);
        let c = load_toml(
            "[storage]\nbackend = \"neo4j\"\n[storage.neo4j]\nuri = \"bolt://db:7687\"\n\
             dangerous_allow_shared_graph_database = true\n",
            &[],
        )
        .unwrap();
        assert!(
            c.storage
                .neo4j
                .unwrap()
                .dangerous_allow_shared_graph_database
        );
    }

    #[test]
    fn printed_config_masks_secrets() {
        let secret = "x".repeat(40);
        let e = env(&[
            ("MCP_JWT_SECRET", secret.as_str()),
            ("MCP_NEO4J_URI", "bolt://localhost:7687"),
            ("MCP_NEO4J_PASSWORD", "hunter2hunter2"),
        ]);
        let c = Config::load_from(None, &e, &Overrides::default()).unwrap();
        let printed = c.to_masked_toml();
        assert!(
            !printed.contains(&secret) && !printed.contains("hunter2"),
            "{printed}"
        );
        assert!(printed.contains("********"));
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn auth_caches_default_to_two_seconds_can_be_turned_off_and_are_bounded() {
        let ttls = |c: &Config| {
            (
                c.auth.role_cache_ttl_ms,
                c.auth.user_cache_ttl_ms,
                c.auth.revocation_cache_ttl_ms,
            )
        };
        let c = Config::load_from(None, &[], &Overrides::default()).unwrap();
        assert_eq!(ttls(&c), (2000, 2000, 2000));
        let e = env(&[
            ("MCP_AUTH__ROLE_CACHE_TTL_MS", "0"),
            ("MCP_AUTH__USER_CACHE_TTL_MS", "500"),
            ("MCP_AUTH__REVOCATION_CACHE_TTL_MS", "0"),
        ]);
        let c = Config::load_from(None, &e, &Overrides::default()).unwrap();
        assert_eq!(ttls(&c), (0, 500, 0));
        for key in ["ROLE", "REVOCATION"] {
            let e = env(&[(format!("MCP_AUTH__{key}_CACHE_TTL_MS").as_str(), "3600000")]);
            let err = Config::load_from(None, &e, &Overrides::default()).unwrap_err();
            let name = format!("{}_cache_ttl_ms", key.to_lowercase());
            assert!(err.to_string().contains(&name), "{err}");
        }
    }

    #[test]
    fn numeric_looking_secret_stays_a_string() {
        let secret = "1".repeat(40);
        let e = env(&[("MCP_JWT_SECRET", secret.as_str())]);
        let c = Config::load_from(None, &e, &Overrides::default()).unwrap();
        assert_eq!(c.auth.jwt_secret.unwrap().expose(), secret);
    }

    fn load_toml(text: &str, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, text).unwrap();
        Config::load_from(Some(&file), &env(pairs), &Overrides::default())
    }

    fn refused(text: &str) -> String {
        load_toml(text, &[]).unwrap_err().to_string()
    }

    const TWO_KEYS: &str = r#"
[auth]
jwt_signing_kid = "ed-2"
jwt_audience = "https://mcp.example/api"

[[auth.jwt_keys]]
kid = "hs-1"
algorithm = "HS256"
secret_env = "OLD_JWT_SECRET"

[[auth.jwt_keys]]
kid = "ed-2"
algorithm = "EdDSA"
public_key_file = "/etc/mcp/ed-2.pub.pem"
private_key_file = "/etc/mcp/ed-2.pem"
"#;

    #[test]
    fn key_list_signing_kid_and_audience_parse_and_print() {
        let c = load_toml(TWO_KEYS, &[]).unwrap();
        assert_eq!(c.auth.jwt_keys.len(), 2);
        assert_eq!(c.auth.jwt_keys[1].algorithm, mcp_jwt::Algorithm::EdDSA);
        assert_eq!(c.auth.signing_kid(), "ed-2");
        assert_eq!(
            c.auth.jwt_audience.as_deref(),
            Some("https://mcp.example/api")
        );
        let printed = c.to_masked_toml();
        assert!(printed.contains("[[auth.jwt_keys]]"), "{printed}");
        assert!(printed.contains("OLD_JWT_SECRET"), "{printed}");
    }

    #[test]
    fn signing_kid_and_audience_come_from_the_environment_as_strings() {
        let c = load_toml(
            &TWO_KEYS.replace("jwt_signing_kid = \"ed-2\"", ""),
            &[("MCP_JWT_SIGNING_KID", "ed-2"), ("MCP_JWT_AUDIENCE", "42")],
        )
        .unwrap();
        assert_eq!(c.auth.signing_kid(), "ed-2");
        assert_eq!(c.auth.jwt_audience.as_deref(), Some("42"));
        let numeric = TWO_KEYS.replace("\"ed-2\"", "\"2027\"");
        let c = load_toml(&numeric, &[("MCP_JWT_SIGNING_KID", "2027")]).unwrap();
        assert_eq!(c.auth.signing_kid(), "2027");
    }

    #[test]
    fn signing_kid_that_is_not_configured_is_refused() {
        let err =
            refused(&TWO_KEYS.replace("jwt_signing_kid = \"ed-2\"", "jwt_signing_kid = \"ed-3\""));
        assert!(
            err.contains("ed-3") && err.contains("(ed-2, hs-1)"),
            "{err}"
        );
        // Without a key list the default key is `primary`, and only it can sign.
        let err = refused("[auth]\njwt_signing_kid = \"other\"\n");
        assert!(err.contains("other") && err.contains("primary"), "{err}");
        // With a key list and no signing kid, the default `primary` must be one of them.
        let err = refused(&TWO_KEYS.replace("jwt_signing_kid = \"ed-2\"", ""));
        assert!(err.contains("`primary`"), "{err}");
    }

    #[test]
    fn duplicate_kid_is_refused_including_the_secret_as_key_primary() {
        let err = refused(&TWO_KEYS.replace("kid = \"hs-1\"", "kid = \"ed-2\""));
        assert!(err.contains("ed-2") && err.contains("twice"), "{err}");
        let clash = TWO_KEYS.replace("kid = \"hs-1\"", "kid = \"primary\"");
        let secret = "s".repeat(40);
        let err = load_toml(&clash, &[("MCP_JWT_SECRET", secret.as_str())])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("primary") && err.contains("auth.jwt_secret"),
            "{err}"
        );
        load_toml(&clash, &[]).expect("no clash without a jwt_secret");
    }

    #[test]
    fn signing_key_with_only_a_public_key_is_refused() {
        let err = refused(&TWO_KEYS.replace("private_key_file = \"/etc/mcp/ed-2.pem\"", ""));
        assert!(
            err.contains("ed-2") && err.contains("private_key_file"),
            "{err}"
        );
        // The same key verifies only, next to a signing key: accepted.
        let verify_only = TWO_KEYS
            .replace("private_key_file = \"/etc/mcp/ed-2.pem\"", "")
            .replace("jwt_signing_kid = \"ed-2\"", "jwt_signing_kid = \"hs-1\"");
        load_toml(&verify_only, &[]).expect("verify-only key");
    }

    #[test]
    fn key_sources_that_do_not_fit_the_algorithm_are_refused() {
        let hs = |body: &str| {
            refused(&format!(
                "[auth]\njwt_signing_kid = \"k\"\n[[auth.jwt_keys]]\nkid = \"k\"\nalgorithm = \"HS256\"\n{body}"
            ))
        };
        assert!(hs("").contains("secret_env or secret_file"));
        assert!(hs("secret_env = \"A\"\nsecret_file = \"/b\"\n").contains("not both"));
        assert!(hs("secret_env = \"A\"\npublic_key_file = \"/p\"\n").contains("not PEM"));
        // A secret is never written into the file itself.
        assert!(hs("secret = \"a-literal-secret-of-thirty-two-bytes!!\"\n").contains("secret"));
        let asym = |body: &str| {
            refused(&format!(
                "[auth]\njwt_signing_kid = \"k\"\n[[auth.jwt_keys]]\nkid = \"k\"\nalgorithm = \"RS256\"\n{body}"
            ))
        };
        assert!(asym("private_key_file = \"/k\"\n").contains("public_key_file is required"));
        assert!(asym("public_key_file = \"/p\"\nsecret_env = \"A\"\n").contains("not a secret"));
        let err =
            refused("[[auth.jwt_keys]]\nkid = \"k\"\nalgorithm = \"none\"\nsecret_env = \"A\"\n");
        assert!(err.contains("none"), "{err}");
    }

    #[test]
    fn empty_audience_is_refused() {
        let err = Config::load_from(
            None,
            &env(&[("MCP_JWT_AUDIENCE", " ")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("jwt_audience"), "{err}");
    }
}
