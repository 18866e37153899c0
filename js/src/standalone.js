// Entry of the standalone HTML export (albert_widget/export/html.py): the widget's own render()
// driven by an in-page stand-in model whose replies come from the attention inlined in the page.
// The page imports this bundle from a Blob URL (a module file next to a file:// page is blocked)
// and calls boot().

import widget from "./index.js";
import { decode } from "./codec.js";
import { createStandInModel } from "./stand-in-model.js";
import { createInlineSource, thumbnailReply } from "./inline-data.js";

export const NEURON_UNAVAILABLE =
  "The neuron view needs the model itself (query and key vectors); this static page holds only the attention.";

/** JSON of a <script type="application/json" data-aw="name"> element under `scope`. */
export function readJson(scope, name) {
  const node = scope.querySelector(`script[data-aw="${name}"]`);
  if (!node) throw new Error(`the page has no "${name}" block`);
  return JSON.parse(node.textContent);
}

/**
 * Render the widget into `el` from the state and data inlined under `scope` (the page's wrapper;
 * several pages may share a document when embedded).
 * Returns (and sets as el.awStandalone) { model, render(), cleanup(), readLayer(l) }.
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
  const sources = {};
  for (const kind of Object.keys(meta.kinds || { encoder: true })) sources[kind] = createInlineSource(meta, layerText(kind), kind);
  const source = sources.encoder;
  const readLayer = async (l) => {
    const { dtype, shape, buffers } = await source.layers([l]);
    return decode({ dtype, shape }, buffers[0]);
  };
  const handlers = {
    // model view: thumbnails block-averaged here, from the inlined attention
    thumbnails: (content, m) =>
      content.revision !== m.get("revision")
        ? null
        : thumbnailReply(readLayer, content, {
          revision: m.get("revision"), numLayers: meta.shape[0], numHeads: meta.shape[1], numTokens: meta.shape[2],
        }),
  };
  const model = createStandInModel(state, { sources, handlers, unavailable: { neuron: NEURON_UNAVAILABLE } });
  let cleanup = null;
  const api = {
    model,
    meta,
    /** (Re)render: the previous rendering is cleaned up first. */
    render() {
      api.cleanup();
      cleanup = widget.render({ model, el });
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
