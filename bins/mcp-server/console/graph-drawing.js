// An interactive drawing of node neighbourhoods in SVG: the first node in the middle, its
// neighbours around it; clicking a node (or Enter/Space on it) loads and adds its own
// neighbourhood. Labels are text nodes; every node is a focusable button.
import { h } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const RADIUS = 150;
const NODE_R = 22;

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = String(text);
  return el;
}

const idOf = (n) => `${n.label}\u0000${n.key}`;
const short = (s, max = 18) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/**
 * load(label, key) -> Promise<{node, neighbors, relationships}>; onSelect(node) shows details.
 * Returns {element, show(label, key), reset()}.
 */
export function createGraphDrawing({ load, onSelect, onError }) {
  const nodes = new Map(); // id -> {node, x, y, expanded, parent}
  const edges = new Map(); // from|type|to -> {from, type, to}
  const root = svg('svg', { class: 'graph-drawing', role: 'group', 'aria-label': 'Neighbourhood drawing' });
  const edgeLayer = svg('g');
  const nodeLayer = svg('g');
  root.append(edgeLayer, nodeLayer);
  const list = h('ul', { class: 'edge-list', 'aria-label': 'Relationships drawn' });
  const element = h('div', { class: 'graph-wrap' }, root, h('details', {}, h('summary', {}, 'Relationships as a list'), list));

  function place(center, fresh, parent) {
    // Spread new nodes on a circle around `center`, away from its parent when it has one.
    const away = parent ? Math.atan2(center.y - parent.y, center.x - parent.x) : -Math.PI / 2;
    const spread = parent ? Math.PI * 1.2 : Math.PI * 2;
    const radius = parent ? RADIUS * 0.9 : RADIUS;
    fresh.forEach((entry, i) => {
      const n = fresh.length;
      const angle = parent
        ? away - spread / 2 + (spread * (i + 0.5)) / n
        : away + Math.PI / 5 + (spread * i) / n;
      entry.x = center.x + radius * Math.cos(angle);
      entry.y = center.y + radius * Math.sin(angle);
    });
  }

  function merge(data, parentId) {
    const centerId = idOf(data.node);
    let center = nodes.get(centerId);
    if (!center) {
      center = { node: data.node, x: 0, y: 0, expanded: false };
      nodes.set(centerId, center);
    }
    center.node = data.node;
    center.expanded = true;
    const fresh = [];
    for (const n of data.neighbors) {
      const id = idOf(n);
      if (!nodes.has(id)) {
        const entry = { node: n, x: 0, y: 0, expanded: false };
        nodes.set(id, entry);
        fresh.push(entry);
      }
    }
    const parent = parentId ? nodes.get(parentId) : null;
    place(center, fresh, parent && parent !== center ? parent : null);
    for (const r of data.relationships) {
      edges.set(`${idOf(r.from)}|${r.type}|${idOf(r.to)}`, { from: idOf(r.from), type: r.type, to: idOf(r.to) });
    }
    render(centerId);
  }

  function render(focusId) {
    edgeLayer.replaceChildren();
    nodeLayer.replaceChildren();
    list.replaceChildren();
    for (const e of edges.values()) {
      const a = nodes.get(e.from);
      const b = nodes.get(e.to);
      if (!a || !b) continue;
      edgeLayer.append(svg('line', { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: 'edge', 'marker-end': 'url(#arrow)' }));
      edgeLayer.append(svg('text', { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 4, class: 'edge-label' }, e.type));
      list.append(h('li', {}, `${a.node.label}:${a.node.key} -[${e.type}]-> ${b.node.label}:${b.node.key}`));
    }
    let focusEl = null;
    for (const [id, entry] of nodes) {
      const { node } = entry;
      const g = svg('g', {
        class: `node${entry.expanded ? ' expanded' : ''}`,
        transform: `translate(${entry.x} ${entry.y})`,
        tabindex: 0,
        role: 'button',
        'aria-label': `${node.label} ${node.key}${entry.expanded ? ' (expanded)' : ', press Enter to expand'}`,
        'data-label': node.label,
        'data-key': node.key,
      });
      g.append(svg('title', {}, `${node.label}:${node.key}`));
      g.append(svg('circle', { r: NODE_R }));
      g.append(svg('text', { y: NODE_R + 14, class: 'node-key' }, short(node.key)));
      g.append(svg('text', { y: 4, class: 'node-label' }, short(node.label, 6)));
      const activate = () => { onSelect(node); if (!entry.expanded) expand(id); };
      g.addEventListener('click', activate);
      g.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); activate(); }
      });
      nodeLayer.append(g);
      if (id === focusId) focusEl = g;
    }
    fit();
    return focusEl;
  }

  function fit() {
    const xs = [...nodes.values()].map((n) => n.x);
    const ys = [...nodes.values()].map((n) => n.y);
    if (!xs.length) { root.setAttribute('viewBox', '-200 -150 400 300'); return; }
    const pad = NODE_R + 40;
    const minX = Math.min(...xs) - pad; const maxX = Math.max(...xs) + pad;
    const minY = Math.min(...ys) - pad; const maxY = Math.max(...ys) + pad;
    root.setAttribute('viewBox', `${minX} ${minY} ${Math.max(maxX - minX, 300)} ${Math.max(maxY - minY, 240)}`);
  }

  async function expand(id) {
    const entry = nodes.get(id);
    if (!entry) return;
    try {
      const data = await load(entry.node.label, entry.node.key);
      merge(data, id);
      const again = [...nodeLayer.children].find((g) => g.dataset.label === entry.node.label && g.dataset.key === entry.node.key);
      if (again) again.focus();
    } catch (err) {
      onError(err);
    }
  }

  const defs = svg('defs');
  const marker = svg('marker', {
    id: 'arrow', viewBox: '0 0 10 10', refX: String(10 + (NODE_R * 10) / 8), refY: '5',
    markerUnits: 'userSpaceOnUse', markerWidth: '8', markerHeight: '8', orient: 'auto',
  });
  marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow' }));
  defs.append(marker);
  root.prepend(defs);
  fit();

  return {
    element,
    async show(label, key) {
      nodes.clear();
      edges.clear();
      const data = await load(label, key);
      merge(data, null);
      onSelect(data.node);
    },
    get size() { return nodes.size; },
  };
}
