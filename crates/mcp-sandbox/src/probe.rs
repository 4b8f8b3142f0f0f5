//! What the host allowed at start-up, layer by layer, for logs and `/health`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Language;

/// One isolation layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Layer {
    /// bubblewrap is installed and starts a sandbox.
    Bubblewrap,
    /// A fresh user namespace (no capabilities on the host).
    UserNamespace,
    /// A fresh mount namespace with a minimal read-only root.
    MountNamespace,
    /// A fresh PID namespace (host processes invisible, tree dies with its init).
    PidNamespace,
    /// A fresh network namespace (no route to the host or the internet).
    NetworkNamespace,
    /// A fresh IPC namespace.
    IpcNamespace,
    /// A fresh UTS namespace.
    UtsNamespace,
    /// `no_new_privs` is set on the sandboxed process.
    NoNewPrivs,
    /// The seccomp filter is loaded.
    Seccomp,
    /// All capabilities are dropped.
    NoCapabilities,
    /// Runs execute as a dedicated unprivileged uid, not as the server's uid.
    SeparateUid,
    /// rlimits (CPU, file size, open files, processes) through the wrapper shell's `ulimit` or
    /// `prlimit`.
    Rlimits,
    /// Memory cgroup of the run's slot (memory limit, OOM kill, peak memory).
    CgroupMemory,
    /// Pids cgroup of the run's slot (process limit, killing the whole tree).
    CgroupPids,
    /// CPU cgroup of the run's slot (at most one core per run). Optional.
    CgroupCpu,
}

impl Layer {
    /// Whether a missing layer makes runs refused unless `allow_weaker_isolation` is set.
    pub fn is_required(self) -> bool {
        !matches!(self, Layer::CgroupCpu)
    }

    /// The snake_case name used in `/health` and errors.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// Whether one layer works on this host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LayerStatus {
    /// The layer.
    pub layer: Layer,
    /// It works.
    pub available: bool,
    /// Whether runs are refused without it (unless weaker isolation is allowed).
    pub required: bool,
    /// How it was checked, or why it is unavailable.
    pub detail: String,
}

/// Whether a language's interpreter was found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LanguageStatus {
    /// The language.
    pub language: Language,
    /// The configured interpreter.
    pub interpreter: PathBuf,
    /// It exists.
    pub available: bool,
}

/// The start-up report of the sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Probe {
    /// Every layer with its status.
    pub layers: Vec<LayerStatus>,
    /// Every language with its interpreter.
    pub languages: Vec<LanguageStatus>,
    /// The config allows running with required layers missing.
    pub weaker_isolation_allowed: bool,
    /// Runs are accepted: all required layers work, or weaker isolation is allowed and
    /// bubblewrap itself works.
    pub ready: bool,
}

impl Probe {
    pub(crate) fn new(
        layers: Vec<LayerStatus>,
        languages: Vec<LanguageStatus>,
        weaker_isolation_allowed: bool,
    ) -> Self {
        let bwrap_ok = layers
            .iter()
            .any(|l| l.layer == Layer::Bubblewrap && l.available);
        let all_required = layers.iter().all(|l| l.available || !l.required);
        Probe {
            ready: bwrap_ok && (all_required || weaker_isolation_allowed),
            layers,
            languages,
            weaker_isolation_allowed,
        }
    }

    /// Names of required layers that are unavailable.
    pub fn missing_required(&self) -> Vec<String> {
        self.layers
            .iter()
            .filter(|l| l.required && !l.available)
            .map(|l| l.layer.name())
            .collect()
    }

    /// Whether `layer` is available.
    pub fn has(&self, layer: Layer) -> bool {
        self.layers.iter().any(|l| l.layer == layer && l.available)
    }

    /// Whether all layers, optional ones included, are available.
    pub fn is_full_isolation(&self) -> bool {
        self.layers.iter().all(|l| l.available)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(layer: Layer, available: bool) -> LayerStatus {
        LayerStatus {
            layer,
            available,
            required: layer.is_required(),
            detail: String::new(),
        }
    }

    #[test]
    fn missing_required_layer_makes_probe_not_ready_unless_weaker_mode_allowed() {
        let layers = vec![
            status(Layer::Bubblewrap, true),
            status(Layer::CgroupMemory, false),
        ];
        let strict = Probe::new(layers.clone(), vec![], false);
        assert!(!strict.ready);
        assert_eq!(strict.missing_required(), ["cgroup_memory"]);
        assert!(Probe::new(layers, vec![], true).ready);
    }

    #[test]
    fn without_bubblewrap_nothing_runs_even_in_weaker_mode() {
        let p = Probe::new(vec![status(Layer::Bubblewrap, false)], vec![], true);
        assert!(!p.ready);
    }

    #[test]
    fn missing_optional_layer_keeps_probe_ready() {
        let p = Probe::new(
            vec![
                status(Layer::Bubblewrap, true),
                status(Layer::CgroupCpu, false),
            ],
            vec![],
            false,
        );
        assert!(p.ready);
        assert!(!p.is_full_isolation());
    }
}
