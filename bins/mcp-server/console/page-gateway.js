// Gateway: the upstream MCP servers behind the platform. Everyone with upstream permissions sees
// the upstream tools they may call; administrators also see each upstream's state and the
// changed tool definitions waiting for a decision, and approve or reject them. Every string
// from an upstream (names, descriptions, schemas, errors) is shown as text.
import { api } from './api.js';
import { announce, button, clear, errorBox, h, openDialog, table, when } from './dom.js';

const REFRESH_MS = 5000;
let present = false;

/** Looks once per sign-in whether this server has upstreams the user may see. */
export async function probe(me) {
  present = false;
  try {
    if (me.permissions.includes('system:admin')) {
      present = (await api('GET', '/api/v1/gateway/upstreams')).length > 0;
    } else if (me.permissions.some((p) => p.startsWith('upstream:'))) {
      present = (await api('GET', '/api/v1/gateway/tools')).length > 0;
    }
  } catch {
    present = false;
  }
}

/** Whether the navigation offers the page (the server has upstreams for this user). */
export function allowed() {
  return present;
}

const state = (s) => h('span', { class: `outcome ${s === 'up' ? 'passed' : 'failed'}` }, s);

/** A definition's pinned fields (canonical JSON text) as an object; {} if it is not JSON. */
function fields(definition) {
  try {
    return JSON.parse(definition.text);
  } catch {
    return {};
  }
}

const show = (value) => (value === undefined ? '(absent)' : typeof value === 'string' ? value : JSON.stringify(value, null, 2));

/** One withheld tool: what changed, the approved and the offered value of each changed field. */
function pendingCard(record, decide) {
  const approved = fields(record.approved);
  const offered = fields(record.pending);
  const names = [...new Set([...Object.keys(approved), ...Object.keys(offered)])].sort()
    .filter((k) => JSON.stringify(approved[k]) !== JSON.stringify(offered[k]));
  const title = `${record.namespace} / ${record.tool}`;
  const rows = names.map((k) => [k, h('pre', { class: 'output' }, show(approved[k])), h('pre', { class: 'output' }, show(offered[k]))]);
  return h('article', { class: 'card', 'data-pending': `${record.namespace}/${record.tool}` },
    h('h3', {}, title),
    h('p', {}, `Withheld since ${record.pending_since ? when(record.pending_since) : 'unknown'}; changed: ${names.join(', ') || 'nothing visible'}.`),
    table(`Approved and offered definition of ${title}`, ['Field', 'Approved (served before)', 'Offered now'], rows),
    h('p', { class: 'meta' }, `Offered definition SHA-256 ${record.pending.hash}`),
    h('div', { class: 'row' },
      button('Approve…', () => decide(record, true), { class: 'primary', 'data-action': 'approve' }),
      button('Reject…', () => decide(record, false), { class: 'danger', 'data-action': 'reject' })));
}

export function render(root, { can }) {
  const mine = h('section', { class: 'card', 'aria-labelledby': 'gw-tools-title' }, h('h2', { id: 'gw-tools-title' }, 'Upstream tools you may call'));
  const upstreams = h('section', { class: 'card', 'aria-labelledby': 'gw-up-title' }, h('h2', { id: 'gw-up-title' }, 'Upstreams'));
  const pending = h('section', { class: 'card', 'aria-labelledby': 'gw-pending-title' }, h('h2', { id: 'gw-pending-title' }, 'Changed definitions awaiting a decision'));
  const admin = can('system:admin');
  if (admin) root.append(upstreams, pending);
  root.append(mine);

  function decide(record, approve) {
    const verb = approve ? 'Approve' : 'Reject';
    openDialog(root, {
      title: `${verb} the new definition of ${record.namespace} / ${record.tool}?`,
      body: [h('p', {}, approve
        ? 'The tool is served again with the offered definition; the audit keeps its text.'
        : 'The tool stays withheld while the upstream offers this definition.')],
      confirm: verb,
      danger: !approve,
      onConfirm: async () => {
        const action = approve ? 'approve' : 'reject';
        const path = `/api/v1/gateway/pins/${encodeURIComponent(record.namespace)}/${encodeURIComponent(record.tool)}/${action}`;
        await api('POST', path, { body: { hash: record.pending.hash } });
        announce(`${verb}d the definition of ${record.namespace} / ${record.tool}`);
        refresh();
      },
    });
  }

  async function refresh() {
    if (admin) {
      try {
        const health = await api('GET', '/api/v1/gateway/upstreams');
        clear(upstreams).append(h('h2', { id: 'gw-up-title' }, 'Upstreams'),
          table('Each upstream, refreshed every 5 seconds', ['Namespace', 'State', 'Since', 'Tools', 'Withheld', 'Calls', 'Errors', 'Last error'],
            health.map((u) => [u.namespace, state(u.state), when(u.since), String(u.tools), String(u.withheld), String(u.calls), String(u.errors), u.last_error || '–']),
            { rowAttrs: (i) => ({ 'data-upstream': health[i].namespace }) }));
      } catch (err) {
        clear(upstreams).append(h('h2', { id: 'gw-up-title' }, 'Upstreams'), errorBox(err));
      }
      try {
        const pins = await api('GET', '/api/v1/gateway/pins');
        clear(pending).append(h('h2', { id: 'gw-pending-title' }, 'Changed definitions awaiting a decision'));
        if (!pins.pending.length) pending.append(h('p', { 'data-result': 'no-pending' }, 'None: every upstream tool is served as approved.'));
        for (const record of pins.pending) pending.append(pendingCard(record, decide));
      } catch (err) {
        clear(pending).append(h('h2', { id: 'gw-pending-title' }, 'Changed definitions awaiting a decision'), errorBox(err));
      }
    }
    try {
      const tools = await api('GET', '/api/v1/gateway/tools');
      clear(mine).append(h('h2', { id: 'gw-tools-title' }, 'Upstream tools you may call'),
        table('Served upstream tools (withheld ones are not listed)', ['Tool', 'Permission', 'Description'],
          tools.map((t) => [t.name, t.permission, t.definition.description || ''])));
    } catch (err) {
      clear(mine).append(h('h2', { id: 'gw-tools-title' }, 'Upstream tools you may call'), errorBox(err));
    }
  }

  refresh();
  // No refresh while a decision dialog is open (the list under it stays as reviewed).
  const timer = setInterval(() => { if (!root.querySelector('dialog[open]')) refresh(); }, REFRESH_MS);
  return () => clearInterval(timer);
}
