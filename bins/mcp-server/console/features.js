// What this server offers beyond the basics, read once per page load from its OpenAPI
// document: optional routes appear in the console only when the server has them.
import { api } from './api.js';

let doc = null;

function load() {
  if (!doc) doc = api('GET', '/api-docs/openapi.json').catch(() => ({ paths: {} }));
  return doc;
}

/** Whether the server documents `method path` (path as in the OpenAPI document). */
export async function offers(method, path) {
  const d = await load();
  const item = (d && d.paths && d.paths[path]) || null;
  return Boolean(item && item[method.toLowerCase()]);
}
