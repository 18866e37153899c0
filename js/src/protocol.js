// @ts-check
// One request, one reply: the page's side of the page–kernel contract (albert_widget/protocol.py,
// types in contract.d.ts). Every request carries an id; the kernel's reply echoes it, errors
// included; each request is a promise of its own that an AbortSignal can cancel.

/** @typedef {import("./contract").RequestType} RequestType */
/** @typedef {import("./contract").Reply} Reply */
/** @typedef {import("./contract").Source} Source */

/** A request the kernel (or the page's data) answered with an error. Only that request fails. */
export class RequestError extends Error {
  /**
   * @param {string} message
   * @param {{ type?: string, stale?: boolean }} [options]
   */
  constructor(message, { type = "", stale = false } = {}) {
    super(message);
    this.name = "RequestError";
    this.type = type;
    /** The input changed before the kernel ran it: nobody waits for it any more. */
    this.stale = stale;
  }
}

/** The error a cancelled request rejects with (DOMException "AbortError" where it exists). */
export function abortError() {
  if (typeof DOMException === "function") return new DOMException("the request was cancelled", "AbortError");
  const err = new Error("the request was cancelled");
  err.name = "AbortError";
  return err;
}

/** @param {unknown} err */
export function isAbort(err) {
  return Boolean(err && typeof err === "object" && /** @type {{name?: string}} */ (err).name === "AbortError");
}

/**
 * A page-unique prefix for request ids: replies reach every page showing the widget (two browser
 * tabs on one kernel), so the ids of one page must not be the ids of another.
 */
function pagePrefix() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID().slice(0, 8);
  return Math.floor(Math.random() * 2 ** 32).toString(16);
}

/**
 * Requests over a message channel. `send(content)` puts one message on the wire; feed every
 * incoming message to `receive(msg, buffers)`.
 * @param {(content: Record<string, unknown>) => void} send
 */
export function createRequester(send) {
  const prefix = pagePrefix();
  let next = 0;
  /** @type {Map<string, { resolve: (r: Reply) => void, reject: (e: unknown) => void, type: string, done: () => void }>} */
  const pending = new Map();

  /**
   * @param {RequestType} type
   * @param {Record<string, unknown>} [params]
   * @param {{ signal?: AbortSignal }} [options]
   * @returns {Promise<Reply>}
   */
  function request(type, params = {}, { signal } = {}) {
    if (signal && signal.aborted) return Promise.reject(abortError());
    next += 1;
    const id = `${prefix}:${next}`;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (!pending.delete(id)) return;
        reject(abortError());
        try {
          send({ type: "cancel", id });
        } catch {
          // a closed comm: there is nothing left to cancel
        }
      };
      const done = () => signal && signal.removeEventListener("abort", onAbort);
      pending.set(id, { resolve, reject, type, done });
      if (signal) signal.addEventListener("abort", onAbort, { once: true });
      try {
        send({ ...params, id, type });
      } catch (err) {
        pending.delete(id);
        done();
        reject(err);
      }
    });
  }

  /**
   * Settle the request a reply answers. True when the message was a reply (of this page or
   * another page on the same widget); false for anything else.
   * @param {unknown} msg
   * @param {DataView[] | undefined} buffers
   */
  function receive(msg, buffers) {
    if (!msg || typeof msg !== "object") return false;
    const m = /** @type {Record<string, unknown>} */ (msg);
    const rid = m.id;
    if (typeof rid !== "string" && rid !== null) return false;
    const entry = typeof rid === "string" ? pending.get(rid) : undefined;
    if (!entry || typeof rid !== "string") return true; // another page's reply, or one that was cancelled
    pending.delete(rid);
    entry.done();
    if (typeof m.error === "string") entry.reject(new RequestError(m.error, { type: String(m.type ?? entry.type), stale: m.stale === true }));
    else entry.resolve({ content: m, buffers: Array.isArray(buffers) ? buffers : [] });
    return true;
  }

  /** Reject every pending request (the widget is going away). */
  function cancelAll() {
    for (const [id, entry] of pending) {
      pending.delete(id);
      entry.done();
      entry.reject(abortError());
    }
  }

  return {
    request,
    receive,
    cancelAll,
    /** Requests sent and not settled. */
    get pending() {
      return pending.size;
    },
  };
}

/**
 * The kernel as a data source: requests go out with `model.send`, replies come back as
 * `msg:custom` messages. One per widget model (index.js's initialize).
 * @param {{ send: (content: any, callbacks?: any, buffers?: any) => void, on: (event: string, fn: (...args: any[]) => void) => void, off: (event: string, fn: (...args: any[]) => void) => void }} model
 * @returns {Source & { dispose(): void }}
 */
export function kernelSource(model) {
  const requester = createRequester((content) => model.send(content));
  /** @param {unknown} msg @param {DataView[]} buffers */
  const onMessage = (msg, buffers) => {
    requester.receive(msg, buffers);
  };
  model.on("msg:custom", onMessage);
  return {
    request: requester.request,
    dispose() {
      model.off("msg:custom", onMessage);
      requester.cancelAll();
    },
  };
}
