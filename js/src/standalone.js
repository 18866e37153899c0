// Entry of the standalone HTML export (albert_widget/export/html.py): the widget's own mount() with
// the same data store as in a notebook, whose source is the attention inlined in the page instead
// of the kernel, and a local trait model. The page imports this bundle from a Blob URL (a module file
// next to a file:// page is blocked) and calls boot().

import { decode } from "./codec.js";
import { mount } from "./index.js";
import { createInlineSource, inlineSource } from "./inline-data.js";
import { createLocalModel } from "./local-model.js";
import { createStore } from "./store.js";

/** JSON of a <script type="application/json" data-aw="name"> element under `scope`. */
export function readJson(scope, name) {
  const node = scope.querySelector(`script[data-aw="${name}"]`);
  if (!node) throw new Error(`the page has no "${name}" block`);
  return JSON.parse(node.textContent);
}

/**
 * Render the widget into `el` from the state and data inlined under `scope` (the page's wrapper;
 * several pages may share a document when embedded).
 * Returns (and sets as el.awStandalone) { model, store, render(), cleanup(), readLayer(l) }.
 */
export function boot({ doc = document, el, scope = doc, css = "" } = {}) {
  if (!el) throw new TypeError("boot needs the element to render into");
  const state = readJson(scope, "state");
  const meta = readJson(scope, "data");
  if (css) {
    const style = doc.createElement("style");
    style.textContent = css;
    doc.head.appendChild(style);
  }
  // encoder layers are data-aw-layer="l", the other kinds (BART/T5) "decoder:l" / "cross:l"
  const layerText = (kind) => (l) => {
    const name = kind === "encoder" ? String(l) : `${kind}:${l}`;
    const node = scope.querySelector(`script[data-aw-layer="${name}"]`);
    if (!node) throw new Error(`${kind} layer ${l} is missing from the page`);
    return node.textContent;
  };
  const kinds = {};
  for (const kind of Object.keys(meta.kinds || { encoder: true })) kinds[kind] = createInlineSource(meta, layerText(kind), kind);
  const readLayer = async (l) => {
    const { dtype, shape, buffers } = await kinds.encoder.layers([l]);
    return decode({ dtype, shape }, buffers[0]);
  };
  const model = createLocalModel(state);
  const store = createStore(inlineSource(kinds, { numTokens: meta.shape[2], numHeads: meta.shape[1] }), { revision: state.revision });
  let cleanup = null;
  const api = {
    model,
    meta,
    store,
    /** (Re)render: the previous rendering is cleaned up first. */
    render() {
      api.cleanup();
      cleanup = mount({ model, el, store });
      return api;
    },
    cleanup() {
      if (cleanup) {
        const fn = cleanup;
        cleanup = null;
        fn();
      }
    },
    /** Layer l decoded as the widget decodes it (Float32Array [H, N, N]). */
    readLayer,
  };
  el.awStandalone = api;
  return api.render();
}
