// The admin API client: same-origin fetches with the session cookie, the CSRF token on state-changing calls,
// JSON errors turned into ApiError with the server's message.

const BASE = "api/v1/";

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The browser session: role and CSRF token from POST/GET /api/v1/session. */
export const session = { role: null, csrf: null, open: false };

const listeners = new Set();

/** Called with the ApiError whenever a call answers 401 (the session expired or the token was revoked). */
export function onUnauthorized(fn) {
  listeners.add(fn);
}

async function call(method, path, { query, body, quiet401 = false } = {}) {
  const url = new URL(BASE + path, document.baseURI);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  let resp;
  try {
    resp = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, `the proxy's admin API did not answer (${err.message}); is palaryn-proxy running?`);
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const error = data && data.error ? data.error : {};
    const apiError = new ApiError(resp.status, error.message || `${method} ${path}: HTTP ${resp.status}`, error.code);
    if (resp.status === 401 && !quiet401) listeners.forEach((fn) => fn(apiError));
    throw apiError;
  }
  return data;
}

export const get = (path, query) => call("GET", path, { query });
export const post = (path, body) => call("POST", path, { body: body === undefined ? {} : body });

function remember(data) {
  session.role = data.role;
  session.csrf = data.csrf_token;
  session.open = Boolean(data.open);
  return data;
}

/** The live session, or null when the browser must log in. */
export async function currentSession() {
  try {
    return remember(await call("GET", "session", { quiet401: true }));
  } catch (err) {
    if (err.status === 401) return null;
    throw err;
  }
}

export async function login(token) {
  return remember(await call("POST", "session", { body: { token }, quiet401: true }));
}

export async function logout() {
  try {
    await call("DELETE", "session", { quiet401: true });
  } finally {
    session.role = null;
    session.csrf = null;
  }
}

export const canApprove = () => session.role === "approver";

/**
 * Follow the flow stream: `onFlow(record)` per finished flow; `onState("live"|"reconnecting")`.
 * Returns a function that closes the stream.
 */
export function streamFlows(onFlow, onState) {
  const source = new EventSource(new URL(BASE + "events/stream", document.baseURI), { withCredentials: true });
  source.addEventListener("open", () => onState && onState("live"));
  source.addEventListener("error", () => onState && onState("reconnecting"));
  source.addEventListener("flow", (event) => {
    let record;
    try {
      record = JSON.parse(event.data);
    } catch {
      return; // a malformed event is skipped, the stream goes on
    }
    onFlow(record);
  });
  return () => source.close();
}
