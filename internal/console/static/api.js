// The console's client of sessiond's public management API. It holds the
// operator's API key and turns every failure into an ApiError whose message
// a person can read: the console never shows raw JSON.

// The key lives in sessionStorage: it survives a reload of the tab but not
// the tab itself, is never sent in a URL, and no cookie carries it.
const KEY_STORAGE = "sessiond.apiKey";

export function getKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function setKey(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function clearKey() {
  sessionStorage.removeItem(KEY_STORAGE);
}

// ApiError is a failed call: status is the HTTP status (0 for a network
// error), details lists extra lines (a 422's field messages).
export class ApiError extends Error {
  constructor(status, message, details = []) {
    super(message);
    this.status = status;
    this.details = details;
  }
}

// request calls the API and returns {body, headers} for a 2xx answer, or
// throws an ApiError. action says what was attempted ("list sessions",
// "revoke sessions"), for the 403 message; notFound says what a 404 means
// for this call.
export async function request(method, path, { action = "do this", notFound = "Not found", query } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  let res;
  try {
    res = await fetch(url, {
      method,
      headers: { "X-API-KEY": getKey() ?? "", Accept: "application/json" },
      // Same origin only, and no cookies: the key header is the only credential.
      credentials: "omit",
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, `Could not reach sessiond (${err.message}). Check the connection and try again.`);
  }
  if (res.ok) {
    const body = res.status === 204 ? null : await res.json().catch(() => null);
    return { body, headers: res.headers };
  }
  throw await problemError(res, action, notFound);
}

// problemError reads a problem details answer (RFC 9457) and phrases it.
// A body that is not problem JSON (a proxy's HTML page, say) is ignored.
async function problemError(res, action, notFound) {
  let p = {};
  if ((res.headers.get("Content-Type") ?? "").includes("json")) {
    p = await res.json().catch(() => ({}));
    if (typeof p !== "object" || p === null) p = {};
  }
  const status = res.status;
  const detail = typeof p.detail === "string" && p.detail ? ` ${sentence(p.detail)}` : "";
  switch (status) {
    case 401:
      return new ApiError(status, `The API key was not accepted (401): it is missing, unknown or revoked.${detail} Sign in with a valid key.`);
    case 403:
      return new ApiError(status, `This API key may not ${action} (403).${detail}`);
    case 404:
      return new ApiError(status, `${notFound} (404).${detail}`);
    case 422: {
      const details = [];
      for (const [field, msgs] of Object.entries(p.errors ?? {})) {
        for (const m of [].concat(msgs)) details.push(`${field}: ${m}`);
      }
      return new ApiError(status, `Some values were not accepted (422).${details.length ? "" : detail}`, details);
    }
    case 429: {
      const after = res.headers.get("Retry-After");
      const wait = after ? ` Try again in ${after} seconds.` : " Try again in a moment.";
      return new ApiError(status, `Too many requests (429).${wait}`);
    }
    case 503:
      return new ApiError(status, `sessiond cannot reach its session store right now (503); nothing was changed. Try again shortly.`);
    default: {
      const title = typeof p.title === "string" && p.title ? p.title : res.statusText || "Request failed";
      return new ApiError(status, `${title} (${status}).${detail}`);
    }
  }
}

// sentence capitalises a detail and ends it with a full stop, so it reads
// as part of the message around it.
function sentence(s) {
  s = s.trim();
  s = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(s) ? s : s + ".";
}

// userPath is the API path of a user's sessions (or one session); ids are
// encoded because user ids may hold characters such as "|" and "+".
export function userPath(userId, sessionId) {
  let p = `/api/users/${encodeURIComponent(userId)}/sessions`;
  if (sessionId) p += `/${encodeURIComponent(sessionId)}`;
  return p;
}

// pagination parses the X-Pagination header; null if absent or malformed.
export function pagination(headers) {
  try {
    const p = JSON.parse(headers.get("X-Pagination") ?? "null");
    return p && typeof p === "object" ? p : null;
  } catch {
    return null;
  }
}
