// Calls to the cityeye API with the API key the user logged in with (kept in sessionStorage: gone with the tab).
const KEY = 'cityeye.key';

export function getKey() { return sessionStorage.getItem(KEY); }
export function setKey(key) { if (key) sessionStorage.setItem(KEY, key); else sessionStorage.removeItem(KEY); }

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// Called with the server's message on every 401 (a revoked or expired key): the shell stops the page's polling
// and returns to the login page, so a stale tab does not keep failing (and count against the failure limit).
let unauthorized = null;
export function onUnauthorized(handler) { unauthorized = handler; }
function failed(status, message) {
  if (status === 401 && unauthorized) unauthorized(message);
  return new ApiError(status, message);
}

function detailText(detail) {
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).slice(1).join('.')}: ${d.msg}`).join('; ');
  return JSON.stringify(detail);
}

function headers(extra = {}) {
  const h = { ...extra };
  const key = getKey();
  if (key) h['X-API-Key'] = key;
  return h;
}

async function check(response) {
  if (response.ok) return response;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.detail !== undefined) message = detailText(body.detail);
  } catch (_) { /* not JSON */ }
  throw failed(response.status, message);
}

// GET or POST JSON; `body` is sent as JSON. Resolves to the parsed JSON body.
export async function api(path, { method = 'GET', body, signal } = {}) {
  const init = { method, headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }), signal };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await check(await fetch(path, init));
  return response.status === 204 ? null : response.json();
}

// An image (or other file) the API protects with the key: fetched with the key, shown through an object URL.
export async function blobUrl(path) {
  const response = await check(await fetch(path, { headers: headers() }));
  return URL.createObjectURL(await response.blob());
}

// Upload with progress (fetch has no upload progress): XMLHttpRequest, the key in a header.
export function upload(path, formData, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    const key = getKey();
    if (key) xhr.setRequestHeader('X-API-Key', key);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) { onProgress(1); resolve(body); }
      else reject(failed(xhr.status, body && body.detail !== undefined ? detailText(body.detail) : xhr.statusText));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network error'));
    xhr.send(formData);
  });
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}
