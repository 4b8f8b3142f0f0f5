// Connected apps: the OAuth clients (MCP clients, IDEs, …) that an account signed in to through
// the server's authorization server. Each row shows what the app may do (the remembered
// consent) and its active sign-ins; Disconnect ends both at once (the app's refresh and access
// tokens stop working, and it has to ask again). Used by the "Connected apps" page (one's own,
// /api/v1/me/oauth/consents) and by the users page (any user's, for administrators).
import { api } from './api.js';
import { announce, button, clear, errorBox, h, openDialog, table, when } from './dom.js';

const nameOf = (c) => c.client_name || c.client_id;

function who(c) {
  return h('span', { 'data-client-id': c.client_id },
    h('strong', {}, nameOf(c)),
    c.client_name ? h('div', { class: 'hint' }, c.client_id) : null,
    c.first_party ? h('div', { class: 'hint' }, 'this console')
      : c.source === 'dynamic' ? h('div', { class: 'hint' }, 'self-registered: its name is not verified')
        : c.source === null ? h('div', { class: 'hint' }, 'no longer registered') : null);
}

function allowed(c) {
  if (c.consent) return h('span', {}, c.consent.scopes.map((s) => h('code', { class: 'chip' }, s)));
  return c.first_party ? 'implied (part of this server)' : 'asked at each sign-in';
}

function signIns(c) {
  if (!c.grants.length) return 'none';
  const last = c.grants.map((g) => g.expires_at).sort().pop();
  return `${c.grants.length} (until ${when(last)} at the latest)`;
}

/**
 * The connected apps listed at `path` (its DELETE `path/{client_id}` disconnects one), as
 * [messages, listing] to put in a page; `whose` names the account in texts ("your", "dana's").
 * Dialogs open in `root`.
 */
export function connectionsPanel(root, path, whose) {
  const out = h('div', { 'aria-live': 'polite' });
  const listing = h('div', {});

  const disconnect = (c) => openDialog(root, {
    title: `Disconnect ${nameOf(c)}?`,
    body: [h('p', {}, `${nameOf(c)} loses access to ${whose} account now: the remembered consent and `
      + `every sign-in of it end, with their tokens. It has to ask again to connect.`)],
    confirm: `Disconnect ${nameOf(c)}`,
    danger: true,
    onConfirm: async () => {
      await api('DELETE', `${path}/${encodeURIComponent(c.client_id)}`);
      const message = `${nameOf(c)} disconnected`;
      clear(out).append(h('p', { class: 'ok' }, message));
      announce(message);
      await load();
    },
  });

  async function load() {
    try {
      const connections = await api('GET', path);
      clear(listing).append(table('Connected apps',
        ['App', 'Redirects to', 'May use', 'Active sign-ins', 'Actions'],
        connections.map((c) => [who(c), c.redirect_hosts.join(', ') || '–', allowed(c), signIns(c),
          c.first_party ? '' : button('Disconnect', () => disconnect(c),
            { class: 'danger', 'aria-label': `Disconnect ${nameOf(c)}` })])));
      listing.firstChild.setAttribute('data-result', 'connections');
    } catch (err) {
      clear(listing).append(errorBox(err));
    }
  }

  load();
  return [out, listing];
}
