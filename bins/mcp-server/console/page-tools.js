// Tools: the code editor with execute, lint, test and generate, and their full results.
import { api } from './api.js';
import { announce, button, clear, errorBox, field, h, table, tabs } from './dom.js';
import { createEditor } from './editor.js';

const SAMPLES = {
  python: 'import sys\n\nname = sys.stdin.read().strip() or "world"\nprint(f"hello, {name}")\n',
  javascript: 'const lines = require("fs").readFileSync(0, "utf8").trim();\nconsole.log(`hello, ${lines || "world"}`);\n',
  bash: '#!/usr/bin/env bash\nread -r name || true\necho "hello, ${name:-world}"\n',
};

const LIMITS = [
  ['wall_time_ms', 'Wall time (ms)'],
  ['cpu_time_secs', 'CPU time (s)'],
  ['memory_bytes', 'Memory (bytes)'],
  ['max_processes', 'Processes'],
  ['max_output_bytes', 'Output (bytes)'],
];

function flag(label, on, kind = 'bad') {
  return h('span', { class: `badge ${on ? kind : 'off'}` }, `${label}: ${on ? 'yes' : 'no'}`);
}

function runResult(r) {
  const facts = h('div', { class: 'facts', 'data-result': 'execute' },
    h('span', { class: `badge ${r.success ? 'good' : 'bad'}` }, r.success ? 'succeeded' : 'failed'),
    h('span', { class: 'badge' }, `exit code: ${r.exit_code ?? '–'}`),
    r.signal != null ? h('span', { class: 'badge bad' }, `signal: ${r.signal}`) : null,
    h('span', { class: 'badge' }, `duration: ${r.duration_ms} ms`),
    flag('timed out', r.timed_out),
    flag('out of memory', r.oom_killed),
    flag('output truncated', r.truncated, 'warn'),
    r.peak_memory_bytes != null ? h('span', { class: 'badge' }, `peak memory: ${(r.peak_memory_bytes / 1048576).toFixed(1)} MiB`) : null);
  // What the limits hit most likely mean (e.g. memory, not time, ended a run that timed out).
  const notes = (r.notes || []).map((n) => h('p', { class: 'note', 'data-note': 'run' }, n));
  return [facts, ...notes,
    h('h3', {}, 'stdout'), h('pre', { class: 'output', 'data-stream': 'stdout', tabindex: '0' }, r.stdout),
    h('h3', {}, 'stderr'), h('pre', { class: 'output', 'data-stream': 'stderr', tabindex: '0' }, r.stderr)];
}

export function render(root, { can }) {
  const languageSelect = h('select', {},
    ['python', 'javascript', 'bash'].map((l) => h('option', { value: l }, l)));
  const editor = createEditor({ label: 'Code', language: 'python', value: SAMPLES.python, rows: 14 });
  languageSelect.addEventListener('change', () => {
    const lang = languageSelect.value;
    if (Object.values(SAMPLES).includes(editor.value) || !editor.value.trim()) editor.value = SAMPLES[lang];
    editor.setLanguage(lang);
    editor.markDiagnostics([]);
  });
  root.append(h('div', { class: 'row' }, field('Language', languageSelect)), editor.element);
  const panels = [];

  if (can('tools:execute')) {
    const stdin = h('textarea', { rows: '3', class: 'code', name: 'stdin' });
    const files = h('div', { class: 'files' });
    const addFile = () => {
      const name = h('input', { placeholder: 'data.txt' });
      const content = h('textarea', { rows: '3', class: 'code' });
      const row = h('fieldset', { class: 'file' }, h('legend', {}, 'File'),
        field('Name', name), field('Content', content));
      row.append(button('Remove file', () => row.remove()));
      files.append(row);
      name.focus();
    };
    const limitInputs = LIMITS.map(([key, label]) => [key, h('input', { type: 'number', min: '1', inputmode: 'numeric' }), label]);
    const out = h('div', { class: 'result', 'aria-live': 'polite' });
    const run = async () => {
      const limits = {};
      for (const [key, input] of limitInputs) if (input.value) limits[key] = Number(input.value);
      const fileMap = {};
      for (const row of files.querySelectorAll('fieldset')) {
        const [name, content] = row.querySelectorAll('input, textarea');
        if (name.value) fileMap[name.value] = content.value;
      }
      clear(out).append(h('p', {}, 'Running…'));
      try {
        const r = await api('POST', '/api/v1/execute', {
          body: { language: languageSelect.value, code: editor.value, stdin: stdin.value, files: fileMap, limits },
        });
        clear(out).append(...runResult(r));
        announce(`Run finished: exit code ${r.exit_code ?? 'none'}`);
      } catch (err) {
        clear(out).append(errorBox(err));
      }
    };
    panels.push({
      label: 'Run',
      panel: [
        field('Standard input', stdin),
        h('details', {}, h('summary', {}, 'Files'), files, button('Add file', addFile)),
        h('details', {}, h('summary', {}, 'Limits'),
          h('p', { class: 'hint' }, 'Empty fields use the server defaults; each is capped by the server maximum.'),
          h('div', { class: 'grid' }, limitInputs.map(([, input, label]) => field(label, input)))),
        button('Execute', run, { class: 'primary', 'data-action': 'execute' }),
        out,
      ],
    });
  }

  if (can('tools:lint')) {
    const out = h('div', { class: 'result', 'aria-live': 'polite' });
    const lint = async () => {
      clear(out).append(h('p', {}, 'Linting…'));
      try {
        const r = await api('POST', '/api/v1/lint', { body: { language: languageSelect.value, code: editor.value } });
        editor.markDiagnostics(r.diagnostics);
        const rows = r.diagnostics.map((d) => [
          button(`${d.line}:${d.column}`, () => editor.goTo(d.line, d.column), { 'aria-label': `Go to line ${d.line}, column ${d.column}` }),
          d.severity, d.code || '', d.message, d.source || '']);
        clear(out).append(
          h('div', { class: 'facts', 'data-result': 'lint' },
            h('span', { class: `badge ${r.ok ? 'good' : 'bad'}` }, r.ok ? 'no errors' : 'errors found'),
            h('span', { class: 'badge' }, `tools: ${r.tools.join(', ')}`),
            h('span', { class: 'badge' }, `${r.diagnostics.length} diagnostic(s)`)),
          table('Diagnostics', ['Line:col', 'Severity', 'Code', 'Message', 'Tool'], rows));
        announce(`${r.diagnostics.length} diagnostic(s)`);
      } catch (err) {
        clear(out).append(errorBox(err));
      }
    };
    panels.push({ label: 'Lint', panel: [button('Lint', lint, { class: 'primary', 'data-action': 'lint' }), out] });
  }

  if (can('tools:test')) {
    const tests = createEditor({
      label: 'Tests (pytest; the code above is the module below)',
      language: 'python',
      value: 'from solution import *\n\n\ndef test_example():\n    assert True\n',
      rows: 8,
    });
    const module = h('input', { value: 'solution' });
    const out = h('div', { class: 'result', 'aria-live': 'polite' });
    const runTests = async () => {
      clear(out).append(h('p', {}, 'Running tests…'));
      try {
        const r = await api('POST', '/api/v1/test', { body: { code: editor.value, tests: tests.value, module: module.value || undefined } });
        clear(out).append(
          h('div', { class: 'facts', 'data-result': 'test' },
            h('span', { class: 'badge good' }, `passed: ${r.passed}`),
            h('span', { class: `badge ${r.failed ? 'bad' : 'off'}` }, `failed: ${r.failed}`),
            h('span', { class: `badge ${r.errors ? 'bad' : 'off'}` }, `errors: ${r.errors}`),
            h('span', { class: 'badge' }, `skipped: ${r.skipped}`),
            h('span', { class: 'badge' }, `exit code: ${r.exit_code ?? '–'}`),
            h('span', { class: 'badge' }, `duration: ${r.duration_ms} ms`),
            flag('timed out', r.timed_out),
            flag('out of memory', r.oom_killed)),
          ...(r.notes || []).map((n) => h('p', { class: 'note', 'data-note': 'test' }, n)),
          table('Tests', ['Test', 'Outcome', 'Duration (ms)', 'Message'], r.tests.map((t) => [
            t.name, h('span', { class: `outcome ${t.outcome}` }, t.outcome),
            t.duration_ms == null ? '' : Number(t.duration_ms).toFixed(2),
            t.message ? h('pre', { class: 'output small' }, t.message) : ''])),
          h('details', {}, h('summary', {}, 'pytest output'), h('pre', { class: 'output' }, r.output)));
        announce(`${r.passed} passed, ${r.failed} failed`);
      } catch (err) {
        clear(out).append(errorBox(err));
      }
    };
    panels.push({
      label: 'Test',
      panel: [tests.element, field('Module name', module), button('Run tests', runTests, { class: 'primary', 'data-action': 'test' }), out],
      onShow: () => tests.mount(),
    });
  }

  if (can('tools:generate')) {
    const choose = h('select', {});
    const form = h('form', { class: 'params' });
    const out = h('div', { class: 'result', 'aria-live': 'polite' });
    let templates = [];
    const showParams = () => {
      clear(form);
      const t = templates.find((x) => x.name === choose.value);
      if (!t) return;
      form.append(h('p', {}, `${t.description} (${t.language})`));
      for (const p of t.parameters) {
        const input = h('input', {
          name: p.name,
          required: p.required,
          'data-kind': p.kind,
          value: Array.isArray(p.default) ? p.default.join(', ') : (p.default ?? ''),
        });
        const hint = `${p.description}${p.kind === 'identifier_list' ? ' (comma-separated)' : ''}${p.required ? ' · required' : ''}`;
        form.append(field(p.name, input, hint));
      }
      form.append(h('button', { type: 'submit', class: 'primary', 'data-action': 'generate' }, 'Generate'));
    };
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const parameters = {};
      for (const input of form.querySelectorAll('input')) {
        if (input.value === '') continue;
        parameters[input.name] = input.dataset.kind === 'identifier_list'
          ? input.value.split(',').map((s) => s.trim()).filter(Boolean)
          : input.value;
      }
      try {
        const r = await api('POST', '/api/v1/generate', { body: { template: choose.value, parameters } });
        clear(out).append(
          h('p', {}, `${r.file_name} (${r.language})`),
          h('pre', { class: 'output', 'data-result': 'generate' }, r.code),
          button('Open in the editor', () => {
            languageSelect.value = r.language;
            editor.setLanguage(r.language);
            editor.value = r.code;
            editor.focus();
          }));
      } catch (err) {
        clear(out).append(errorBox(err));
      }
    });
    choose.addEventListener('change', showParams);
    const loading = h('div', {});
    api('GET', '/api/v1/templates').then((list) => {
      templates = list;
      for (const t of list) choose.append(h('option', { value: t.name }, t.name));
      showParams();
    }).catch((err) => loading.append(errorBox(err)));
    panels.push({ label: 'Generate', panel: [loading, field('Template', choose), form, out] });
  }

  if (panels.length) root.append(tabs('Tool', panels));
  else root.append(h('p', {}, 'Your roles grant no tool.'));
  editor.mount();
  if (panels[0] && panels[0].onShow) panels[0].onShow();
}
