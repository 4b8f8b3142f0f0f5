// The signed-in session: the access token, kept in sessionStorage (this tab only, gone when
// it closes), never in localStorage, a cookie or a URL.
//
// How a token is obtained is one "sign-in method" object; today `passwordSignIn` (POST
// /auth/token). The OAuth authorization-code flow with PKCE will be another method with the
// same shape ({ id, start(form) -> Promise<token response> }), so switching is a change here.

const KEY = 'mcp-console-session';

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

/** Stores a token response ({access_token, expires_in}). */
export function remember(response) {
  const seconds = Number(response.expires_in) || 0;
  sessionStorage.setItem(KEY, JSON.stringify({
    token: String(response.access_token),
    expiresAt: Date.now() + seconds * 1000,
  }));
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

/** The method the sign-in form uses. */
export const signInMethod = passwordSignIn;

/** Signs in with `signInMethod` and remembers the token. */
export async function signIn(form) {
  const response = await signInMethod.start(form);
  remember(response);
}

/** Revokes the token on the server (POST /auth/revoke), then forgets it. */
export async function signOut() {
  const token = currentToken();
  forget();
  if (!token) return;
  try {
    await fetch('/auth/revoke', {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    // The token is forgotten here anyway; it expires on its own.
  }
}
