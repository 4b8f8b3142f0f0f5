//! Change notifications: a watcher per session (handshake clients over HTTP or stdio) and per
//! `subscriptions/listen` request (2026-07-28) looks, every `[mcp] watch_interval_ms`, at what
//! its user may see and at the resources it subscribed to, and sends
//! - `notifications/tools/list_changed`, `…/resources/list_changed` and
//!   `…/prompts/list_changed` when the user's roles now show other tools, resources (or
//!   templates) or prompts (a role assigned or removed, by REST, the CLI or another instance),
//!   or the gateway's upstreams offer others (an upstream down or up again, a tool withheld
//!   after its definition changed, a new definition approved, an upstream's own list change);
//! - `notifications/resources/updated` when the content of a subscribed resource changed (a
//!   graph node written or deleted, the graph statistics, the caller's roles in
//!   `mcp-server://me`), only while the user may still read it.
//!
//! The watcher lives only as long as the caller's token does: once the token expired or was
//! revoked, or the user was disabled, removed or had their sessions ended (a password change,
//! a role removal), it sends the three `list_changed` notifications (what the token may see
//! changed: nothing now, and the client's next request learns why) and stops.
//!
//! Looking (polling) instead of hooking every write finds changes made anywhere, also by other
//! instances on the same stores and by `mcp-server` commands; its cost is bounded: one role
//! lookup and at most [`MAX_SUBSCRIPTIONS`](super::session::MAX_SUBSCRIPTIONS) reads per
//! session and interval.
use std::collections::hash_map::DefaultHasher;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Weak};
use std::time::Duration;

use mcp_jwt::RevocationStore as _;
use rmcp::RoleServer;
use rmcp::service::{Peer, SubscriptionSink};

use super::session::Session;
use super::{prompts, resources, tools};
use crate::auth::Principal;
use crate::ops::gateway;
use crate::state::AppState;

/// What a user may see: the names of the tools, resources and templates, and prompts, and a
/// fingerprint of the upstream ones (the gateway's: their whole definitions, since an upstream
/// may change one without renaming it).
#[derive(Debug, PartialEq, Eq)]
pub struct Lists {
    tools: Vec<String>,
    resources: Vec<String>,
    prompts: Vec<String>,
    upstream_tools: u64,
    upstream_resources: u64,
    upstream_prompts: u64,
}

/// A hash of `value`'s JSON, written straight into the hasher.
fn digest(value: &impl serde::Serialize) -> u64 {
    struct Sink(DefaultHasher);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.write(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut sink = Sink(DefaultHasher::new());
    let _ = serde_json::to_writer(&mut sink, value);
    sink.0.finish()
}

impl Lists {
    /// The lists `who` sees now.
    pub fn of(state: &AppState, who: &Principal) -> Self {
        let visible = |rule| tools::visible(state, who, rule);
        let tools = tools::catalog()
            .iter()
            .filter(|t| visible(t.tool.rule))
            .map(|t| t.tool.name.to_owned())
            .collect();
        let resources = resources::RESOURCES
            .iter()
            .filter(|r| visible(r.rule))
            .map(|r| r.uri.to_owned())
            .chain(
                resources::TEMPLATES
                    .iter()
                    .filter(|t| visible(t.rule))
                    .map(|t| t.uri_template.to_owned()),
            )
            .collect();
        let prompts = prompts::PROMPTS
            .iter()
            .filter(|p| visible(p.rule))
            .map(|p| p.name.to_owned())
            .collect();
        Self {
            tools,
            resources,
            prompts,
            upstream_tools: digest(&gateway::visible_tools(state, who)),
            upstream_resources: digest(&(
                gateway::visible_resources(state, who),
                gateway::visible_resource_templates(state, who),
            )),
            upstream_prompts: digest(&gateway::visible_prompts(state, who)),
        }
    }

    /// Which of the three lists differ: tools, resources (with templates), prompts.
    fn changed(&self, before: &Self) -> (bool, bool, bool) {
        (
            self.tools != before.tools || self.upstream_tools != before.upstream_tools,
            self.resources != before.resources
                || self.upstream_resources != before.upstream_resources,
            self.prompts != before.prompts || self.upstream_prompts != before.upstream_prompts,
        )
    }
}

/// The fingerprint of the content of `uri` as `who` would read it now: `None` when `who` may
/// not read it (or it is no resource of ours), else a hash of its content or of why it cannot
/// be read (so a node that disappears counts as a change).
pub async fn fingerprint(state: &AppState, who: &Principal, uri: &str) -> Option<u64> {
    let content = if let Some(spec) = resources::find(uri) {
        if !tools::visible(state, who, spec.rule) {
            return None;
        }
        resources::read(state, who, spec).await
    } else if let Some((spec, vars)) = resources::resolve(uri) {
        if !tools::visible(state, who, spec.rule) {
            return None;
        }
        resources::read_template(state, spec, &vars, uri).await
    } else {
        // A fixture (test builds) or anything else: its content never changes.
        return Some(0);
    };
    let mut hasher = DefaultHasher::new();
    match content {
        Ok(contents) => serde_json::to_string(&contents)
            .unwrap_or_default()
            .hash(&mut hasher),
        Err(err) => err.code().hash(&mut hasher),
    }
    Some(hasher.finish())
}

/// Where notifications go.
pub enum Target {
    /// A handshake session (2025-03-26 to 2025-11-25): its peer, and the session whose
    /// subscriptions are watched (the watcher ends when the session is gone).
    Session(Peer<RoleServer>, Weak<Session>),
    /// One `subscriptions/listen` request (2026-07-28): its sink, whose accepted filter names
    /// the notifications and resources.
    Listen(SubscriptionSink),
}

impl Target {
    fn wants_lists(&self) -> (bool, bool, bool) {
        match self {
            Self::Session(..) => (true, true, true),
            Self::Listen(sink) => {
                let f = sink.accepted();
                (
                    f.tools_list_changed == Some(true),
                    f.resources_list_changed == Some(true),
                    f.prompts_list_changed == Some(true),
                )
            }
        }
    }

    /// The watched URIs with their last fingerprints; `None` when the session is gone.
    fn subscriptions(&self, last: &[(String, Option<u64>)]) -> Option<Vec<(String, Option<u64>)>> {
        match self {
            Self::Session(_, session) => Some(session.upgrade()?.subscriptions()),
            Self::Listen(sink) => Some(
                sink.accepted()
                    .resource_subscriptions
                    .iter()
                    .flatten()
                    .map(|uri| {
                        let seen = last.iter().find(|(u, _)| u == uri).and_then(|(_, s)| *s);
                        (uri.clone(), seen)
                    })
                    .collect(),
            ),
        }
    }

    /// Sends one notification; `false` when the client is gone.
    async fn send(&self, what: Change<'_>) -> bool {
        match self {
            Self::Session(peer, _) => {
                let sent = match what {
                    Change::Tools => peer.notify_tool_list_changed().await,
                    Change::Resources => peer.notify_resource_list_changed().await,
                    Change::Prompts => peer.notify_prompt_list_changed().await,
                    Change::Updated(uri) => {
                        peer.notify_resource_updated(
                            rmcp::model::ResourceUpdatedNotificationParam::new(uri),
                        )
                        .await
                    }
                };
                if let Err(e) = sent {
                    tracing::debug!(error = %e, "change notification not delivered");
                }
                !peer.is_transport_closed()
            }
            Self::Listen(sink) => {
                let sent = match what {
                    Change::Tools => sink.notify_tool_list_changed().await,
                    Change::Resources => sink.notify_resource_list_changed().await,
                    Change::Prompts => sink.notify_prompt_list_changed().await,
                    Change::Updated(uri) => sink.notify_resource_updated(uri).await,
                };
                match sent {
                    Ok(()) => true,
                    Err(rmcp::service::SubscriptionSendError::SubscriptionClosed) => false,
                    Err(e) => {
                        tracing::debug!(error = %e, "change notification not delivered");
                        true
                    }
                }
            }
        }
    }
}

enum Change<'a> {
    Tools,
    Resources,
    Prompts,
    Updated(&'a str),
}

/// Whether the token `who` came with still counts: not expired, not revoked, its user enabled
/// and the token not older than the end of the user's sessions. `None` when a store could not
/// tell (look again next time).
async fn token_counts(state: &AppState, who: &Principal) -> Option<bool> {
    let claims = &who.claims;
    if claims.exp <= u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0) {
        return Some(false);
    }
    if state.revocations.is_revoked(&claims.jti).await.ok()? {
        return Some(false);
    }
    let user = state.users.by_id(&who.user_id).await.ok()?;
    Some(user.is_some_and(|u| !u.disabled && u.accepts_token_issued_at(claims.iat)))
}

/// Watches for `who` (their roles looked up again each time) until `stop` completes, the
/// session is gone, the client went away or the token stopped counting.
pub async fn run(
    state: AppState,
    who: Principal,
    target: Target,
    interval: Duration,
    stop: impl Future<Output = ()>,
) {
    let mut who = who;
    let mut lists = Lists::of(&state, &who);
    let mut seen: Vec<(String, Option<u64>)> = Vec::new();
    let (tools_wanted, resources_wanted, prompts_wanted) = target.wants_lists();
    // What a listen request subscribed to is as it is now.
    if let Target::Listen(_) = &target
        && let Some(subscriptions) = target.subscriptions(&seen)
    {
        for (uri, _) in subscriptions {
            let now = fingerprint(&state, &who, &uri).await;
            seen.push((uri, now));
        }
    }
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(interval) => {}
        }
        match token_counts(&state, &who).await {
            Some(true) => {}
            Some(false) => {
                tracing::debug!(user = %who.user_id, "token ended: change watcher stops");
                for (wanted, change) in [
                    (tools_wanted, Change::Tools),
                    (resources_wanted, Change::Resources),
                    (prompts_wanted, Change::Prompts),
                ] {
                    if wanted && !target.send(change).await {
                        break;
                    }
                }
                return;
            }
            None => continue,
        }
        if let Ok(authorizer) = state.authorizer() {
            match authorizer.roles_of(&who.user_id).await {
                Ok(roles) => who.roles = roles,
                Err(e) => {
                    tracing::debug!(error = %e, "roles not looked up; next time");
                    continue;
                }
            }
        }
        let now = Lists::of(&state, &who);
        let (tools_changed, resources_changed, prompts_changed) = now.changed(&lists);
        let changes = [
            (tools_wanted && tools_changed, Change::Tools),
            (resources_wanted && resources_changed, Change::Resources),
            (prompts_wanted && prompts_changed, Change::Prompts),
        ];
        lists = now;
        for (changed, change) in changes {
            if changed && !target.send(change).await {
                return;
            }
        }
        let Some(subscriptions) = target.subscriptions(&seen) else {
            return;
        };
        let mut next = Vec::with_capacity(subscriptions.len());
        for (uri, last) in subscriptions {
            let current = fingerprint(&state, &who, &uri).await;
            if let Target::Session(_, session) = &target
                && let Some(session) = session.upgrade()
            {
                session.seen(&uri, current.or(last));
            }
            if let (Some(before), Some(after)) = (last, current)
                && before != after
                && !target.send(Change::Updated(&uri)).await
            {
                return;
            }
            next.push((uri, current.or(last)));
        }
        seen = next;
    }
}

/// Starts the watcher of a handshake session in the background.
pub fn spawn(
    state: AppState,
    who: Principal,
    peer: Peer<RoleServer>,
    session: &Arc<Session>,
    interval: Duration,
) {
    let target = Target::Session(peer, Arc::downgrade(session));
    tokio::spawn(run(state, who, target, interval, std::future::pending()));
}
