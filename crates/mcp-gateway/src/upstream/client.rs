//! The MCP client the gateway runs towards each upstream: routes progress notifications to the
//! call they belong to and notices catalog changes.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use rmcp::ClientHandler;
use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, ProgressNotificationParam, ProgressToken,
};
use rmcp::service::{NotificationContext, RoleClient};
use tokio::sync::{Notify, mpsc};

/// Progress notifications kept per call before they are dropped (progress is lossy by nature;
/// a flooding upstream costs bounded memory).
const PER_CALL: usize = 64;
/// Notifications kept for tokens nobody listens to yet (a fast upstream may report progress
/// before the call registered its token).
const EARLY: usize = 128;

#[derive(Default)]
struct Routes {
    subscribers: HashMap<ProgressToken, mpsc::Sender<ProgressNotificationParam>>,
    early: VecDeque<ProgressNotificationParam>,
}

/// Delivers each progress notification to the call that owns its token.
#[derive(Default)]
pub(crate) struct ProgressRouter {
    routes: Mutex<Routes>,
}

impl ProgressRouter {
    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn dispatch(&self, params: ProgressNotificationParam) {
        let mut routes = self.routes();
        match routes.subscribers.get(&params.progress_token) {
            Some(tx) => {
                let _ = tx.try_send(params);
            }
            None => {
                if routes.early.len() >= EARLY {
                    routes.early.pop_front();
                }
                routes.early.push_back(params);
            }
        }
    }

    /// Starts routing `token` to the returned receiver (with what came early for it).
    pub(crate) fn subscribe(&self, token: ProgressToken) -> Subscription<'_> {
        let (tx, rx) = mpsc::channel(PER_CALL);
        let mut routes = self.routes();
        let early = std::mem::take(&mut routes.early);
        for p in early {
            if p.progress_token == token {
                let _ = tx.try_send(p);
            } else {
                routes.early.push_back(p);
            }
        }
        routes.subscribers.insert(token.clone(), tx);
        Subscription {
            router: self,
            token,
            rx,
        }
    }
}

/// A call's progress notifications; unsubscribes when dropped.
pub(crate) struct Subscription<'a> {
    router: &'a ProgressRouter,
    token: ProgressToken,
    pub(crate) rx: mpsc::Receiver<ProgressNotificationParam>,
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        self.router.routes().subscribers.remove(&self.token);
    }
}

/// The client handler of one upstream connection.
#[derive(Clone)]
pub(crate) struct GatewayClient {
    pub(crate) progress: Arc<ProgressRouter>,
    /// Woken when the upstream says its tools, resources or prompts changed.
    pub(crate) changed: Arc<Notify>,
}

impl ClientHandler for GatewayClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("mcp-gateway", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.dispatch(params);
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed.notify_one();
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed.notify_one();
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::NumberOrString;

    use super::*;

    fn p(token: i64, progress: f64) -> ProgressNotificationParam {
        ProgressNotificationParam::new(ProgressToken(NumberOrString::Number(token)), progress)
    }

    #[test]
    fn progress_reaches_its_own_call_even_when_it_came_early() {
        let router = ProgressRouter::default();
        router.dispatch(p(1, 0.5));
        router.dispatch(p(2, 0.1));
        let mut one = router.subscribe(ProgressToken(NumberOrString::Number(1)));
        router.dispatch(p(1, 0.9));
        assert_eq!(one.rx.try_recv().unwrap().progress, 0.5);
        assert_eq!(one.rx.try_recv().unwrap().progress, 0.9);
        assert!(one.rx.try_recv().is_err());
        drop(one);
        let mut two = router.subscribe(ProgressToken(NumberOrString::Number(2)));
        assert_eq!(two.rx.try_recv().unwrap().progress, 0.1);
    }

    #[test]
    fn a_flood_of_progress_costs_bounded_memory() {
        let router = ProgressRouter::default();
        for i in 0..10_000 {
            router.dispatch(p(i, 0.0));
        }
        assert!(router.routes().early.len() <= EARLY);
        let sub = router.subscribe(ProgressToken(NumberOrString::Number(7)));
        for _ in 0..10_000 {
            router.dispatch(p(7, 1.0));
        }
        assert!(sub.rx.len() <= PER_CALL);
    }
}
