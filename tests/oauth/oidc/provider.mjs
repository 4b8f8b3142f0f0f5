// A real OpenID provider (npm `oidc-provider`, OpenID certified) for the external-issuer tests of
// tests/oauth/test_external_idp.py. Usage: node provider.mjs RESOURCE SCOPE...
//
// - Listens on 127.0.0.1 on a free port; prints {"issuer": "http://127.0.0.1:PORT"} once ready.
// - Dynamic Client Registration is open; the development log-in and consent pages accept any
//   user name and password (the account id is the user name).
// - Access tokens for RESOURCE (RFC 8707) are JWTs (RS256) with `aud` = RESOURCE, the granted
//   SCOPEs and a `groups` claim: "dev" → ["mcp-dev"], "boss" → ["mcp-admin"], others → [].
// - Access tokens for OTHER_RESOURCE (another server) can be had too, with `aud` =
//   OTHER_RESOURCE: the tests show that the server refuses them.
// - A line "rotate" on stdin rotates the signing key (a new key signs; the old one stays
//   published); the provider answers {"rotated": "<new kid>"}. Clients and grants survive
//   (the memory adapter's storage is shared between provider instances).
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';
import readline from 'node:readline';

import Provider from 'oidc-provider';

const [resource, ...resourceScopes] = process.argv.slice(2);
if (!resource || resourceScopes.length === 0) {
  console.error('usage: node provider.mjs RESOURCE SCOPE...');
  process.exit(2);
}
const GROUPS = { dev: ['mcp-dev'], boss: ['mcp-admin'] };
const OTHER_RESOURCE = 'https://other.example/mcp';

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };
}

let keys = [newKey()];
let current;

function build(issuer) {
  const provider = new Provider(issuer, {
    jwks: { keys },
    scopes: ['openid', 'offline_access', ...resourceScopes],
    features: {
      devInteractions: { enabled: true },
      registration: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator) => {
          if (indicator !== resource && indicator !== OTHER_RESOURCE) {
            throw new Provider.errors.InvalidTarget();
          }
          return {
            scope: resourceScopes.join(' '),
            audience: indicator,
            accessTokenTTL: 300,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    pkce: { required: () => true },
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    extraTokenClaims: async (ctx, token) => ({ groups: GROUPS[token.accountId] ?? [] }),
    findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  });
  provider.proxy = false;
  // Errors go to stderr (the test prints this log when it fails).
  for (const event of ['server_error', 'authorization.error', 'grant.error', 'registration_create.error']) {
    provider.on(event, (ctx, err) => console.error(event, err?.error, err?.error_description, err?.stack ?? ''));
  }
  return provider;
}

const server = http.createServer((req, res) => current.callback()(req, res));
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  current = build(issuer);
  console.log(JSON.stringify({ issuer }));
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (line.trim() === 'rotate') {
      keys = [newKey(), ...keys];
      current = build(issuer);
      console.log(JSON.stringify({ rotated: keys[0].kid }));
    }
  });
  lines.on('close', () => process.exit(0));
});
