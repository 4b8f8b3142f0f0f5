// Connected apps (every signed-in user, when the server runs its own authorization server):
// the MCP clients and other apps connected to one's own account, and Disconnect.
import { connectionsPanel } from './connections.js';
import { h } from './dom.js';

export function render(root) {
  root.append(
    h('p', { class: 'hint' }, 'Apps you allowed to use this server with your account (MCP clients, '
      + 'editors, …). Disconnecting one ends its access at once.'),
    ...connectionsPanel(root, '/api/v1/me/oauth/consents', 'your'),
  );
}
