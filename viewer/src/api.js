// Talk to the twin API (same origin only): JSON fetches with a timeout, a health watchdog that
// reports the server going down and coming back, and an SSE stream that reconnects with backoff.

/** An HTTP answer that is not 2xx (status 0 when the server could not be reached). */
export class ApiError extends Error {
  constructor(path, status, message) {
    super(message);
    this.path = path;
    this.status = status;
  }
  /** True when the endpoint does not exist (yet) rather than failing. */
  get missing() {
    return this.status === 404 || this.status === 405 || this.status === 501;
  }
}

const base = new URLSearchParams(location.search).get("api") || "";

/** Return the absolute URL of an API path on this server. */
export function apiUrl(path, params) {
  const url = new URL(base + path, location.href);
  if (params) {
    for (const [k, v] of Object.entries(params)) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
    }
  }
  return url.toString();
}

/** Return (once) the response index.html's inline script already asked for (see startup.js), or null. */
function takePrefetched(method, url, signal) {
  const early = method === "GET" ? globalThis.__PREFETCH__?.get(url) : undefined;
  if (!early) return null;
  globalThis.__PREFETCH__.delete(url);
  // That request cannot be aborted any more, but the timeout still ends the wait for it.
  const timedOut = new Promise((_, reject) => {
    signal.addEventListener("abort", () => reject(new DOMException("timed out", "AbortError")));
  });
  return Promise.race([early, timedOut]);
}

/** Fetch JSON; throw ApiError with the server's message (FastAPI `detail`) on failure. */
export async function getJSON(path, params, { timeout = 15000, method = "GET", body, headers = {}, quiet = false } = {}) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeout);
  let res;
  try {
    const url = apiUrl(path, params);
    const binary = body instanceof Blob;
    res = await (takePrefetched(method, url, ctrl.signal) ?? fetch(url, {
      method,
      signal: ctrl.signal,
      headers: {
        Accept: "application/json",
        ...(body === undefined ? {} : { "Content-Type": binary ? body.type || "application/octet-stream" : "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : binary ? body : JSON.stringify(body),
    }));
  } catch (e) {
    throw new ApiError(path, 0, e.name === "AbortError" ? "timed out" : "server unreachable");
  } finally {
    clearTimeout(timer);
  }
  if (!res.ok) {
    let msg = `HTTP ${res.status}`;
    try {
      const j = await res.json();
      // The service's error shape: {error, detail: [{field, reason, type}], hint}.
      const d = j.detail ?? j.message ?? j.error;
      if (Array.isArray(d)) msg += `: ${d.map((x) => [x.field ?? x.loc?.join("."), x.reason ?? x.msg].filter(Boolean).join(" ")).join("; ")}`;
      else if (d) msg += `: ${typeof d === "string" ? d : JSON.stringify(d)}`;
      if (j.hint) msg += ` (${j.hint})`;
    } catch {
      /* the body was not JSON; the status says enough */
    }
    if (!quiet && (res.status === 401 || res.status === 403)) showAuthNotice(res.status);
    throw new ApiError(path, res.status, msg);
  }
  if (res.status === 204) return null;
  return res.json();
}

const NOTICE = {
  401: "Chưa đăng nhập hoặc phiên đã hết hạn: hãy mở lại liên kết đăng nhập được cấp. / "
    + "Not signed in, or the session has ended: open your sign-in link again.",
  403: "Tài khoản này không xem được mục này. / This account cannot see this part.",
};

/**
 * Show (once) a notice under the top bar saying the page needs a sign-in (401) or that this account
 * may not see something (403). Plain words for people; the server's wording stays in the console.
 */
export function showAuthNotice(status) {
  if (typeof document === "undefined" || !document.body) return;
  let el = document.getElementById("auth-notice");
  if (!el) {
    el = document.createElement("div");
    el.id = "auth-notice";
    el.className = "auth-notice";
    el.setAttribute("role", "alert");
    document.body.appendChild(el);
  }
  if (status === 401 || !el.textContent) el.textContent = NOTICE[status === 401 ? 401 : 403];
}

/** POST JSON (or a Blob, sent with its own type) and return the answer; `headers` e.g. If-Match. */
export function postJSON(path, body = {}, headers = {}) {
  return getJSON(path, undefined, { method: "POST", body, headers });
}

/**
 * Watch the server's health: poll GET /health every `every` ms; call onDown(err) once when it stops
 * answering and onUp() once when it answers again.
 */
export function watchHealth({ every = 5000, onDown, onUp }) {
  let up = true;
  let timer = null;
  let nextAt = Date.now() + every;
  const schedule = (ms) => {
    clearTimeout(timer);
    nextAt = Date.now() + ms;
    timer = setTimeout(tick, ms);
  };
  async function tick() {
    try {
      await getJSON("/health", undefined, { timeout: 4000 });
      if (!up) {
        up = true;
        onUp();
      }
    } catch (e) {
      if (up) {
        up = false;
        onDown(e);
      }
    }
    schedule(up ? every : Math.min(every, 2000));
  }
  schedule(every);
  return {
    get up() {
      return up;
    },
    /** When the next check runs (ms since the epoch): the page counts down to it. */
    get nextAt() {
      return nextAt;
    },
    /** Report a failed call seen elsewhere so the banner shows at once. */
    report(err) {
      if (up && err && err.status === 0) {
        up = false;
        onDown(err);
        schedule(1000);
      }
    },
  };
}

/**
 * Open GET /stream as Server-Sent Events and keep it open: EventSource retries on its own while the
 * server answers, but gives up after an HTTP error, so we reconnect ourselves with capped backoff.
 * `handlers` maps event types ("event", "alert", "camera", "report", "message") to callbacks that
 * receive the parsed JSON; onState(state, retryInSeconds) reports "open" | "connecting" | "down".
 * A new connection resumes after the last message id seen (`last_event_id`, as the Last-Event-ID a
 * browser sends on its own reconnects), so what was posted while the page was away still arrives, once
 * and in order; when the server no longer has it, it sends `reload` (handlers.reload, if given).
 */
export function openStream(params, handlers, onState) {
  let es = null;
  let attempt = 0;
  let retryTimer = null;
  let closed = false;
  let lastId = null;
  const types = Object.keys(handlers);

  function connect() {
    if (closed) return;
    onState("connecting", 0);
    es = new EventSource(apiUrl("/stream", lastId ? { ...params, last_event_id: lastId } : params));
    es.onopen = () => {
      attempt = 0;
      onState("open", 0);
    };
    for (const type of types) {
      es.addEventListener(type, (msg) => {
        if (msg.lastEventId) lastId = msg.lastEventId;
        let data;
        try {
          data = JSON.parse(msg.data);
        } catch {
          return; // keep-alive comments and non-JSON pings carry nothing to draw
        }
        handlers[type](data, msg);
      });
    }
    es.onerror = () => {
      // EventSource retries by itself only while the server answers; after an HTTP error or a proxy
      // cut it may give up silently, so we always close and reconnect on our own schedule.
      es.close();
      scheduleRetry();
    };
  }

  function scheduleRetry() {
    clearTimeout(retryTimer);
    const s = Math.min(30, 0.5 * 2 ** Math.min(attempt, 6));
    attempt += 1;
    onState("down", Math.ceil(s));
    retryTimer = setTimeout(connect, s * 1000);
  }

  connect();
  return {
    /** Drop the connection now and open a new one (after the server came back). */
    reconnect() {
      clearTimeout(retryTimer);
      if (es) es.close();
      attempt = 0;
      connect();
    },
    close() {
      closed = true;
      clearTimeout(retryTimer);
      if (es) es.close();
    },
  };
}
