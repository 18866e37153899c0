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
 * base64 chunks -> one DataView (a reply's `b64` entry for one buffer).
 * @param {string[]} chunks
 */
export function fromBase64(chunks) {
  const parts = chunks.map((c) => {
    const text = atob(c);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
    return bytes;
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return new DataView(out.buffer);
}

/**
 * True when a reply says it was sent with more buffers than reached the page (a host that drops
 * binary buffers) and does not carry them as text either.
 * @param {Record<string, unknown>} m @param {unknown[]} buffers
 */
export function buffersDropped(m, buffers) {
  const expected = typeof m.buffers_expected === "number" ? m.buffers_expected : 0;
  return expected > buffers.length && !Array.isArray(m.b64);
}

/** The one line the page shows when it switched a widget to text-safe replies. */
export const TEXT_SAFE_NOTICE =
  "This page's host dropped the binary parts of the kernel's replies; attention now travels as base64 text (about a third larger).";

/**
 * Requests over a message channel. `send(content)` puts one message on the wire; feed every
 * incoming message to `receive(msg, buffers)`. When a reply arrives without its buffers (a host that
 * drops them), the request is sent again asking for `encoding: "base64"`, and so is every later
 * one; `onTextSafe()` is called once then.
 * @param {(content: Record<string, unknown>) => void} send
 * @param {{ onTextSafe?: () => void }} [options]
 */
export function createRequester(send, { onTextSafe } = {}) {
  const prefix = pagePrefix();
  let next = 0;
  let textSafe = false;
  let replies = 0; // replies received for this page's requests (0: no kernel has answered yet)
  /** @typedef {{ rid: string, resolve: (r: Reply) => void, reject: (e: unknown) => void, type: RequestType, params: Record<string, unknown>, done: () => void }} Pending */
  /** @type {Map<string, Pending>} */
  const pending = new Map();

  /** @param {Pending} entry */
  function transmit(entry) {
    next += 1;
    entry.rid = `${prefix}:${next}`;
    pending.set(entry.rid, entry);
    send({ ...entry.params, ...(textSafe ? { encoding: "base64" } : {}), id: entry.rid, type: entry.type });
  }

  /**
   * @param {RequestType} type
   * @param {Record<string, unknown>} [params]
   * @param {{ signal?: AbortSignal }} [options]
   * @returns {Promise<Reply>}
   */
  function request(type, params = {}, { signal } = {}) {
    if (signal && signal.aborted) return Promise.reject(abortError());
    return new Promise((resolve, reject) => {
      /** @type {Pending} */
      const entry = { rid: "", resolve, reject, type, params, done: () => {} };
      const onAbort = () => {
        if (!pending.delete(entry.rid)) return;
        reject(abortError());
        try {
          send({ type: "cancel", id: entry.rid });
        } catch {
          // a closed comm: there is nothing left to cancel
        }
      };
      entry.done = () => signal && signal.removeEventListener("abort", onAbort);
      if (signal) signal.addEventListener("abort", onAbort, { once: true });
      try {
        transmit(entry);
      } catch (err) {
        pending.delete(entry.rid);
        entry.done();
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
    replies += 1;
    if (typeof m.error === "string") {
      entry.done();
      entry.reject(new RequestError(m.error, { type: String(m.type ?? entry.type), stale: m.stale === true }));
      return true;
    }
    const got = Array.isArray(buffers) ? buffers : [];
    if (buffersDropped(m, got) && !textSafe) {
      // Once for this widget: every request from now on asks for its buffers as text.
      textSafe = true;
      if (onTextSafe) onTextSafe();
      try {
        transmit(entry);
      } catch (err) {
        entry.done();
        entry.reject(err);
      }
      return true;
    }
    entry.done();
    if (buffersDropped(m, got)) {
      entry.reject(new RequestError(`the reply to ${entry.type} arrived without its ${m.buffers_expected} buffer(s)`, { type: entry.type }));
    } else if (Array.isArray(m.b64)) {
      const { b64, ...content } = m;
      entry.resolve({ content, buffers: /** @type {string[][]} */ (b64).map(fromBase64) });
    } else {
      entry.resolve({ content: m, buffers: got });
    }
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
    /** Replies received so far. */
    get replies() {
      return replies;
    },
    /** True once replies come as base64 text (the host dropped a reply's buffers). */
    get textSafe() {
      return textSafe;
    },
  };
}

/**
 * The kernel as a data source: requests go out with `model.send`, replies come back as
 * `msg:custom` messages. One per widget model (index.js's initialize). `onTextSafe` hears once that
 * the host dropped a reply's buffers (replies come as base64 text from then on).
 * @param {{ send: (content: any, callbacks?: any, buffers?: any) => void, on: (event: string, fn: (...args: any[]) => void) => void, off: (event: string, fn: (...args: any[]) => void) => void }} model
 * @param {{ onTextSafe?: () => void }} [options]
 * @returns {Source & { dispose(): void, readonly replies: number }}
 */
export function kernelSource(model, { onTextSafe } = {}) {
  const requester = createRequester((content) => model.send(content), { onTextSafe });
  /** @param {unknown} msg @param {DataView[]} buffers */
  const onMessage = (msg, buffers) => {
    requester.receive(msg, buffers);
  };
  model.on("msg:custom", onMessage);
  return {
    request: requester.request,
    /** Replies the kernel sent to this page so far (0: no kernel has answered). */
    get replies() {
      return requester.replies;
    },
    dispose() {
      model.off("msg:custom", onMessage);
      requester.cancelAll();
    },
  };
}
