// Calls to the server's REST API with the session's token. Errors carry the server's own
// message (the JSON error shape {"error": {"code", "message", "request_id"}}).
import { forget, freshToken } from './session.js';

export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

let onSignedOut = () => {};

/** Called when the server says the token is no longer valid (expired, revoked). */
export function whenSignedOut(handler) {
  onSignedOut = handler;
}

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** `method path` with an optional JSON body and query; resolves to the parsed JSON answer. */
export async function api(method, path, { body, query, text = false } = {}) {
  const headers = {};
  const token = await freshToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, credentials: 'omit', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(withQuery(path, query), init);
  } catch (e) {
    throw new ApiError(0, 'network', `cannot reach the server: ${e.message}`, null);
  }
  const raw = await res.text();
  let data = null;
  if (!text) {
    try { data = raw ? JSON.parse(raw) : null; } catch { data = null; }
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    const error = new ApiError(
      res.status,
      err.code || `http_${res.status}`,
      err.message || `${res.status} ${res.statusText}`,
      err.request_id || res.headers.get('X-Request-Id'),
    );
    if (res.status === 401 && token) {
      forget();
      onSignedOut(error);
    }
    // /ready answers 503 with a useful body.
    error.body = data;
    throw error;
  }
  return text ? raw : data;
}
