//! The start-up probe: starts one sandbox and compares what it sees with the host.

use std::fs;

use super::{BwrapSandbox, Job};
use crate::probe::LayerStatus;
use crate::{Error, Layer, Probe};

impl BwrapSandbox {
    /// Starts a sandbox that reports its namespaces and process status, and compares them with
    /// the server's own.
    pub(super) async fn probe_namespaces(&self) -> Vec<LayerStatus> {
        const NS: [(&str, Layer); 6] = [
            ("user", Layer::UserNamespace),
            ("mnt", Layer::MountNamespace),
            ("pid", Layer::PidNamespace),
            ("net", Layer::NetworkNamespace),
            ("ipc", Layer::IpcNamespace),
            ("uts", Layer::UtsNamespace),
        ];
        let script = "for n in user mnt pid net ipc uts; do echo \"$n $(readlink /proc/self/ns/$n)\"; done; grep -E '^(NoNewPrivs|Seccomp|CapEff|CapPrm):' /proc/self/status; if unshare -U true 2>/dev/null; then echo 'Unshare: allowed'; else echo 'Unshare: refused'; fi";
        let job = Job {
            argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
            limits: self.inner.config.default_limits.clone(),
            ..Job::default()
        };
        let bwrap_ok = self.inner.config.bwrap.is_file();
        let result = if bwrap_ok {
            self.execute_unchecked(job).await
        } else {
            Err(Error::InvalidConfig(format!(
                "{} not found",
                self.inner.config.bwrap.display()
            )))
        };
        let mut out = Vec::new();
        let (text, why) = match &result {
            Ok(r) if r.exit_code == Some(0) => (r.stdout.clone(), String::new()),
            Ok(r) => (
                String::new(),
                format!(
                    "probe sandbox failed (exit {:?}): {}",
                    r.exit_code,
                    r.stderr.trim()
                ),
            ),
            Err(e) => (String::new(), format!("probe sandbox failed: {e}")),
        };
        out.push(status(
            Layer::Bubblewrap,
            why.is_empty(),
            if why.is_empty() {
                format!("{} starts sandboxes", self.inner.config.bwrap.display())
            } else {
                why.clone()
            },
        ));
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
        };
        for (name, layer) in NS {
            let host = fs::read_link(format!("/proc/self/ns/{name}"))
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let inside = field(&format!("{name} ")).unwrap_or_default();
            let ok = !inside.is_empty() && inside != host;
            out.push(status(
                layer,
                ok,
                if ok {
                    format!("sandbox {inside} differs from host {host}")
                } else if why.is_empty() {
                    format!("sandbox shares the host's namespace ({inside})")
                } else {
                    why.clone()
                },
            ));
        }
        let check = |layer, key: &str, want: &str, what: &str| {
            let got = field(key);
            let ok = got.as_deref() == Some(want);
            status(
                layer,
                ok,
                if ok {
                    what.to_string()
                } else if why.is_empty() {
                    format!("{key} is {got:?}, expected {want}")
                } else {
                    why.clone()
                },
            )
        };
        out.push(check(
            Layer::NoNewPrivs,
            "NoNewPrivs:",
            "1",
            "NoNewPrivs: 1 inside the sandbox",
        ));
        let mut seccomp = check(
            Layer::Seccomp,
            "Seccomp:",
            "2",
            "seccomp filter mode inside the sandbox, and it refuses unshare(CLONE_NEWUSER)",
        );
        if seccomp.available && field("Unshare:").as_deref() != Some("refused") {
            seccomp.available = false;
            seccomp.detail =
                "a filter is loaded but `unshare -U` succeeded inside the sandbox".into();
        }
        out.push(seccomp);
        out.push(check(
            Layer::NoCapabilities,
            "CapEff:",
            "0000000000000000",
            "no effective capabilities inside the sandbox",
        ));
        out
    }
}

pub(super) fn status(layer: Layer, available: bool, detail: String) -> LayerStatus {
    LayerStatus {
        layer,
        available,
        required: layer.is_required(),
        detail,
    }
}

pub(super) fn log_probe(probe: &Probe, lint_python: &str) {
    for l in &probe.layers {
        if l.available {
            tracing::debug!(layer = %l.layer.name(), detail = %l.detail, "sandbox layer available");
        } else if l.required {
            tracing::error!(layer = %l.layer.name(), detail = %l.detail, "SANDBOX ISOLATION LAYER UNAVAILABLE");
        } else {
            tracing::warn!(layer = %l.layer.name(), detail = %l.detail, "optional sandbox layer unavailable");
        }
    }
    for lang in &probe.languages {
        if !lang.available {
            tracing::warn!(language = %lang.language, interpreter = %lang.interpreter.display(), "interpreter not found");
        }
    }
    if !probe.ready {
        tracing::error!(missing = ?probe.missing_required(), "the sandbox REFUSES to run code: required isolation is unavailable and allow_weaker_isolation is off");
    } else if !probe.missing_required().is_empty() {
        tracing::error!(missing = ?probe.missing_required(), "the sandbox runs code with WEAKER isolation (allow_weaker_isolation is on)");
    }
    let up = probe.layers.iter().filter(|l| l.available).count();
    let languages: Vec<&str> = probe
        .languages
        .iter()
        .filter(|l| l.available)
        .map(|l| l.language.as_str())
        .collect();
    tracing::info!(
        ready = probe.ready,
        layers = %format!("{up}/{}", probe.layers.len()),
        languages = %languages.join(","),
        python_lint = lint_python,
        "sandbox probed (each layer at debug level)"
    );
}
