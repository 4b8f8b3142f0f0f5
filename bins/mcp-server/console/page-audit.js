// Audit: the filterable, paged event table with a live tail, each event's details, and the
// hash chain's verification.
import { api } from './api.js';
import { announce, button, clear, errorBox, field, h, pretty, table, when } from './dom.js';

const TYPES = ['auth_success', 'auth_failure', 'token_validation', 'token_revoked', 'authz_granted',
  'authz_denied', 'data_read', 'data_write', 'data_delete', 'code_execution', 'code_lint', 'code_test',
  'code_generation', 'graph_query', 'graph_upsert', 'graph_delete', 'rate_limit_exceeded',
  'security_violation', 'system_error', 'upstream_call', 'gateway'];
const TAIL_MS = 2000;

function iso(localValue) {
  if (!localValue) return undefined;
  const d = new Date(localValue);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** What a broken link's reason means, in words (the server's `kind` plus its fields). */
export function describeBreak(reason) {
  if (!reason || typeof reason !== 'object') return String(reason);
  switch (reason.kind) {
    case 'sequence_gap': return `sequence gap: expected seq ${reason.expected}, found seq ${reason.found} (rows deleted or inserted)`;
    case 'prev_hash_mismatch': return `the stored previous hash ${reason.found} is not the previous event's hash ${reason.expected} (an event before it was removed or replaced)`;
    case 'hash_mismatch': return `the event's content no longer matches its hash (the event was altered): recomputed ${reason.expected}, stored ${reason.found}`;
    default: return `${reason.kind || 'unknown'}: ${JSON.stringify(reason)}`;
  }
}

function verifyCard(showSeq) {
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
          h('p', { 'data-detail': 'break-reason' }, `Reason: ${describeBreak(r.broken.reason)}`),
          r.broken.event_id ? h('p', {}, `Event ${r.broken.event_id}`) : null,
          h('p', {}, `${r.checked} event(s) checked; last intact link: seq ${r.head.seq}, hash ${r.head.hash}`),
          button(`Show the event at seq ${r.broken.seq}`, () => showSeq(r.broken.seq), { 'data-action': 'show-broken' })));
        announce(`Audit chain broken at seq ${r.broken.seq}`);
      }
    } catch (err) {
      clear(out).append(errorBox(err));
    }
  };
  return h('section', { class: 'card', 'aria-labelledby': 'audit-chain-title' },
    h('h2', { id: 'audit-chain-title' }, 'Chain verification'),
    h('p', { class: 'hint' }, 'Re-hashes every stored event and checks each link to the one before.'),
    button('Verify the chain', verify, { 'data-action': 'verify' }), out);
}

export function render(root) {
  // A text box with suggestions: event types the server knows and this list does not yet
  // (a gateway's, say) can still be asked for.
  const typeList = h('datalist', { id: 'audit-event-types' }, TYPES.map((t) => h('option', { value: t })));
  const type = h('input', { name: 'event_type', list: 'audit-event-types', placeholder: 'any', autocomplete: 'off', spellcheck: 'false' });
  const user = h('input', { name: 'user', placeholder: 'user name or id' });
  const since = h('input', { type: 'datetime-local', step: '1', name: 'since' });
  const until = h('input', { type: 'datetime-local', step: '1', name: 'until' });
  const outcome = h('select', { name: 'success' }, h('option', { value: '' }, 'any'), h('option', { value: 'true' }, 'success'), h('option', { value: 'false' }, 'failure'));
  const requestId = h('input', { name: 'request_id', placeholder: 'request id' });
  const size = h('select', { name: 'limit' }, ['25', '50', '100'].map((n) => h('option', { value: n, selected: n === '50' }, n)));
  const tail = h('input', { type: 'checkbox', name: 'tail' });
  const form = h('form', { class: 'filters', 'aria-label': 'Audit filters' },
    h('div', { class: 'grid' },
      field('Event type', type), field('User', user), field('Since', since), field('Until', until),
      field('Outcome', outcome), field('Request id', requestId), field('Page size', size)),
    h('div', { class: 'row' },
      h('button', { type: 'submit', class: 'primary', 'data-action': 'filter' }, 'Apply filters'),
      button('Clear filters', () => { form.reset(); page = 0; cursors = [undefined]; load(); }, { 'data-action': 'clear-filters' }),
      h('label', { class: 'inline' }, tail, ' Live tail (new events appear at the top)')));
  const pager = h('div', { class: 'row pager' });
  const listing = h('div', { class: 'result' });
  const details = h('section', { class: 'card', 'aria-labelledby': 'audit-detail-title' },
    h('h2', { id: 'audit-detail-title' }, 'Event details'), h('p', { class: 'hint' }, 'Choose an event in the table.'));
  const names = new Map(); // user id -> user name
  let events = [];
  // The `before_seq` cursor of each page, newest page first (undefined: from the newest event).
  let cursors = [undefined];
  let page = 0;
  let timer = null;

  api('GET', '/api/v1/users').then((list) => { for (const u of list) names.set(u.id, u.username); draw(); }).catch(() => {});

  // The server takes a user id or a log-in name, the request id as is; times are sent in UTC.
  function filters() {
    return {
      event_type: type.value.trim() || undefined,
      user_id: user.value.trim() || undefined,
      since: iso(since.value),
      until: iso(until.value),
      success: outcome.value || undefined,
      request_id: requestId.value.trim() || undefined,
    };
  }

  function showDetails(stored) {
    const e = stored.event;
    const byRequest = e.request_id
      ? button('All events of this request', () => { form.reset(); requestId.value = e.request_id; page = 0; cursors = [undefined]; load(); },
        { 'data-action': 'same-request' })
      : null;
    clear(details).append(h('h2', { id: 'audit-detail-title', tabindex: '-1' }, `Event details (seq ${stored.seq})`),
      h('dl', { class: 'facts-list', 'data-detail': 'facts' }, [
        ['seq', stored.seq], ['event id', e.event_id], ['type', e.event_type], ['time', e.timestamp],
        ['user', `${names.get(e.user_id) || ''} ${e.user_id || ''}`.trim()], ['ip', e.ip_address || ''],
        ['user agent', e.user_agent || ''], ['action', e.action || ''], ['resource', e.resource || ''],
        ['outcome', e.success ? 'success' : 'failure'], ['duration', e.duration_ms != null ? `${e.duration_ms} ms` : ''],
        ['error', e.error_message || ''], ['request id', e.request_id || ''], ['session id', e.session_id || ''],
        ['hash', stored.hash], ['previous hash', stored.prev_hash],
      ].flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))])),
      byRequest,
      h('h3', {}, 'Details'), h('pre', { class: 'output', 'data-detail': 'details', tabindex: '0' }, pretty(e.details)));
    details.querySelector('h2').focus();
  }

  async function showSeq(seq) {
    try {
      const [stored] = await api('GET', '/api/v1/audit', { query: { before_seq: seq + 1, limit: 1 } });
      if (stored && stored.seq === seq) showDetails(stored);
      else clear(details).append(h('h2', { id: 'audit-detail-title' }, 'Event details'), h('p', { class: 'error' }, `No readable event at seq ${seq}.`));
    } catch (err) {
      clear(details).append(h('h2', { id: 'audit-detail-title' }, 'Event details'), errorBox(err));
    }
  }

  function draw(fresh = new Set()) {
    const rows = events.map((s) => {
      const e = s.event;
      // A failed log-in names no user (the name was the caller's choice); show what was tried.
      const tried = !e.user_id && e.details && typeof e.details.username === 'string'
        ? `tried: ${e.details.username}` : '';
      return [String(s.seq), when(e.timestamp), e.event_type, names.get(e.user_id) || e.user_id || tried,
        [e.action, e.resource].filter(Boolean).join(' '),
        h('span', { class: `outcome ${e.success ? 'passed' : 'failed'}` }, e.success ? 'success' : 'failure'),
        e.request_id || '',
        button('Details', () => showDetails(s), { 'aria-label': `Details of event ${s.seq}` })];
    });
    clear(listing).append(table(`Audit events, newest first (page ${page + 1})`,
      ['Seq', 'Time', 'Type', 'User', 'Action', 'Outcome', 'Request id', ''], rows,
      { rowAttrs: (i) => ({ class: fresh.has(events[i].seq) ? 'fresh' : null, 'data-event-type': events[i].event.event_type, 'data-seq': events[i].seq }) }));
    clear(pager).append(
      button('Newer', () => { page -= 1; load(); }, { disabled: page === 0, 'data-action': 'newer' }),
      h('span', {}, `Page ${page + 1}`),
      button('Older', () => {
        // Pin the page being left, so that Newer comes back to exactly it; Apply shows the newest.
        if (cursors[page] === undefined) cursors[page] = events[0].seq + 1;
        cursors[page + 1] = events[events.length - 1].seq;
        page += 1;
        load();
      },
        { disabled: events.length < Number(size.value), 'data-action': 'older' }));
  }

  async function load() {
    const query = { ...filters(), before_seq: cursors[page], limit: size.value };
    try {
      events = await api('GET', '/api/v1/audit', { query });
      draw();
      announce(`${events.length} event(s)`);
    } catch (err) {
      clear(listing).append(errorBox(err));
    }
  }

  // The tail asks only for events after the newest one shown (their seq is larger).
  async function poll() {
    if (page !== 0 || !tail.checked) return;
    const newest = events.length ? events[0].seq : 0;
    try {
      const added = await api('GET', '/api/v1/audit', { query: { ...filters(), after_seq: newest, limit: 200 } });
      if (added.length) {
        events = [...added, ...events].slice(0, 500);
        draw(new Set(added.map((s) => s.seq)));
      }
    } catch (err) {
      tail.checked = false;
      clearInterval(timer);
      clear(listing).prepend(errorBox(err));
    }
  }

  form.addEventListener('submit', (ev) => { ev.preventDefault(); page = 0; cursors = [undefined]; load(); });
  tail.addEventListener('change', () => {
    clearInterval(timer);
    if (tail.checked) { page = 0; cursors = [undefined]; load(); timer = setInterval(poll, TAIL_MS); }
  });
  root.append(typeList, form, pager, listing, h('div', { class: 'two' }, details, verifyCard(showSeq)));
  load();
  return () => clearInterval(timer);
}
