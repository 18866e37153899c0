// The traits of a page without a kernel (the standalone HTML export): get/set/on/off/save_changes
// with "change:<name>" events, as anywidget's model has them. Data does not travel through it: the
// page's store reads the inlined attention directly (inline-data.js).

/** Deep equality of JSON-like values (Backbone's change detection compares by value). */
export function sameValue(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return Number.isNaN(a) && Number.isNaN(b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameValue(a[k], b[k]));
}

/**
 * @param {object} state  initial trait values (tokens, num_layers, layer, ..., revision)
 */
export function createLocalModel(state) {
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
