// The signed-in session: the access token (and, after an OAuth sign-in, its refresh token),
// kept in sessionStorage (this tab only, gone when it closes), never in localStorage, a cookie
// or a URL.
//
// Two ways in: the server's own OAuth authorization-code flow with PKCE (the console is the
// public client `console`) when the server runs its authorization server, else user name and
// password through POST /auth/token.

const KEY = 'mcp-console-session';
const PKCE_KEY = 'mcp-console-pkce';
const CLIENT_ID = 'console';
// An access token this close to its end is refreshed before use (OAuth sign-ins).
const REFRESH_MARGIN_MS = 60 * 1000;

function read() {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw);
    if (typeof s.token !== 'string' || typeof s.expiresAt !== 'number') return null;
    if (Date.now() >= s.expiresAt) {
      sessionStorage.removeItem(KEY);
      return null;
    }
    return s;
  } catch {
    return null;
  }
}

/** The current access token, or null when signed out or expired. */
export function currentToken() {
  const s = read();
  return s ? s.token : null;
}

/**
 * Stores a token response ({access_token, expires_in[, refresh_token]}). `oauth` is the
 * authorization server's metadata when the response came from its token endpoint.
 */
export function remember(response, oauth = null) {
  const seconds = Number(response.expires_in) || 0;
  const session = {
    token: String(response.access_token),
    expiresAt: Date.now() + seconds * 1000,
  };
  if (oauth && typeof response.refresh_token === 'string') {
    session.refreshToken = response.refresh_token;
    session.tokenEndpoint = oauth.token_endpoint;
    session.revocationEndpoint = oauth.revocation_endpoint || null;
  }
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

async function postForm(url, fields) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
    credentials: 'omit',
    cache: 'no-store',
  });
  const body = await res.json().catch(() => null);
  return { ok: res.ok, status: res.status, body };
}

/**
 * The access token to send now: an OAuth session's token close to its end is first renewed
 * with its refresh token (which rotates). Null when signed out.
 */
export async function freshToken() {
  const s = read();
  if (!s) return null;
  if (!s.refreshToken || s.expiresAt - Date.now() > REFRESH_MARGIN_MS) return s.token;
  const r = await postForm(s.tokenEndpoint, {
    grant_type: 'refresh_token', refresh_token: s.refreshToken, client_id: CLIENT_ID,
  }).catch(() => ({ ok: false }));
  if (!r.ok || !r.body || typeof r.body.access_token !== 'string') return s.token;
  remember(r.body, { token_endpoint: s.tokenEndpoint, revocation_endpoint: s.revocationEndpoint });
  return r.body.access_token;
}

function base64url(bytes) {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const randomText = (bytes) => base64url(crypto.getRandomValues(new Uint8Array(bytes)));

/**
 * The server's own authorization server (its RFC 8414 metadata), or null when it runs none,
 * or when this page cannot do PKCE (no Web Crypto outside a secure context): then the
 * console signs in with a password.
 */
export async function discoverOAuth() {
  try {
    const res = await fetch('/.well-known/oauth-authorization-server', { credentials: 'omit', cache: 'no-store' });
    if (!res.ok) return null;
    const meta = await res.json();
    const methods = meta.code_challenge_methods_supported || [];
    if (typeof meta.issuer !== 'string' || typeof meta.authorization_endpoint !== 'string'
      || typeof meta.token_endpoint !== 'string' || !methods.includes('S256')) return null;
    if (!(window.crypto && crypto.subtle)) return null;
    return meta;
  } catch {
    return null;
  }
}

const redirectUri = (meta) => `${meta.issuer}/console/`;

/**
 * Leaves for the authorization server's sign-in page (a navigation, not a fetch). The PKCE
 * verifier and the state stay in this tab's sessionStorage until the answer comes back.
 */
export async function startOAuth(meta) {
  if (new URL(meta.issuer).origin !== location.origin) {
    // The redirect URI is on the issuer's origin: start over there.
    location.assign(redirectUri(meta));
    return;
  }
  const verifier = randomText(32);
  const state = randomText(16);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state, hash: location.hash }));
  const url = new URL(meta.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: redirectUri(meta),
    code_challenge: base64url(new Uint8Array(digest)),
    code_challenge_method: 'S256',
    state,
    resource: meta.issuer,
  }).toString();
  location.assign(url.toString());
}

/**
 * On the way back from the authorization server: false when the address carries no answer;
 * else the code leaves the address bar at once, is checked against this tab's state and
 * exchanged (with the PKCE verifier) for tokens, and true is returned. Throws with a message
 * for the user when the answer is a refusal or does not belong to this tab.
 */
export async function finishOAuth(meta) {
  const params = new URLSearchParams(location.search);
  if (!params.has('code') && !params.has('error')) return false;
  let pending = null;
  try { pending = JSON.parse(sessionStorage.getItem(PKCE_KEY) || 'null'); } catch { pending = null; }
  sessionStorage.removeItem(PKCE_KEY);
  history.replaceState(null, '', location.pathname + ((pending && pending.hash) || ''));
  if (!pending || params.get('state') !== pending.state) {
    throw new Error('This sign-in answer was not asked for by this tab; please sign in again.');
  }
  if (params.has('iss') && params.get('iss') !== meta.issuer) {
    throw new Error('The sign-in answer came from another server; please sign in again.');
  }
  if (params.has('error')) {
    throw new Error(params.get('error') === 'access_denied'
      ? 'Sign-in cancelled.'
      : `Sign-in refused: ${params.get('error_description') || params.get('error')}`);
  }
  const r = await postForm(meta.token_endpoint, {
    grant_type: 'authorization_code',
    code: params.get('code'),
    redirect_uri: redirectUri(meta),
    client_id: CLIENT_ID,
    code_verifier: pending.verifier,
  });
  if (!r.ok || !r.body || typeof r.body.access_token !== 'string') {
    const why = r.body && (r.body.error_description || r.body.error);
    throw new Error(`Sign-in failed: ${why || `HTTP ${r.status}`}`);
  }
  remember(r.body, meta);
  return true;
}

/** Forgets the token locally (it may still be valid on the server: see signOut). */
export function forget() {
  sessionStorage.removeItem(KEY);
}

/** Sign-in with user name and password through POST /auth/token. */
export const passwordSignIn = {
  id: 'password',
  async start({ username, password }) {
    const res = await fetch('/auth/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, password }),
      credentials: 'omit',
      cache: 'no-store',
    });
    const body = await res.json().catch(() => null);
    if (!res.ok) {
      const message = body && body.error ? body.error.message : `HTTP ${res.status}`;
      const err = new Error(message);
      err.status = res.status;
      throw err;
    }
    return body;
  },
};

/** Signs in with user name and password and remembers the token. */
export async function signIn(form) {
  const response = await passwordSignIn.start(form);
  remember(response);
}

/**
 * Ends the session on the server, then forgets it: an OAuth sign-in revokes its grant at the
 * revocation endpoint (refresh and access tokens with it); a password sign-in revokes its
 * token through POST /auth/revoke.
 */
export async function signOut() {
  const s = read();
  forget();
  if (!s) return;
  try {
    if (s.refreshToken && s.revocationEndpoint) {
      await postForm(s.revocationEndpoint, { token: s.refreshToken, client_id: CLIENT_ID });
      await postForm(s.revocationEndpoint, { token: s.token, client_id: CLIENT_ID });
    } else {
      await fetch('/auth/revoke', {
        method: 'POST',
        headers: { Authorization: `Bearer ${s.token}` },
        credentials: 'omit',
        cache: 'no-store',
      });
    }
  } catch {
    // The token is forgotten here anyway; it expires on its own.
  }
}
