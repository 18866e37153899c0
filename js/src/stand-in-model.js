// An in-page stand-in for anywidget's model, for the standalone HTML export (no kernel).
//
// It holds the synced traits, fires "change:<name>" (and "change") on set like the real model,
// and answers the page's messages the way albert_widget/widget.py does:
//   {type: "request", revision, layers, kind?} -> msg:custom {type: "layers", revision, layers, dtype,
//        shape, kind?} with one DataView per layer (transport.reply_to_request; `kind` picks the
//        encoder / decoder / cross attention of a BART/T5 capture and is echoed)
//   a type listed in `handlers` (the standalone page: "thumbnails") -> what its handler returns
//   anything else (set_text: there is no model to run) -> msg:custom {type: "error", message}
// A request for another revision is ignored, as Python does. Replies arrive asynchronously.

/** Deep equality of JSON-like values (Backbone's change detection compares by value). */
export function sameValue(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return Number.isNaN(a) && Number.isNaN(b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameValue(a[k], b[k]));
}

export const STATIC_MESSAGE = "This is a static export: there is no model here to run on new text.";

/** The reply to a request, same shape as transport.reply_to_request; null for an old revision. */
export function replyHeader(content, revision, numLayers) {
  if (content.revision !== revision) return null;
  const layers = content.layers;
  if (!Array.isArray(layers) || layers.length === 0) throw new RangeError("a request must list the layers it wants, e.g. {'layers': [0]}");
  const out = [];
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0 || l >= numLayers) throw new RangeError(`requested layer ${JSON.stringify(l)} is not in 0..${numLayers - 1}`);
    if (!out.includes(l)) out.push(l);
  }
  return { type: "layers", revision, layers: out };
}

/**
 * @param {object} state  initial trait values (tokens, num_layers, layer, ..., revision)
 * @param {object} options
 * @param {{layers: (layers: number[]) => Promise<{dtype, shape, buffers}>, numLayers?}} [options.source]
 *   the (encoder) attention's layers
 * @param {Object<string, object>} [options.sources]  one such source per attention kind
 * @param {Object<string, (content, model) => Promise<{content, buffers}|null>>} [options.handlers]
 *   answers to other message types (null: no reply, like an old revision)
 * @param {Object<string, string>} [options.unavailable]  message type -> error text to reply
 * @param {(fn: () => void) => void} [options.defer]  how replies are scheduled (default setTimeout 0)
 */
export function createStandInModel(state, { source, sources, handlers: answer = {}, unavailable = {}, defer = (fn) => setTimeout(fn, 0) } = {}) {
  const byKind = sources || { encoder: source };
  if (!byKind.encoder || typeof byKind.encoder.layers !== "function") throw new TypeError("createStandInModel needs a source with layers()");
  const values = { ...state };
  const handlers = new Map(); // event -> [[fn, context]]
  let saves = 0;

  function emit(event, ...args) {
    const list = handlers.get(event);
    if (!list) return;
    for (const [fn, context] of [...list]) {
      try {
        fn.apply(context, args);
      } catch (err) {
        // one failing listener must not stop the others (Backbone does not isolate; the page is
        // better served by a logged error than a half-updated widget)
        globalThis.console?.error?.(err);
      }
    }
  }

  function reply(content, buffers = []) {
    defer(() => emit("msg:custom", content, buffers));
  }

  function replyError(message) {
    reply({ type: "error", message: String(message) });
  }

  const model = {
    get(name) {
      return values[name];
    },
    set(name, value) {
      if (name !== null && typeof name === "object") {
        for (const [k, v] of Object.entries(name)) model.set(k, v);
        return model;
      }
      const old = values[name];
      values[name] = value;
      if (!sameValue(old, value)) {
        emit(`change:${name}`, model, value);
        emit("change", model);
      }
      return model;
    },
    on(event, fn, context) {
      if (typeof fn !== "function") return model;
      for (const name of String(event).split(/\s+/).filter(Boolean)) {
        if (!handlers.has(name)) handlers.set(name, []);
        handlers.get(name).push([fn, context]);
      }
      return model;
    },
    off(event, fn, context) {
      const names = event ? String(event).split(/\s+/).filter(Boolean) : [...handlers.keys()];
      for (const name of names) {
        const list = handlers.get(name);
        if (!list) continue;
        const keep = list.filter(([f, c]) => (fn && f !== fn) || (context !== undefined && c !== context));
        if (keep.length) handlers.set(name, keep);
        else handlers.delete(name);
      }
      return model;
    },
    save_changes() {
      // No kernel to sync with: the state lives here. Counted for tests.
      saves += 1;
    },
    send(content) {
      const kind = content && typeof content === "object" ? content.type : undefined;
      if (kind !== "request" && Object.prototype.hasOwnProperty.call(answer, kind)) {
        Promise.resolve()
          .then(() => answer[kind](content, model))
          .then(
            (out) => out && reply(out.content, (out.buffers || []).map((b) => new DataView(b.buffer, b.byteOffset, b.byteLength))),
            (err) => replyError(`${err && err.name ? err.name : "Error"}: ${err && err.message ? err.message : err}`),
          );
        return;
      }
      if (kind !== "request") {
        if (kind === "set_text") replyError(STATIC_MESSAGE);
        else if (Object.prototype.hasOwnProperty.call(unavailable, kind)) replyError(unavailable[kind]);
        else replyError(`unknown message type ${JSON.stringify(kind)}`);
        return;
      }
      const asked = content.kind;
      const src = byKind[asked === undefined || asked === null ? "encoder" : asked];
      if (!src) {
        replyError(`ValueError: there is no ${JSON.stringify(asked)} attention; this page has ${Object.keys(byKind).join(", ")}`);
        return;
      }
      let header;
      try {
        const numLayers = Number.isInteger(src.numLayers) ? src.numLayers : values.num_layers | 0;
        header = replyHeader(content, values.revision, numLayers);
      } catch (err) {
        replyError(`${err.name}: ${err.message}`);
        return;
      }
      if (header === null) return;
      if (typeof asked === "string") header.kind = asked;
      src.layers(header.layers).then(
        ({ dtype, shape, buffers }) => {
          const views = buffers.map((b) => new DataView(b.buffer, b.byteOffset, b.byteLength));
          reply({ ...header, dtype, shape }, views);
        },
        (err) => replyError(`could not read layer data: ${err && err.message ? err.message : err}`),
      );
    },
    /** Listeners registered now (tests: cleanup must bring this back to 0). */
    listenerCount() {
      let n = 0;
      for (const list of handlers.values()) n += list.length;
      return n;
    },
    get saves() {
      return saves;
    },
  };
  return model;
}
