// Status: liveness, readiness (each store), and for administrators the build version, storage
// backends and sandbox isolation layers; key metrics from /metrics, refreshed every 5 s.
import { api } from './api.js';
import { clear, errorBox, h, table } from './dom.js';

const REFRESH_MS = 5000;

/** Prometheus text → [{name, labels, value}] (enough of the format for our own metrics). */
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const pair of (m[3] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

const sum = (samples, name, pred = () => true) => samples
  .filter((s) => s.name === name && pred(s.labels)).reduce((a, s) => a + s.value, 0);

/** The latency under which `q` of requests finished, from the histogram buckets. */
function quantile(samples, q) {
  const buckets = new Map();
  for (const s of samples.filter((x) => x.name === 'mcp_http_request_duration_seconds_bucket')) {
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    buckets.set(le, (buckets.get(le) || 0) + s.value);
  }
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.length ? sorted[sorted.length - 1][1] : 0;
  if (!total) return null;
  const found = sorted.find(([, count]) => count >= q * total);
  return found ? found[0] : null;
}

const ms = (seconds) => (seconds == null ? '–' : seconds === Infinity ? '> 10 s' : `≤ ${Math.round(seconds * 1000)} ms`);

export function render(root, { can }) {
  const health = h('section', { class: 'card', 'aria-labelledby': 'health-title' }, h('h2', { id: 'health-title' }, 'Health and readiness'));
  const about = h('section', { class: 'card', 'aria-labelledby': 'about-title' }, h('h2', { id: 'about-title' }, 'Build and storage'));
  const layers = h('section', { class: 'card', 'aria-labelledby': 'layers-title' }, h('h2', { id: 'layers-title' }, 'Sandbox isolation'));
  const metrics = h('section', { class: 'card', 'aria-labelledby': 'metrics-title' }, h('h2', { id: 'metrics-title' }, 'Key metrics'));
  root.append(h('div', { class: 'two' }, health, about), metrics, layers);
  let previous = null;

  async function refresh() {
    const [live, ready] = await Promise.all([
      api('GET', '/health').catch((e) => ({ status: `down (${e.message})` })),
      api('GET', '/ready').catch((e) => e.body || { status: `unknown (${e.message})`, checks: {} }),
    ]);
    clear(health).append(h('h2', { id: 'health-title' }, 'Health and readiness'),
      h('p', { 'data-result': 'health' }, `Liveness: ${live.status}`),
      h('p', { 'data-result': 'ready' }, `Readiness: ${ready.status}`),
      table('Readiness checks', ['Part', 'State'], Object.entries(ready.checks || {}).map(([k, v]) => [k, h('span', { class: `outcome ${v === 'ok' ? 'passed' : 'failed'}` }, v)])));

    if (can('system:admin')) {
      try {
        const s = await api('GET', '/api/v1/status');
        clear(about).append(h('h2', { id: 'about-title' }, 'Build and storage'),
          h('p', { 'data-result': 'version' }, `Server version ${s.version}`),
          table('Storage backends', ['Store', 'Backend'], Object.entries(s.backends)));
        const probe = s.sandbox;
        clear(layers).append(h('h2', { id: 'layers-title' }, 'Sandbox isolation'));
        if (probe) {
          layers.append(h('p', {}, `Runs accepted: ${probe.ready ? 'yes' : 'no'}${probe.weaker_isolation_allowed ? ' (weaker isolation allowed by config)' : ''}`),
            table('Isolation layers', ['Layer', 'Available', 'Required', 'Detail'], probe.layers.map((l) => [
              l.layer, h('span', { class: `outcome ${l.available ? 'passed' : 'failed'}` }, l.available ? 'yes' : 'no'), l.required ? 'yes' : 'no', l.detail])),
            table('Interpreters', ['Language', 'Interpreter', 'Available'], probe.languages.map((l) => [l.language, l.interpreter, l.available ? 'yes' : 'no'])));
        } else {
          layers.append(h('p', { class: 'error' }, `No sandbox: ${s.sandbox_error}`));
        }
      } catch (err) {
        clear(about).append(h('h2', { id: 'about-title' }, 'Build and storage'), errorBox(err));
      }
    } else {
      clear(about).append(h('h2', { id: 'about-title' }, 'Build and storage'), h('p', {}, 'The version, storage backends and isolation layers are shown to administrators.'));
      clear(layers).append(h('h2', { id: 'layers-title' }, 'Sandbox isolation'), h('p', {}, 'Readiness above says whether the sandbox accepts runs.'));
    }

    try {
      const samples = parseMetrics(await api('GET', '/metrics', { text: true }));
      const now = Date.now();
      const requests = sum(samples, 'mcp_http_requests_total');
      const rate = previous ? ((requests - previous.requests) / ((now - previous.at) / 1000)) : null;
      previous = { requests, at: now };
      const rows = [
        ['Requests served', String(requests)],
        ['Request rate', rate == null ? 'next refresh' : `${rate.toFixed(2)} /s`],
        ['Latency p50', ms(quantile(samples, 0.5))],
        ['Latency p95', ms(quantile(samples, 0.95))],
        ['Server errors (5xx)', String(sum(samples, 'mcp_http_requests_total', (l) => (l.status || '').startsWith('5')))],
        ['Sandbox runs', String(sum(samples, 'mcp_sandbox_runs_total'))],
        ['Sandbox runs in progress', String(sum(samples, 'mcp_sandbox_queue'))],
        ['Code executions', String(sum(samples, 'mcp_executions_total'))],
        ['Audit queue depth', String(sum(samples, 'mcp_audit_queue_depth'))],
        ['Failed sign-ins', String(sum(samples, 'mcp_auth_failures_total'))],
        ['Permission denials', String(sum(samples, 'mcp_permission_denials_total'))],
      ];
      clear(metrics).append(h('h2', { id: 'metrics-title' }, 'Key metrics'), table('From /metrics, refreshed every 5 seconds', ['Metric', 'Value'], rows));
    } catch (err) {
      clear(metrics).append(h('h2', { id: 'metrics-title' }, 'Key metrics'), errorBox(err));
    }
  }

  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => clearInterval(timer);
}
