// DOM helpers. Every piece of data becomes text (textContent / attribute values set through
// setAttribute): nothing here ever parses a string as HTML.

/**
 * h('button', {type: 'button', class: 'x', on: {click: f}}, 'text', child, …)
 * Strings and numbers become text nodes; null/false children are skipped. Attributes named
 * on… are refused, so handlers can only be functions passed through `on`.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'on') {
      for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    } else if (name === 'text') {
      el.textContent = String(value);
    } else if (/^on/i.test(name)) {
      throw new Error(`event-handler attribute ${name} refused`);
    } else if (name === 'value' && 'value' in el) {
      el.value = String(value);
    } else if (name === 'checked' || name === 'selected' || name === 'disabled' || name === 'hidden') {
      el[name] = Boolean(value);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let ids = 0;
/** A unique id for label/control pairs. */
export function uid(prefix = 'f') {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled control: returns [wrapper, control]. */
export function field(label, control, hint) {
  if (!control.id) control.id = uid();
  const wrap = h('div', { class: 'field' }, h('label', { for: control.id }, label));
  wrap.append(control);
  if (hint) {
    const hintId = uid('hint');
    control.setAttribute('aria-describedby', hintId);
    wrap.append(h('small', { id: hintId, class: 'hint' }, hint));
  }
  return wrap;
}

/** An error box showing the server's message, status, code and request id. */
export function errorBox(err) {
  const parts = [err.message || String(err)];
  const meta = [];
  if (err.status) meta.push(`HTTP ${err.status}`);
  if (err.code) meta.push(err.code);
  if (err.requestId) meta.push(`request ${err.requestId}`);
  return h('div', { class: 'error', role: 'alert' },
    h('strong', {}, parts[0]),
    meta.length ? h('div', { class: 'meta' }, meta.join(' · ')) : null);
}

/** Replaces `target`'s content by the error of `fn` if it throws; returns fn's result. */
export async function guarded(target, fn) {
  try {
    return await fn();
  } catch (err) {
    clear(target).append(errorBox(err));
    return undefined;
  }
}

/** A table with a caption, column headers and rows of cells (strings or nodes). */
export function table(caption, columns, rows, { rowAttrs } = {}) {
  return h('table', {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.length
      ? rows.map((cells, i) => h('tr', rowAttrs ? rowAttrs(i) : {}, cells.map((c) => h('td', {}, c))))
      : h('tr', {}, h('td', { colspan: String(columns.length), class: 'empty' }, 'No rows.'))));
}

/** JSON as indented text (for <pre>). */
export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

/** A short local date-time for an RFC 3339 string. */
export function when(text) {
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? String(text) : d.toLocaleString();
}

/** Sets the live status line (announced by screen readers). */
export function announce(text) {
  const line = document.getElementById('status-line');
  if (line) line.textContent = text;
}

/** A button. */
export function button(label, onClick, attrs = {}) {
  return h('button', { type: 'button', ...attrs, on: { click: onClick } }, label);
}

/** A row of tabs (role=tablist) over panels; keyboard: arrows move between tabs. */
export function tabs(label, items) {
  const list = h('div', { role: 'tablist', 'aria-label': label, class: 'tabs' });
  const panels = h('div', {});
  const buttons = [];
  items.forEach((item, i) => {
    const tabId = uid('tab');
    const panelId = uid('panel');
    const tab = h('button', {
      type: 'button', role: 'tab', id: tabId, 'aria-controls': panelId,
      'aria-selected': i === 0 ? 'true' : 'false', tabindex: i === 0 ? '0' : '-1',
    }, item.label);
    const panel = h('div', { role: 'tabpanel', id: panelId, 'aria-labelledby': tabId, hidden: i !== 0 }, item.panel);
    tab.addEventListener('click', () => select(i));
    tab.addEventListener('keydown', (e) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (step) {
        e.preventDefault();
        const next = (i + step + items.length) % items.length;
        select(next);
        buttons[next].focus();
      }
    });
    buttons.push(tab);
    list.append(tab);
    panels.append(panel);
  });
  function select(index) {
    buttons.forEach((b, j) => {
      b.setAttribute('aria-selected', j === index ? 'true' : 'false');
      b.tabIndex = j === index ? 0 : -1;
      panels.children[j].hidden = j !== index;
      if (j === index && items[j].onShow) items[j].onShow();
    });
  }
  return h('div', { class: 'tabbed' }, list, panels);
}

/**
 * A modal dialog (the native <dialog>: focus stays inside, Escape cancels) with `body`, a
 * confirm and a cancel button. `onConfirm` runs on submit: if it throws, the server's message
 * shows inside the dialog and it stays open; else the dialog closes. Appended to `parent`.
 */
export function openDialog(parent, { title, body = [], confirm, danger = false, onConfirm }) {
  const titleId = uid('dialog');
  const problem = h('div', {});
  const ok = h('button', { type: 'submit', class: danger ? 'danger' : 'primary', 'data-action': 'dialog-confirm' }, confirm);
  const cancel = h('button', { type: 'button', 'data-action': 'dialog-cancel' }, 'Cancel');
  const form = h('form', {}, h('h2', { id: titleId }, title), body, problem, h('div', { class: 'row' }, ok, cancel));
  const dialog = h('dialog', { 'aria-labelledby': titleId, class: 'modal' }, form);
  cancel.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => dialog.remove());
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    ok.disabled = true;
    clear(problem);
    try {
      await onConfirm();
      dialog.close();
    } catch (err) {
      problem.append(errorBox(err));
    } finally {
      ok.disabled = false;
    }
  });
  parent.append(dialog);
  dialog.showModal();
  return dialog;
}
