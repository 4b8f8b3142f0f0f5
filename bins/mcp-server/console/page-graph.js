// Graph: read-only Cypher with results as a table, forms to write and delete, and the
// neighbourhood drawing.
import { api } from './api.js';
import { announce, button, clear, errorBox, field, h, pretty, table } from './dom.js';
import { createGraphDrawing } from './graph-drawing.js';

function cell(value) {
  if (value && typeof value === 'object') {
    if (value.node) {
      const n = value.node;
      return h('span', { class: 'node-cell' }, `(${n.label}:${n.key}) `, h('code', {}, JSON.stringify(n.properties)));
    }
    if (value.relationship) {
      const r = value.relationship;
      return `(${r.from.label}:${r.from.key})-[${r.rel_type}]->(${r.to.label}:${r.to.key}) ${JSON.stringify(r.properties)}`;
    }
    if ('value' in value) return JSON.stringify(value.value);
  }
  return JSON.stringify(value);
}

function parseJson(text, what) {
  if (!text.trim()) return {};
  try {
    const v = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v;
  } catch {
    // fall through
  }
  const err = new Error(`${what} must be a JSON object`);
  throw err;
}

function queryCard() {
  const cypher = h('textarea', { rows: '4', class: 'code', spellcheck: 'false' });
  cypher.value = 'MATCH (n:Person) RETURN n LIMIT 25';
  const params = h('textarea', { rows: '2', class: 'code', spellcheck: 'false', placeholder: '{"name": "Ada"}' });
  const limit = h('input', { type: 'number', min: '1', max: '10000', value: '100' });
  const out = h('div', { class: 'result', 'aria-live': 'polite' });
  const run = async () => {
    try {
      const r = await api('POST', '/api/v1/graph/query', {
        body: { cypher: cypher.value, params: parseJson(params.value, 'Parameters'), limit: Number(limit.value) || undefined },
      });
      clear(out).append(
        h('p', { 'data-result': 'query' }, `${r.rows.length} row(s)${r.truncated ? ' (truncated: more rows matched)' : ''}`),
        table('Query results', r.columns, r.rows.map((row) => row.map(cell))));
      announce(`${r.rows.length} row(s)`);
    } catch (err) {
      clear(out).append(errorBox(err));
    }
  };
  cypher.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); run(); }
  });
  return h('section', { class: 'card', 'aria-labelledby': 'graph-query-title' },
    h('h2', { id: 'graph-query-title' }, 'Query'),
    field('Cypher (read-only)', cypher, 'Ctrl+Enter runs the query.'),
    h('div', { class: 'row' }, field('Parameters (JSON)', params), field('Row limit', limit)),
    button('Run query', run, { class: 'primary', 'data-action': 'query' }),
    out);
}

function writeForms(can, onChanged) {
  const section = h('section', { class: 'card', 'aria-labelledby': 'graph-write-title' }, h('h2', { id: 'graph-write-title' }, 'Write'));
  const out = h('div', { class: 'result', 'aria-live': 'polite' });
  const submit = (form, fn) => form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const r = await fn();
      clear(out).append(h('p', { class: 'ok' }, 'Done.'), h('pre', { class: 'output' }, pretty(r)));
      onChanged();
    } catch (err) {
      clear(out).append(errorBox(err));
    }
  });
  const nodeFields = () => {
    const label = h('input', { required: true, placeholder: 'Person' });
    const key = h('input', { required: true, placeholder: 'ada' });
    return { label, key };
  };
  if (can('graph:upsert')) {
    const n = nodeFields();
    const props = h('textarea', { rows: '2', class: 'code', placeholder: '{"name": "Ada"}' });
    const form = h('form', { 'aria-label': 'Create or update a node' }, h('h3', {}, 'Node'),
      h('div', { class: 'row' }, field('Label', n.label), field('Key', n.key)),
      field('Properties (JSON; null removes a key)', props),
      h('button', { type: 'submit', 'data-action': 'upsert-node' }, 'Save node'));
    submit(form, () => api('POST', '/api/v1/graph/nodes', { body: { label: n.label.value, key: n.key.value, properties: parseJson(props.value, 'Properties') } }));
    const a = nodeFields(); const b = nodeFields();
    const type = h('input', { required: true, placeholder: 'KNOWS' });
    const rprops = h('textarea', { rows: '2', class: 'code', placeholder: '{}' });
    const rel = h('form', { 'aria-label': 'Create or update a relationship' }, h('h3', {}, 'Relationship'),
      h('div', { class: 'row' }, field('From label', a.label), field('From key', a.key), field('Type', type), field('To label', b.label), field('To key', b.key)),
      field('Properties (JSON)', rprops),
      h('button', { type: 'submit', 'data-action': 'upsert-relationship' }, 'Save relationship'));
    submit(rel, () => api('POST', '/api/v1/graph/relationships', {
      body: { from: { label: a.label.value, key: a.key.value }, type: type.value, to: { label: b.label.value, key: b.key.value }, properties: parseJson(rprops.value, 'Properties') },
    }));
    section.append(form, rel);
  }
  if (can('graph:delete')) {
    const n = nodeFields();
    const form = h('form', { 'aria-label': 'Delete a node' }, h('h3', {}, 'Delete node'),
      h('div', { class: 'row' }, field('Label', n.label), field('Key', n.key)),
      h('button', { type: 'submit', class: 'danger', 'data-action': 'delete-node' }, 'Delete node and its relationships'));
    submit(form, () => api('DELETE', '/api/v1/graph/nodes', { query: { label: n.label.value, key: n.key.value } }));
    const a = nodeFields(); const b = nodeFields();
    const type = h('input', { required: true });
    const rel = h('form', { 'aria-label': 'Delete a relationship' }, h('h3', {}, 'Delete relationship'),
      h('div', { class: 'row' }, field('From label', a.label), field('From key', a.key), field('Type', type), field('To label', b.label), field('To key', b.key)),
      h('button', { type: 'submit', class: 'danger', 'data-action': 'delete-relationship' }, 'Delete relationship'));
    submit(rel, () => api('DELETE', '/api/v1/graph/relationships', {
      body: { from: { label: a.label.value, key: a.key.value }, type: type.value, to: { label: b.label.value, key: b.key.value } },
    }));
    section.append(form, rel);
  }
  if (section.children.length === 1) return null;
  section.append(out);
  return section;
}

function neighbourhoodCard() {
  const label = h('input', { required: true, placeholder: 'Person' });
  const key = h('input', { required: true, placeholder: 'ada' });
  const details = h('div', { class: 'node-details', 'aria-live': 'polite' });
  const errors = h('div', {});
  const drawing = createGraphDrawing({
    load: (l, k) => api('GET', '/api/v1/graph/neighborhood', { query: { label: l, key: k } }),
    onSelect: (node) => {
      clear(details).append(h('h3', {}, `${node.label}: ${node.key}`),
        table('Properties', ['Property', 'Value'], Object.entries(node.properties).map(([k, v]) => [k, JSON.stringify(v)])));
    },
    onError: (err) => clear(errors).append(errorBox(err)),
  });
  const form = h('form', { 'aria-label': 'Draw a neighbourhood' },
    h('div', { class: 'row' }, field('Label', label), field('Key', key)),
    h('button', { type: 'submit', class: 'primary', 'data-action': 'draw' }, 'Draw neighbourhood'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(errors);
    try {
      await drawing.show(label.value, key.value);
      announce(`Drew ${drawing.size} node(s); click or press Enter on a node to expand it`);
    } catch (err) {
      errors.append(errorBox(err));
    }
  });
  return h('section', { class: 'card', 'aria-labelledby': 'graph-draw-title' },
    h('h2', { id: 'graph-draw-title' }, 'Neighbourhood'),
    h('p', { class: 'hint' }, 'Click a node, or focus it and press Enter, to add its neighbours.'),
    form, errors, h('div', { class: 'draw-row' }, drawing.element, details));
}

export function render(root, { can }) {
  const stats = h('p', { class: 'stats' });
  const refresh = () => api('GET', '/api/v1/graph/stats').then((s) => {
    const labels = Object.entries(s.labels).map(([k, v]) => `${k} ${v}`).join(', ');
    stats.textContent = `${s.nodes} node(s), ${s.relationships} relationship(s)${labels ? ` · ${labels}` : ''}`;
  }).catch((err) => clear(stats).append(errorBox(err)));
  refresh();
  root.append(stats, queryCard(), neighbourhoodCard());
  const forms = writeForms(can, refresh);
  if (forms) root.append(forms);
}
