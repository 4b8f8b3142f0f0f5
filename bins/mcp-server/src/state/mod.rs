//! The application state: every backend behind a trait object, chosen from config at start-up.
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mcp_audit::{AuditEvent, AuditLogger, AuditLoggerConfig, AuditSink};
use mcp_graph::GraphStore;
use mcp_jwt::store::{CachedRevocationStore, RevocationStore};
use mcp_limits::CounterStore;
use mcp_limits::store::memory::MemoryCounterStore;
use mcp_rbac::{Authorizer, CachedRoleStore, RoleStore};
use mcp_sandbox::Sandbox;

use crate::config::{Backend, Config, StoreKind};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::resource_server::ResourceServer;
use crate::users::lockout::{LockoutLimits, LoginGuard, MEMORY_KEYS};
use crate::users::{CachedUserStore, MemoryUserStore, PasswordGate, SqliteUserStore, UserStore};
use audit_budget::AuditBudget;

pub mod audit_budget;
mod jwt_keys;
mod jwt_secret;
pub mod runners;

pub use runners::CodeRunners;
#[cfg(feature = "neo4j")]
#[path = "neo4j.rs"]
mod neo4j;
#[cfg(not(feature = "neo4j"))]
#[path = "neo4j_disabled.rs"]
mod neo4j;

/// Everything a request handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The effective configuration.
    pub config: Arc<Config>,
    /// User accounts.
    pub users: Arc<dyn UserStore>,
    /// Roles and the policy; `None` only in a mis-wired app (routes then answer 500).
    pub authorizer: Option<Authorizer>,
    /// Signs tokens.
    pub issuer: Arc<mcp_jwt::JwtIssuer>,
    /// Verifies tokens and revokes them.
    pub verifier: Arc<mcp_jwt::JwtVerifier>,
    /// The audit log (non-blocking queue in front of the sink).
    pub audit: AuditLogger,
    /// Revoked tokens, behind the cache of `auth.revocation_cache_ttl_ms` (the verifier holds
    /// the same cache, so a revocation through either counts at once here); `/ready` reads the
    /// backend itself through [`CachedRevocationStore::inner`].
    pub revocations: Arc<CachedRevocationStore<Arc<dyn RevocationStore>>>,
    /// The knowledge graph.
    pub graph: Arc<dyn GraphStore>,
    /// The code sandbox, reachable only through the per-user budgets of code runs and lints
    /// (see [`CodeRunners`]); without a sandbox, `/ready` is 503 and tool runs answer 503.
    pub runners: Arc<CodeRunners>,
    /// Code templates.
    pub generator: Arc<mcp_sandbox::tools::Generator>,
    /// Metrics of this app.
    pub metrics: Metrics,
    /// Brute-force protection of password log-ins.
    pub login_guard: LoginGuard,
    /// Argon2 hashing and checking, bounded in concurrency and memory.
    pub passwords: PasswordGate,
    /// How many audit events callers without a valid token may cause.
    pub unauthenticated_audit: Arc<AuditBudget>,
    /// The upstream MCP servers of `[gateway]`; `None` when none is configured (or the state
    /// was assembled without starting them).
    pub gateway: Option<Arc<crate::gateway::Upstreams>>,
    /// The OAuth resource server (metadata, challenges, external issuers); `None` when the
    /// public URL is unknown or no authorization server is configured.
    pub resource_server: Option<Arc<ResourceServer>>,
    /// The built-in OAuth authorization server, once `crate::oauth::attach` set it up.
    pub oauth: Option<mcp_oauth::AuthorizationServer>,
    /// Its per-address limits, set up with it.
    pub oauth_limits: Option<Arc<crate::oauth_limits::OAuthLimits>>,
    /// The OAuth records (clients, codes, grants, refresh tokens, consents).
    pub oauth_store: Arc<dyn mcp_oauth::OAuthStore>,
    /// The counter store of `limits.counters` (budgets, lock-outs, OAuth per-address limits);
    /// shared by the instances on it unless it is memory.
    pub counters: Arc<dyn CounterStore>,
}

/// The backends of an [`AppState`], before it is assembled.
pub struct Backends {
    /// User accounts.
    pub users: Arc<dyn UserStore>,
    /// Role assignments.
    pub roles: Arc<dyn RoleStore>,
    /// Revoked tokens.
    pub revocations: Arc<dyn RevocationStore>,
    /// Audit events.
    pub audit: Arc<dyn AuditSink>,
    /// The knowledge graph.
    pub graph: Arc<dyn GraphStore>,
    /// The sandbox, or why it is not there.
    pub sandbox: Result<Arc<dyn Sandbox>, String>,
    /// The bubblewrap sandbox, for lint and test.
    pub sandbox_tools: Option<Arc<mcp_sandbox::BwrapSandbox>>,
    /// The OAuth records, on the tokens store's backend (`oauth.sqlite3` in the data dir).
    pub oauth: Arc<dyn mcp_oauth::OAuthStore>,
    /// The counts of the per-user budgets and the log-in lock-out (`limits.counters`).
    pub counters: Arc<dyn CounterStore>,
}

impl Backends {
    /// All in memory (tests, trials).
    pub fn memory() -> Self {
        Self {
            users: Arc::new(MemoryUserStore::new()),
            roles: Arc::new(mcp_rbac::store::memory::MemoryRoleStore::new()),
            revocations: Arc::new(mcp_jwt::store::memory::MemoryRevocationStore::new()),
            audit: Arc::new(mcp_audit::sink::memory::MemoryAuditSink::new()),
            graph: Arc::new(mcp_graph::MemoryGraphStore::new()),
            sandbox: Err("no sandbox configured".into()),
            sandbox_tools: None,
            oauth: Arc::new(mcp_oauth::store::memory::MemoryOAuthStore::new()),
            counters: Arc::new(MemoryCounterStore::with_capacity(MEMORY_KEYS)),
        }
    }

    /// Replaces the sandbox (tests plug in a fake).
    pub fn with_sandbox(mut self, sandbox: Arc<dyn Sandbox>) -> Self {
        self.sandbox = Ok(sandbox);
        self
    }

    /// The backends the config names for each store, and the sandbox when `with_sandbox`
    /// (administrative commands don't start one).
    ///
    /// Refuses stores that share the graph's Neo4j database (see
    /// [`StorageConfig::check_graph_database_isolation`](crate::config::StorageConfig::check_graph_database_isolation)),
    /// also for a config that never went through [`Config::validate`], and logs a warning
    /// naming them when `storage.neo4j.dangerous_allow_shared_graph_database` lets them.
    pub async fn connect(config: &Config, with_sandbox: bool) -> anyhow::Result<Self> {
        let storage = &config.storage;
        storage.check_graph_database_isolation()?;
        let shared = storage.stores_sharing_the_graph_database();
        if !shared.is_empty() {
            let stores: Vec<&str> = shared.iter().map(|s| s.name()).collect();
            tracing::warn!(
                stores = %stores.join(","),
                "DANGEROUS: storage.neo4j.dangerous_allow_shared_graph_database is set and these \
                 stores share the graph's Neo4j database: every caller with graph:query can read \
                 them (password hashes, role assignments, revocations, audit events) through the \
                 graph query tool; give the graph its own storage.neo4j.graph_database"
            );
        }
        let needs_dir = StoreKind::ALL
            .iter()
            .any(|s| storage.backend_of(*s) == Backend::Sqlite);
        if needs_dir {
            create_data_dir(&storage.data_dir)?;
        }
        let path = |s: StoreKind| storage.sqlite_path(s);
        let users: Arc<dyn UserStore> = match storage.backend_of(StoreKind::Users) {
            Backend::Memory => Arc::new(MemoryUserStore::new()),
            Backend::Sqlite => Arc::new(SqliteUserStore::open(&path(StoreKind::Users)).await?),
            Backend::Neo4j => neo4j::users(config).await?,
        };
        let roles: Arc<dyn RoleStore> = match storage.backend_of(StoreKind::Roles) {
            Backend::Memory => Arc::new(mcp_rbac::store::memory::MemoryRoleStore::new()),
            Backend::Sqlite => Arc::new(
                mcp_rbac::store::sqlite::SqliteRoleStore::open(path(StoreKind::Roles)).await?,
            ),
            Backend::Neo4j => neo4j::roles(config).await?,
        };
        let revocations: Arc<dyn RevocationStore> = match storage.backend_of(StoreKind::Tokens) {
            Backend::Memory => Arc::new(mcp_jwt::store::memory::MemoryRevocationStore::new()),
            Backend::Sqlite => Arc::new(
                mcp_jwt::store::sqlite::SqliteRevocationStore::open(path(StoreKind::Tokens))
                    .await?,
            ),
            Backend::Neo4j => neo4j::revocations(config).await?,
        };
        let oauth: Arc<dyn mcp_oauth::OAuthStore> = match storage.backend_of(StoreKind::Tokens) {
            Backend::Memory => Arc::new(mcp_oauth::store::memory::MemoryOAuthStore::new()),
            Backend::Sqlite => Arc::new(
                mcp_oauth::store::sqlite::SqliteOAuthStore::open(
                    storage.data_dir.join("oauth.sqlite3"),
                )
                .await
                .context("OAuth store")?,
            ),
            Backend::Neo4j => neo4j::oauth(config).await?,
        };
        let audit: Arc<dyn AuditSink> = match storage.backend_of(StoreKind::Audit) {
            Backend::Memory => Arc::new(mcp_audit::sink::memory::MemoryAuditSink::new()),
            Backend::Sqlite => Arc::new(
                mcp_audit::sink::sqlite::SqliteAuditSink::open(path(StoreKind::Audit)).await?,
            ),
            Backend::Neo4j => neo4j::audit(config).await?,
        };
        let graph: Arc<dyn GraphStore> = match storage.backend_of(StoreKind::Graph) {
            Backend::Memory => Arc::new(mcp_graph::MemoryGraphStore::new()),
            Backend::Sqlite => Arc::new(
                mcp_graph::SqliteGraphStore::open(path(StoreKind::Graph))
                    .await
                    .context("graph store")?,
            ),
            Backend::Neo4j => neo4j::graph(config).await?,
        };
        let counters: Arc<dyn CounterStore> = match config.limits.counter_backend(&config.storage) {
            Backend::Memory => Arc::new(MemoryCounterStore::with_capacity(MEMORY_KEYS)),
            Backend::Sqlite => {
                create_data_dir(&storage.data_dir)?;
                let path = storage.data_dir.join("limits.sqlite3");
                Arc::new(
                    mcp_limits::store::sqlite::SqliteCounterStore::open(&path)
                        .await
                        .with_context(|| format!("limit counters {}", path.display()))?,
                )
            }
            Backend::Neo4j => neo4j::counters(config).await?,
        };
        let mut sandbox_tools = None;
        let sandbox: Result<Arc<dyn Sandbox>, String> = if with_sandbox {
            match mcp_sandbox::BwrapSandbox::from_config(config.sandbox.clone()).await {
                Ok(sandbox) => {
                    if !sandbox.probe().ready {
                        tracing::error!(
                            missing = ?sandbox.probe().missing_required(),
                            "the sandbox cannot isolate code on this host: code runs will be refused"
                        );
                    }
                    let sandbox = Arc::new(sandbox);
                    sandbox_tools = Some(Arc::clone(&sandbox));
                    Ok(sandbox as Arc<dyn Sandbox>)
                }
                Err(e) => {
                    tracing::error!(error = %e, "the sandbox did not start: code runs will be refused");
                    Err(e.to_string())
                }
            }
        } else {
            Err("not started by this command".into())
        };
        Ok(Self {
            users,
            roles,
            revocations,
            audit,
            graph,
            sandbox,
            sandbox_tools,
            oauth,
            counters,
        })
    }
}

/// Loads and checks the token keys the way start-up does (variables set, files readable, PEM
/// valid, private key matching), without generating a secret (`config check`).
pub fn check_token_keys(config: &Config) -> anyhow::Result<()> {
    if config.auth.jwt_keys.is_empty() {
        if config.auth.jwt_secret.is_none() && jwt_secret::secret_path(config).exists() {
            jwt_secret::resolve(config)?;
        }
        return Ok(());
    }
    let jwt = jwt_keys::jwt_config(config, &|name| std::env::var(name).ok())?;
    mcp_jwt::JwtIssuer::from_config(&jwt).context("JWT configuration")?;
    Ok(())
}

/// The audit store alone, for reading (`audit verify`, `audit list`): no logger, no spill file,
/// no other store, and nothing created: a SQLite audit log must exist already.
pub async fn open_audit_store(config: &Config) -> anyhow::Result<Arc<dyn AuditSink>> {
    match config.storage.backend_of(StoreKind::Audit) {
        Backend::Memory => anyhow::bail!(
            "the audit store is in memory (storage.audit, storage.backend or --storage): \
             nothing is stored there to read"
        ),
        Backend::Sqlite => {
            let path = config.storage.sqlite_path(StoreKind::Audit);
            anyhow::ensure!(
                path.is_file(),
                "no audit log at {}: is this the data directory the server uses?",
                path.display()
            );
            Ok(Arc::new(
                mcp_audit::sink::sqlite::SqliteAuditSink::open(path).await?,
            ))
        }
        Backend::Neo4j => neo4j::audit(config).await,
    }
}

/// The gateway's pin store the configuration names: `gateway.pins`, else `storage.backend`
/// (SQLite: `<data_dir>/gateway.sqlite3`; Neo4j: the roles' database).
pub async fn gateway_pin_store(config: &Config) -> anyhow::Result<Arc<dyn mcp_gateway::PinStore>> {
    let backend = config.gateway.pins.unwrap_or(config.storage.backend);
    Ok(match backend {
        Backend::Memory => Arc::new(mcp_gateway::pin::memory::MemoryPinStore::new()),
        Backend::Sqlite => {
            create_data_dir(&config.storage.data_dir)?;
            let path = config.storage.data_dir.join("gateway.sqlite3");
            Arc::new(
                mcp_gateway::pin::sqlite::SqlitePinStore::open(&path)
                    .await
                    .with_context(|| format!("gateway pin store {}", path.display()))?,
            )
        }
        Backend::Neo4j => neo4j::pins(config).await?,
    })
}

/// The user store alone, for reading (`audit list --user NAME`): nothing created; a SQLite
/// user store must exist already.
pub async fn open_user_store(config: &Config) -> anyhow::Result<Arc<dyn UserStore>> {
    match config.storage.backend_of(StoreKind::Users) {
        Backend::Memory => anyhow::bail!("the user store is in memory: nothing is stored there"),
        Backend::Sqlite => {
            let path = config.storage.sqlite_path(StoreKind::Users);
            anyhow::ensure!(path.is_file(), "no user store at {}", path.display());
            Ok(Arc::new(SqliteUserStore::open(&path).await?))
        }
        Backend::Neo4j => neo4j::users(config).await,
    }
}

/// How often an instance removes expired entries from a shared counter store.
const COUNTER_PURGE_EVERY: Duration = Duration::from_secs(600);

/// Removes expired entries from a shared counter store every [`COUNTER_PURGE_EVERY`], so the
/// store holds only live counts (the memory store prunes itself as it grows).
fn purge_counters(counters: Arc<dyn CounterStore>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(COUNTER_PURGE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            every.tick().await;
            match counters.purge_expired(chrono::Utc::now()).await {
                Ok(n) => tracing::debug!(removed = n, "expired limit counters purged"),
                Err(e) => tracing::warn!(error = %e, "purging expired limit counters failed"),
            }
        }
    });
}

fn create_data_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data dir {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

impl AppState {
    /// Opens the configured backends and assembles the state (inside a tokio runtime).
    pub async fn connect(config: Config) -> anyhow::Result<Self> {
        let backends = Backends::connect(&config, true).await?;
        if config.limits.counter_backend(&config.storage) != Backend::Memory {
            purge_counters(Arc::clone(&backends.counters));
        }
        let mut state = Self::assemble(config, backends)?;
        if state.config.gateway.is_enabled() {
            let pins = gateway_pin_store(&state.config).await?;
            state.gateway = crate::gateway::Upstreams::start(
                &state.config.gateway,
                pins,
                state.audit.clone(),
                state.runners.bwrap(),
                Arc::clone(&state.counters),
            )
            .context("gateway")?;
        }
        Ok(state)
    }

    /// Assembles the state from backends (tests use [`Backends::memory`]); needs a tokio
    /// runtime for the audit logger's task.
    pub fn assemble(config: Config, backends: Backends) -> anyhow::Result<Self> {
        Self::assemble_with(config, backends, true)
    }

    /// [`AppState::assemble`]; with `spill` false the audit logger has no spill file (the
    /// administrative commands, which flush before they exit and write nothing else into the
    /// data directory).
    pub fn assemble_with(config: Config, backends: Backends, spill: bool) -> anyhow::Result<Self> {
        let jwt_config = jwt_keys::jwt_config(&config, &|name| std::env::var(name).ok())?;
        let issuer = mcp_jwt::JwtIssuer::from_config(&jwt_config).context("JWT configuration")?;
        // Each verified token is looked up in the revocation store: a short-lived cache keeps
        // that off the database too (a zero TTL reads it every time). Local revocations
        // invalidate at once; see the config key's docs.
        let revocations = Arc::new(CachedRevocationStore::new(
            backends.revocations,
            Duration::from_millis(config.auth.revocation_cache_ttl_ms),
        ));
        let verifier = mcp_jwt::JwtVerifier::from_config(
            &jwt_config,
            Arc::clone(&revocations) as Arc<dyn RevocationStore>,
        )
        .context("JWT configuration")?;
        let mut kids: Vec<&str> = verifier.kids().collect();
        kids.sort_unstable();
        tracing::info!(signing_kid = issuer.signing_kid(), verifying_kids = ?kids,
            audience = ?jwt_config.audience, "token keys loaded");
        let mut roles = mcp_rbac::RolesConfig::default();
        for (name, role) in &config.roles {
            roles = roles.with_role(name.clone(), role.clone());
        }
        let policy = mcp_rbac::Policy::from_config(&roles).context("roles configuration")?;
        let resource_server = ResourceServer::from_config(&config, &policy)?.map(Arc::new);
        // Each authenticated request reads the user and their roles: short-lived caches keep
        // that off the database. Local writes invalidate at once; see the config keys' docs.
        let role_ttl = Duration::from_millis(config.auth.role_cache_ttl_ms);
        let roles: Arc<dyn RoleStore> = if role_ttl.is_zero() {
            backends.roles
        } else {
            Arc::new(CachedRoleStore::new(backends.roles, role_ttl))
        };
        let user_ttl = Duration::from_millis(config.auth.user_cache_ttl_ms);
        let users: Arc<dyn UserStore> = if user_ttl.is_zero() {
            backends.users
        } else {
            Arc::new(CachedUserStore::new(backends.users, user_ttl))
        };
        let authorizer = Authorizer::new(roles, policy);
        let metrics = Metrics::new();
        let mut audit_config = AuditLoggerConfig::default();
        if spill && config.storage.backend_of(StoreKind::Audit) == Backend::Sqlite {
            audit_config =
                audit_config.spill_path(config.storage.data_dir.join("audit-spill.jsonl"));
        }
        let audit = AuditLogger::new(backends.audit, audit_config).context("audit logger")?;
        Ok(Self {
            runners: Arc::new(CodeRunners::with_counters(
                backends.sandbox,
                backends.sandbox_tools,
                &config.limits,
                Arc::clone(&backends.counters),
            )),
            login_guard: LoginGuard::with_counters(
                Arc::clone(&backends.counters),
                LockoutLimits {
                    per_user_and_address: config.auth.max_failures_per_user,
                    per_address: config.auth.max_failures_per_ip,
                    per_user_from_new_addresses: config.auth.max_failures_per_account,
                    window: Duration::from_secs(config.auth.lockout_secs),
                    remember_addresses: Duration::from_secs(
                        config
                            .auth
                            .remember_login_address_days
                            .saturating_mul(24 * 3600),
                    ),
                },
            ),
            passwords: PasswordGate::new(
                match config.auth.max_concurrent_password_checks {
                    0 => {
                        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
                    }
                    n => n,
                },
                config.auth.password_check_queue,
            ),
            unauthenticated_audit: Arc::new(AuditBudget::per_minute(
                config.audit.unauthenticated_events_per_minute,
            )),
            config: Arc::new(config),
            users,
            authorizer: Some(authorizer),
            issuer: Arc::new(issuer),
            verifier: Arc::new(verifier),
            audit,
            revocations,
            graph: backends.graph,
            generator: Arc::new(mcp_sandbox::tools::Generator::builtin()),
            metrics,
            gateway: None,
            resource_server,
            oauth: None,
            oauth_limits: None,
            oauth_store: backends.oauth,
            counters: backends.counters,
        })
    }

    /// The role authorizer, or 500 when the app was built without one.
    pub fn authorizer(&self) -> Result<&Authorizer, ApiError> {
        self.authorizer
            .as_ref()
            .ok_or(ApiError::NotWired("authorizer"))
    }

    /// The graph store.
    pub fn graph(&self) -> Result<&Arc<dyn GraphStore>, ApiError> {
        Ok(&self.graph)
    }

    /// Records an audit event (waits at most the logger's enqueue timeout, never fails). Once
    /// called, the event is recorded even if the caller's future is dropped meanwhile (see
    /// [`crate::completion`]).
    pub async fn audit(&self, event: AuditEvent) {
        // Queued at once when there is room: nothing to finish, so no task (the common case,
        // once per guarded request).
        let Err(event) = self.audit.try_log(event) else {
            return;
        };
        let audit = self.audit.clone();
        let _ = crate::completion::run_to_completion(async move {
            audit.log(*event).await;
            Ok(())
        })
        .await;
    }

    /// Records an audit event a caller without a valid token caused (a failed log-in, a
    /// refused token, …), within the unauthenticated audit budget: beyond it the event is only
    /// counted (metric `mcp_audit_suppressed_total{kind}` and a summary event once a minute).
    pub async fn audit_unauthenticated(&self, kind: &'static str, event: AuditEvent) {
        let admission = self.unauthenticated_audit.admit(kind);
        if admission.record {
            self.audit(event).await;
        } else {
            self.metrics
                .audit_suppressed
                .with_label_values(&[kind])
                .inc();
        }
        if let Some(summary) = admission.summary {
            self.audit(summary).await;
        }
    }

    /// Records an audit event and waits (at most `audit.durable_timeout_ms`; 0 = not at all)
    /// until it is durable, for work that has been done and is about to be acknowledged.
    /// `done` says what was done, for the error message: 503 `audit_unavailable` on timeout.
    pub async fn audit_durable(&self, event: AuditEvent, done: &str) -> Result<(), ApiError> {
        let timeout = std::time::Duration::from_millis(self.config.audit.durable_timeout_ms);
        if timeout.is_zero() {
            self.audit.log(event).await;
            return Ok(());
        }
        match self.audit.log_durable(event, timeout).await {
            Ok(_) => Ok(()),
            Err(e @ mcp_audit::Error::DurableTimeout { .. }) => {
                tracing::error!(error = %e, "audit event not durable in time");
                Err(ApiError::AuditUnavailable(format!(
                    "{done}, but its audit record could not be stored in time (the audit store \
                     is slow or down; the record stays queued): do not rely on this result \
                     being acknowledged, retry later"
                )))
            }
            Err(e) => {
                // Refused for good or dropped: already reported by the logger; the work is done.
                tracing::error!(error = %e, "audit event will not be stored");
                Err(ApiError::AuditUnavailable(format!(
                    "{done}, but its audit record could not be stored"
                )))
            }
        }
    }
}

/// Checks each store and the sandbox: name → `ok` or what failed.
pub async fn readiness(state: &AppState) -> std::collections::BTreeMap<&'static str, String> {
    // Details go to the log only: `/ready` is public.
    fn show<E: std::fmt::Display>(r: Result<impl Sized, E>) -> String {
        match r {
            Ok(_) => "ok".to_owned(),
            Err(e) => {
                tracing::warn!(error = %e, "readiness check failed");
                "down".to_owned()
            }
        }
    }
    let mut checks = std::collections::BTreeMap::new();
    checks.insert("users", show(state.users.ping().await));
    let roles = match &state.authorizer {
        // `users_with` is never cached (`roles_of` may be), so this reaches the backend.
        Some(a) => show(a.store().users_with("readiness-probe").await),
        None => show(Err::<(), _>("authorizer not configured")),
    };
    checks.insert("roles", roles);
    checks.insert(
        "tokens",
        // The backend itself: a cached answer would hide a store that went down.
        show(
            state
                .revocations
                .inner()
                .is_revoked("readiness-probe")
                .await,
        ),
    );
    let filter = mcp_audit::AuditFilter::new().limit(1);
    checks.insert("audit", show(state.audit.query(&filter).await));
    checks.insert("graph", show(state.graph.stats().await));
    let sandbox = match state.runners.probe() {
        Ok(probe) if probe.ready => "ok".to_owned(),
        Ok(probe) => {
            let missing = probe.missing_required().join(", ");
            show(Err::<(), _>(format!(
                "sandbox isolation unavailable: {missing}"
            )))
        }
        Err(why) => show(Err::<(), _>(format!("no sandbox: {why}"))),
    };
    checks.insert("sandbox", sandbox);
    checks
}
