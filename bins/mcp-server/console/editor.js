// The code editor: CodeMirror 5 (vendored) with Python, JavaScript and Bash highlighting,
// line numbers and a gutter for lint diagnostics. Tab moves the focus on (no keyboard trap);
// Ctrl-] and Ctrl-[ indent and outdent.
import { h, uid } from './dom.js';

const MODES = { python: 'python', javascript: 'javascript', bash: 'shell' };

export function createEditor({ label, language = 'python', value = '', rows = 12 }) {
  const id = uid('editor');
  const textarea = h('textarea', { id, rows: String(rows), spellcheck: 'false', class: 'code' });
  textarea.value = value;
  const wrap = h('div', { class: 'field editor' }, h('label', { for: id }, label), textarea);
  let cm = null;
  let marks = [];

  function mount() {
    if (cm || !window.CodeMirror || !wrap.isConnected) return;
    cm = window.CodeMirror.fromTextArea(textarea, {
      mode: MODES[language] || null,
      lineNumbers: true,
      indentUnit: 4,
      gutters: ['cm-diagnostics', 'CodeMirror-linenumbers'],
      screenReaderLabel: label,
      extraKeys: {
        Tab: false,
        'Shift-Tab': false,
        'Ctrl-]': 'indentMore',
        'Ctrl-[': 'indentLess',
      },
      viewportMargin: Infinity,
    });
    cm.getWrapperElement().classList.add(`rows-${rows > 8 ? 'tall' : 'short'}`);
  }

  return {
    element: wrap,
    /** Turns the textarea into CodeMirror; call once the element is in the document. */
    mount,
    get value() { return cm ? cm.getValue() : textarea.value; },
    set value(text) { if (cm) cm.setValue(text); else textarea.value = text; },
    setLanguage(lang) {
      language = lang;
      if (cm) cm.setOption('mode', MODES[lang] || null);
    },
    focus() { if (cm) cm.focus(); else textarea.focus(); },
    /** Marks each diagnostic's line ({line, column, message, severity}); [] clears. */
    markDiagnostics(diagnostics) {
      if (!cm) return;
      for (const line of marks) {
        cm.setGutterMarker(line, 'cm-diagnostics', null);
        cm.removeLineClass(line, 'background', 'cm-diag-line');
      }
      marks = [];
      for (const d of diagnostics) {
        const line = Math.max(0, Math.min(cm.lineCount() - 1, (Number(d.line) || 1) - 1));
        const marker = h('span', {
          class: `cm-diag-marker ${d.severity === 'warning' ? 'warn' : 'err'}`,
          title: `${d.code || ''} ${d.message}`.trim(),
        }, '●');
        cm.setGutterMarker(line, 'cm-diagnostics', marker);
        cm.addLineClass(line, 'background', 'cm-diag-line');
        marks.push(line);
      }
    },
    /** Puts the cursor at a diagnostic's position. */
    goTo(line, column) {
      if (!cm) return;
      cm.focus();
      cm.setCursor({ line: Math.max(0, line - 1), ch: Math.max(0, (column || 1) - 1) });
    },
  };
}
