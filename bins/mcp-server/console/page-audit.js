// Audit: the filterable, paged event table with a live tail, each event's details, and the
// hash chain's verification.
import { api } from './api.js';
import { announce, button, clear, errorBox, field, h, pretty, table, when } from './dom.js';

const TYPES = ['auth_success', 'auth_failure', 'token_validation', 'token_revoked', 'authz_granted',
  'authz_denied', 'data_read', 'data_write', 'data_delete', 'code_execution', 'code_lint', 'code_test',
  'code_generation', 'graph_query', 'graph_upsert', 'graph_delete', 'rate_limit_exceeded',
  'security_violation', 'system_error', 'upstream_call', 'gateway'];
const TAIL_MS = 2000;
// A request-id search looks through this many of the newest events that match the other filters.
const SEARCH_WINDOW = 1000;

function iso(localValue) {
  if (!localValue) return undefined;
  const d = new Date(localValue);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function verifyCard() {
  const out = h('div', { class: 'result', 'aria-live': 'polite' });
  const verify = async () => {
    clear(out).append(h('p', {}, 'Verifying…'));
    try {
      const r = await api('GET', '/api/v1/audit/verify');
      if (!r.broken) {
        clear(out).append(h('p', { class: 'ok', 'data-result': 'chain' },
          `Chain verified: ${r.checked} event(s), every link holds. Head: seq ${r.head.seq}, hash ${r.head.hash}`));
        announce('Audit chain verified');
      } else {
        clear(out).append(h('div', { class: 'error', role: 'alert', 'data-result': 'chain' },
          h('strong', {}, `Chain broken at seq ${r.broken.seq}`),
          h('p', {}, `Reason: ${typeof r.broken.reason === 'string' ? r.broken.reason : JSON.stringify(r.broken.reason)}`),
          r.broken.event_id ? h('p', {}, `Event ${r.broken.event_id}`) : null,
          h('p', {}, `${r.checked} event(s) checked; last intact link: seq ${r.head.seq}, hash ${r.head.hash}`)));
        announce('Audit chain broken');
      }
    } catch (err) {
      clear(out).append(errorBox(err));
    }
  };
  return h('section', { class: 'card', 'aria-labelledby': 'audit-chain-title' },
    h('h2', { id: 'audit-chain-title' }, 'Chain verification'),
    button('Verify the chain', verify, { 'data-action': 'verify' }), out);
}

export function render(root) {
  const type = h('select', { name: 'event_type' }, h('option', { value: '' }, 'any'), TYPES.map((t) => h('option', { value: t }, t)));
  const user = h('input', { name: 'user', placeholder: 'user name or id' });
  const since = h('input', { type: 'datetime-local', step: '1' });
  const until = h('input', { type: 'datetime-local', step: '1' });
  const outcome = h('select', {}, h('option', { value: '' }, 'any'), h('option', { value: 'true' }, 'success'), h('option', { value: 'false' }, 'failure'));
  const requestId = h('input', { name: 'request_id', placeholder: 'request id' });
  const size = h('select', {}, ['25', '50', '100'].map((n) => h('option', { value: n, selected: n === '50' }, n)));
  const tail = h('input', { type: 'checkbox' });
  const form = h('form', { class: 'filters', 'aria-label': 'Audit filters' },
    h('div', { class: 'grid' },
      field('Event type', type), field('User', user), field('Since', since), field('Until', until),
      field('Outcome', outcome), field('Request id', requestId), field('Page size', size)),
    h('div', { class: 'row' },
      h('button', { type: 'submit', class: 'primary', 'data-action': 'filter' }, 'Apply filters'),
      h('label', { class: 'inline' }, tail, ' Live tail (new events appear at the top)')));
  const pager = h('div', { class: 'row pager' });
  const listing = h('div', { class: 'result' });
  const details = h('section', { class: 'card', 'aria-labelledby': 'audit-detail-title' },
    h('h2', { id: 'audit-detail-title' }, 'Event details'), h('p', { class: 'hint' }, 'Choose an event in the table.'));
  const names = new Map(); // user id -> user name
  let events = [];
  let cursors = [undefined]; // `until` of each page, newest first
  let page = 0;
  let timer = null;

  api('GET', '/api/v1/users').then((list) => { for (const u of list) names.set(u.id, u.username); draw(); }).catch(() => {});

  function filters() {
    let userId = user.value.trim();
    for (const [id, name] of names) if (name === userId) userId = id;
    return {
      event_type: type.value || undefined,
      user_id: userId || undefined,
      since: iso(since.value),
      success: outcome.value || undefined,
    };
  }

  function showDetails(stored) {
    const e = stored.event;
    clear(details).append(h('h2', { id: 'audit-detail-title', tabindex: '-1' }, 'Event details'),
      h('dl', { class: 'facts-list' }, [
        ['seq', stored.seq], ['event id', e.event_id], ['type', e.event_type], ['time', e.timestamp],
        ['user', `${names.get(e.user_id) || ''} ${e.user_id || ''}`.trim()], ['ip', e.ip_address || ''],
        ['action', e.action || ''], ['resource', e.resource || ''], ['outcome', e.success ? 'success' : 'failure'],
        ['error', e.error_message || ''], ['request id', e.request_id || ''], ['hash', stored.hash], ['previous hash', stored.prev_hash],
      ].flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))])),
      h('h3', {}, 'Details'), h('pre', { class: 'output', 'data-detail': 'details', tabindex: '0' }, pretty(e.details)));
    details.querySelector('h2').focus();
  }

  function draw(fresh = new Set()) {
    const rows = events.map((s) => {
      const e = s.event;
      // A failed log-in names no user (the name was the caller's choice); show what was tried.
      const tried = !e.user_id && e.details && typeof e.details.username === 'string'
        ? `tried: ${e.details.username}` : '';
      return [when(e.timestamp), e.event_type, names.get(e.user_id) || e.user_id || tried,
        [e.action, e.resource].filter(Boolean).join(' '),
        h('span', { class: `outcome ${e.success ? 'passed' : 'failed'}` }, e.success ? 'success' : 'failure'),
        e.request_id || '',
        button('Details', () => showDetails(s), { 'aria-label': `Details of event ${s.seq}` })];
    });
    clear(listing).append(table(`Audit events (page ${page + 1})`,
      ['Time', 'Type', 'User', 'Action', 'Outcome', 'Request id', ''], rows,
      { rowAttrs: (i) => ({ class: fresh.has(events[i].event.event_id) ? 'fresh' : null, 'data-event-type': events[i].event.event_type }) }));
    clear(pager).append(
      button('Newer', () => { page -= 1; load(); }, { disabled: page === 0 || Boolean(requestId.value.trim()) }),
      h('span', {}, `Page ${page + 1}`),
      button('Older', () => { cursors[page + 1] = events[events.length - 1].event.timestamp; page += 1; load(); },
        { disabled: events.length < Number(size.value) || Boolean(requestId.value.trim()) }));
  }

  async function load() {
    const wanted = requestId.value.trim();
    const query = { ...filters(), until: cursors[page] || iso(until.value), limit: wanted ? SEARCH_WINDOW : size.value };
    try {
      const list = await api('GET', '/api/v1/audit', { query });
      events = wanted ? list.filter((s) => s.event.request_id === wanted) : list;
      draw();
      announce(`${events.length} event(s)`);
    } catch (err) {
      clear(listing).append(errorBox(err));
    }
  }

  async function poll() {
    if (page !== 0 || !tail.checked) return;
    const newest = events[0] ? events[0].event.timestamp : undefined;
    try {
      const list = await api('GET', '/api/v1/audit', { query: { ...filters(), since: newest || filters().since, limit: 200 } });
      const seen = new Set(events.map((s) => s.event.event_id));
      const wanted = requestId.value.trim();
      const added = list.filter((s) => !seen.has(s.event.event_id) && (!wanted || s.event.request_id === wanted));
      if (added.length) {
        events = [...added, ...events].slice(0, 500);
        draw(new Set(added.map((s) => s.event.event_id)));
      }
    } catch (err) {
      tail.checked = false;
      clear(listing).prepend(errorBox(err));
    }
  }

  form.addEventListener('submit', (ev) => { ev.preventDefault(); page = 0; cursors = [undefined]; load(); });
  tail.addEventListener('change', () => {
    clearInterval(timer);
    if (tail.checked) { page = 0; cursors = [undefined]; load(); timer = setInterval(poll, TAIL_MS); }
  });
  root.append(form, pager, listing, h('div', { class: 'two' }, details, verifyCard()));
  load();
  return () => clearInterval(timer);
}
