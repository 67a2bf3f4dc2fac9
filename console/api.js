// Every call the console makes: same origin, the token from this tab's session storage as a Bearer
// header, never in a URL.
const KEY = 'personify.console.token';

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

/** A failed call: `status` and the server's error message (which never echoes a request value). */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(path, { auth = true, accept = 'application/json', body } = {}) {
  const headers = { Accept: accept };
  if (auth) headers.Authorization = `Bearer ${token.get() || ''}`;
  const init = { headers, credentials: 'omit', cache: 'no-store' };
  if (body !== undefined) {
    init.method = 'POST';
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'the server could not be reached');
  }
  return res;
}

async function failure(res) {
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body?.error?.message) message = body.error.message;
  } catch {}
  return new ApiError(res.status, message);
}

/** GET a JSON route with the token. */
export async function get(path) {
  const res = await call(path);
  if (!res.ok) throw await failure(res);
  return res.json();
}

/** POST a JSON body with the token; resolves to the JSON answer. */
export async function post(path, body) {
  const res = await call(path, { body });
  if (!res.ok) throw await failure(res);
  return res.json();
}

/** GET a public JSON route (health); resolves to `{status, body}` whatever the status. */
export async function probe(path) {
  const res = await call(path, { auth: false });
  let body = null;
  try {
    body = await res.json();
  } catch {}
  return { status: res.status, body };
}

/** GET a route as text (exports, metrics). */
export async function text(path, accept) {
  const res = await call(path, { accept });
  if (!res.ok) throw await failure(res);
  return res.text();
}
