// Users and roles (system:admin): create, disable, enable, delete, reset a password, assign and
// remove roles, effective permissions, each user's connected apps (with the server's own
// authorization server), and the role hierarchy with each role's own and inherited permissions. Delete and password reset appear when the server's OpenAPI document
// has those routes.
import { api } from './api.js';
import { connectionsPanel } from './connections.js';
import { announce, append, button, clear, errorBox, field, h, openDialog, table, when } from './dom.js';
import { offers } from './features.js';

async function optionalRoutes() {
  const [remove, resetPassword] = await Promise.all([
    offers('DELETE', '/api/v1/users/{username}'),
    offers('POST', '/api/v1/users/{username}/password'),
  ]);
  return { remove, resetPassword };
}

function hierarchy(roles) {
  const byName = new Map(roles.map((r) => [r.name, r]));
  const inherited = new Set(roles.flatMap((r) => r.inherits));
  const node = (role, seen) => {
    const r = byName.get(role);
    const inherited = new Set(r ? r.inherits.flatMap((p) => (byName.get(p) || { permissions: [] }).permissions) : []);
    const own = r ? r.permissions.filter((p) => !inherited.has(p)) : [];
    const item = h('li', { 'data-role': role }, h('strong', {}, role),
      r && r.description ? ` – ${r.description}` : '',
      r ? h('div', { class: 'perms' },
        own.length ? own.map((p) => h('code', { class: 'chip' }, p)) : h('span', { class: 'hint' }, 'no permissions of its own'),
        inherited.size ? h('span', { class: 'hint' }, ` + ${inherited.size} inherited`) : null) : '');
    if (r && r.inherits.length && !seen.has(role)) {
      const next = new Set(seen).add(role);
      item.append(h('span', { class: 'hint' }, ' inherits:'), h('ul', {}, r.inherits.map((c) => node(c, next))));
    }
    return item;
  };
  const roots = roles.filter((r) => !inherited.has(r.name)).map((r) => r.name);
  return h('ul', { class: 'tree', 'data-result': 'roles' }, roots.map((r) => node(r, new Set())));
}

export function render(root, { oauth } = {}) {
  const out = h('div', { 'aria-live': 'polite' });
  const listing = h('div', {});
  const rolesBox = h('div', {});
  const permsBox = h('section', { class: 'card', 'aria-labelledby': 'perm-title' },
    h('h2', { id: 'perm-title' }, 'Effective permissions'), h('p', { class: 'hint' }, 'Choose “Permissions” on a user.'));
  const appsBox = h('section', { class: 'card', 'aria-labelledby': 'apps-title', hidden: !oauth },
    h('h2', { id: 'apps-title' }, 'Connected apps'), h('p', { class: 'hint' }, 'Choose “Connected apps” on a user.'));
  let roles = [];
  let extra = { remove: false, resetPassword: false };

  const act = async (fn, message) => {
    try {
      await fn();
      clear(out).append(h('p', { class: 'ok' }, message));
      announce(message);
      await load();
    } catch (err) {
      clear(out).append(errorBox(err));
    }
  };

  const showPermissions = (u) => {
    const perms = [...new Set(roles.filter((r) => u.roles.includes(r.name)).flatMap((r) => r.permissions))].sort();
    clear(permsBox).append(h('h2', { id: 'perm-title', tabindex: '-1' }, `Effective permissions of ${u.username}`),
      perms.length ? h('ul', { class: 'perms', 'data-result': 'permissions' }, perms.map((p) => h('li', {}, h('code', {}, p))))
        : h('p', {}, 'None: this user can sign in but not call any tool.'));
    permsBox.querySelector('h2').focus();
  };

  const path = (u) => `/api/v1/users/${encodeURIComponent(u.username)}`;

  const showConnections = (u) => {
    clear(appsBox).append(h('h2', { id: 'apps-title', tabindex: '-1' }, `Connected apps of ${u.username}`),
      ...connectionsPanel(root, `${path(u)}/oauth/consents`, `${u.username}'s`));
    appsBox.querySelector('h2').focus();
  };

  const done = async (message) => {
    clear(out).append(h('p', { class: 'ok' }, message));
    announce(message);
    await load();
  };

  const resetPassword = (u) => {
    const password = h('input', { type: 'password', required: true, minlength: '8', autocomplete: 'new-password', name: 'new-password' });
    openDialog(root, {
      title: `Reset the password of ${u.username}`,
      body: [field('New password', password, 'At least 8 characters. Every session of this user ends.')],
      confirm: 'Set password',
      onConfirm: async () => {
        await api('POST', `${path(u)}/password`, { body: { password: password.value } });
        await done(`password of ${u.username} reset; their sessions ended`);
      },
    });
  };

  const removeUser = (u) => openDialog(root, {
    title: `Delete ${u.username}?`,
    body: [h('p', {}, `The account ${u.username} is removed, its roles taken and every session ended. `
      + 'Its audit events stay. The name can be given to a new account later.')],
    confirm: `Delete ${u.username}`,
    danger: true,
    onConfirm: async () => {
      await api('DELETE', path(u));
      await done(`${u.username} deleted`);
    },
  });

  function userRow(u) {
    const add = h('select', { 'aria-label': `Role to give ${u.username}` },
      roles.filter((r) => !u.roles.includes(r.name)).map((r) => h('option', { value: r.name }, r.name)));
    const actions = h('div', { class: 'actions' },
      u.disabled
        ? button('Enable', () => act(() => api('POST', `${path(u)}/enable`), `${u.username} enabled`), { 'aria-label': `Enable ${u.username}` })
        : button('Disable', () => act(() => api('POST', `${path(u)}/disable`), `${u.username} disabled`), { 'aria-label': `Disable ${u.username}` }),
      add.options.length ? [add, button('Give role', () => act(() => api('POST', `${path(u)}/roles`, { body: { role: add.value } }), `${add.value} given to ${u.username}`), { 'aria-label': `Give the chosen role to ${u.username}` })] : null,
      button('Permissions', () => showPermissions(u), { 'aria-label': `Permissions of ${u.username}` }),
      oauth ? button('Connected apps', () => showConnections(u), { 'aria-label': `Connected apps of ${u.username}` }) : null,
      extra.resetPassword ? button('Reset password', () => resetPassword(u), { 'aria-label': `Reset the password of ${u.username}` }) : null,
      extra.remove ? button('Delete', () => removeUser(u), { class: 'danger', 'aria-label': `Delete ${u.username}` }) : null);
    const chips = h('span', {}, u.roles.map((r) => h('span', { class: 'chip' }, r,
      button('×', () => act(() => api('DELETE', `${path(u)}/roles/${encodeURIComponent(r)}`), `${r} removed from ${u.username}`),
        { class: 'chip-x', 'aria-label': `Remove role ${r} from ${u.username}` }))));
    return [h('span', { 'data-username': u.username }, u.username), u.disabled ? 'disabled' : 'active', chips, when(u.created_at), actions];
  }

  async function load() {
    try {
      const [users, roleList] = await Promise.all([api('GET', '/api/v1/users'), api('GET', '/api/v1/roles')]);
      roles = roleList;
      clear(listing).append(table('Users', ['User name', 'Status', 'Roles', 'Created', 'Actions'], users.map(userRow)));
      clear(rolesBox).append(hierarchy(roles));
      fillRoleChoices();
    } catch (err) {
      clear(listing).append(errorBox(err));
    }
  }

  const username = h('input', { required: true, autocomplete: 'off' });
  const password = h('input', { type: 'password', required: true, minlength: '8', autocomplete: 'new-password' });
  const roleChoices = h('fieldset', { class: 'inline-choices' }, h('legend', {}, 'Roles'));
  function fillRoleChoices() {
    const chosen = new Set([...roleChoices.querySelectorAll('input:checked')].map((i) => i.value));
    append(clear(roleChoices), [h('legend', {}, 'Roles'),
      roles.map((r) => h('label', { class: 'inline' }, h('input', { type: 'checkbox', value: r.name, checked: chosen.has(r.name) }), ` ${r.name}`))]);
  }
  const create = h('form', { 'aria-labelledby': 'create-title' },
    h('h2', { id: 'create-title' }, 'Create a user'),
    h('div', { class: 'row' }, field('User name', username), field('Password', password, 'At least 8 characters.')),
    roleChoices,
    h('button', { type: 'submit', class: 'primary', 'data-action': 'create-user' }, 'Create user'));
  create.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const chosen = [...roleChoices.querySelectorAll('input:checked')].map((i) => i.value);
    act(async () => {
      await api('POST', '/api/v1/users', { body: { username: username.value, password: password.value, roles: chosen } });
      username.value = '';
      password.value = '';
    }, `user ${username.value} created`);
  });

  root.append(out, listing,
    h('div', { class: 'two' }, h('section', { class: 'card' }, create), permsBox),
    appsBox,
    h('section', { class: 'card', 'aria-labelledby': 'roles-title' }, h('h2', { id: 'roles-title' }, 'Role hierarchy'),
      h('p', { class: 'hint' }, 'Each role has its own permissions and those of the roles it inherits.'), rolesBox));
  optionalRoutes().then((found) => { extra = found; load(); });
}
