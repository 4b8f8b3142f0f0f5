// The console's shell: sign-in, the role-aware navigation and hash routing (#/tools, …).
import { api, whenSignedOut } from './api.js';
import { announce, clear, errorBox, field, h, openDialog } from './dom.js';
import { offers } from './features.js';
import { currentToken, discoverOAuth, finishOAuth, remember, signIn, signOut, startOAuth } from './session.js';
import * as tools from './page-tools.js';
import * as graph from './page-graph.js';
import * as audit from './page-audit.js';
import * as users from './page-users.js';
import * as status from './page-status.js';
import * as gateway from './page-gateway.js';
import * as connections from './page-connections.js';

const anyOf = (...perms) => (me) => perms.some((p) => me.permissions.includes(p));

// Each page and what it needs; the nav offers only pages the user's permissions allow. A page
// opened by its address anyway still renders, and the server's refusal is what it shows.
const PAGES = [
  { id: 'tools', title: 'Tools', page: tools, allowed: anyOf('tools:execute', 'tools:lint', 'tools:test', 'tools:generate') },
  { id: 'graph', title: 'Graph', page: graph, allowed: anyOf('graph:query') },
  { id: 'audit', title: 'Audit', page: audit, allowed: anyOf('system:admin') },
  { id: 'users', title: 'Users and roles', page: users, allowed: anyOf('system:admin') },
  { id: 'gateway', title: 'Gateway', page: gateway, allowed: () => gateway.allowed() },
  { id: 'status', title: 'Status', page: status, allowed: () => true },
  // Only with the server's own authorization server: the apps connected through it.
  { id: 'apps', title: 'Connected apps', page: connections, allowed: () => Boolean(oauth) },
];

const $ = (id) => document.getElementById(id);
let me = null;
let cleanup = null;
// The server's authorization server (metadata), when it runs one: then sign-in goes through it.
let oauth = null;

function showSignIn(message) {
  me = null;
  if (cleanup) { cleanup(); cleanup = null; }
  clear($('page'));
  $('nav').hidden = true;
  $('who').hidden = true;
  $('server-version').textContent = '';
  $('sign-in').hidden = false;
  $('sign-in-error').textContent = message || '';
  document.title = 'Sign in · MCP console';
  $('oauth-sign-in').hidden = !oauth;
  $('sign-in-form').hidden = Boolean(oauth);
  (oauth ? $('oauth-start') : $('username')).focus();
}

// Everything it waits for comes first: once the navigation shows, the caller's route() runs
// before any click on it, so a page opened from the navigation is not rendered a second time
// (with a fresh editor) by the sign-in that was still finishing.
async function loadMe() {
  const who = await api('GET', '/api/v1/me');
  await gateway.probe(who);
  const canChangePassword = await offers('POST', '/api/v1/me/password');
  me = who;
  $('who-name').textContent = `${me.username} (${me.roles.join(', ') || 'no role'})`;
  // Every signed-in user sees the build version (from /api/v1/me, not the admin status).
  $('server-version').textContent = me.server_version ? `mcp-server ${me.server_version}` : '';
  const nav = clear($('nav'));
  for (const p of PAGES.filter((page) => page.allowed(me))) {
    nav.append(h('a', { href: `#/${p.id}`, 'data-page': p.id }, p.title));
  }
  $('sign-in').hidden = true;
  $('nav').hidden = false;
  $('who').hidden = false;
  $('change-password').hidden = !canChangePassword;
}

// One's own password: the current one is checked like a sign-in; on success every session of
// the account ends and the answer carries the new token, which replaces the old one here.
function changePassword() {
  const current = h('input', { type: 'password', required: true, autocomplete: 'current-password', name: 'current-password' });
  const next = h('input', { type: 'password', required: true, minlength: '8', autocomplete: 'new-password', name: 'new-password' });
  const again = h('input', { type: 'password', required: true, minlength: '8', autocomplete: 'new-password', name: 'repeat-password' });
  openDialog($('main'), {
    title: 'Change your password',
    body: [field('Current password', current), field('New password', next, 'At least 8 characters.'), field('New password again', again)],
    confirm: 'Change password',
    onConfirm: async () => {
      if (next.value !== again.value) throw new Error('The two new passwords differ.');
      const response = await api('POST', '/api/v1/me/password', {
        body: { current_password: current.value, new_password: next.value },
      });
      remember(response);
      announce('Password changed; your other sessions ended');
    },
  });
}

function route() {
  if (!me) return;
  const wanted = (location.hash.match(/^#\/([a-z]+)/) || [])[1];
  const allowed = PAGES.filter((p) => p.allowed(me));
  const entry = PAGES.find((p) => p.id === wanted) || allowed[0] || PAGES[PAGES.length - 1];
  for (const a of $('nav').querySelectorAll('a')) {
    if (a.dataset.page === entry.id) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (cleanup) { cleanup(); cleanup = null; }
  const container = clear($('page'));
  const heading = h('h1', { tabindex: '-1' }, entry.title);
  container.append(heading);
  if (!entry.allowed(me)) {
    container.append(h('p', { class: 'note' },
      'Your roles do not offer this page; the server decides on each call below.'));
  }
  document.title = `${entry.title} · MCP console`;
  const ctx = { me, can: (perm) => me.permissions.includes(perm), oauth: Boolean(oauth) };
  try {
    cleanup = entry.page.render(container, ctx) || null;
  } catch (err) {
    container.append(errorBox(err));
  }
  heading.focus();
}

async function start() {
  $('sign-in-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = ev.target.querySelector('button');
    button.disabled = true;
    $('sign-in-error').textContent = '';
    try {
      await signIn({ username: $('username').value, password: $('password').value });
      $('password').value = '';
      await loadMe();
      announce(`Signed in as ${me.username}`);
      route();
    } catch (err) {
      $('sign-in-error').textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
  $('change-password').addEventListener('click', changePassword);
  $('sign-out').addEventListener('click', async () => {
    await signOut();
    announce('Signed out');
    showSignIn('Signed out.');
  });
  $('oauth-start').addEventListener('click', async () => {
    $('oauth-start').disabled = true;
    try {
      await startOAuth(oauth);
    } catch (err) {
      $('sign-in-error').textContent = err.message;
      $('oauth-start').disabled = false;
    }
  });
  whenSignedOut((err) => showSignIn(`Please sign in again: ${err.message}`));
  window.addEventListener('hashchange', route);
  oauth = await discoverOAuth();
  if (oauth) {
    try {
      if (await finishOAuth(oauth)) {
        await loadMe();
        announce(`Signed in as ${me.username}`);
        route();
        return;
      }
    } catch (err) {
      showSignIn(err.message);
      return;
    }
  }
  if (currentToken()) {
    try {
      await loadMe();
      route();
      return;
    } catch (err) {
      showSignIn(err.message);
      return;
    }
  }
  showSignIn();
}

start();
