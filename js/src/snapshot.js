// @ts-check
// The saved snapshot: a notebook saved with widget state and reopened without the kernel that made
// the widget has its traits but nobody to answer its requests. The `_snapshot` trait (Python:
// albert_widget/snapshot.py) holds the layer that was on screen; when no kernel has answered anything
// SNAPSHOT_WAIT_MS after a request for exactly that layer, the page draws it from there and says so.

/** @typedef {import("./contract").Source} Source */
/** @typedef {import("./contract").Reply} Reply */

export const SNAPSHOT_WAIT_MS = 1500;

export const SNAPSHOT_NOTICE = "Saved snapshot: the layer on screen when the notebook was saved (no kernel answers). Run the notebook to explore the rest.";

/**
 * The snapshot's bytes as a DataView (a DataView, ArrayBuffer or typed array in the state).
 * @param {unknown} data
 * @returns {DataView | null}
 */
function asView(data) {
  if (data instanceof DataView) return data;
  if (data instanceof ArrayBuffer) return new DataView(data);
  if (ArrayBuffer.isView(data)) return new DataView(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

/**
 * The reply a `layers` request would get, from the snapshot; null when the snapshot does not hold
 * exactly what was asked (another revision, kind or layer, or some heads only).
 * @param {any} snap  the `_snapshot` trait
 * @param {Record<string, unknown>} params  the request's fields
 * @returns {Reply | null}
 */
export function snapshotReply(snap, params) {
  if (!snap || typeof snap !== "object" || params.heads) return null;
  const data = asView(snap.data);
  const layers = params.layers;
  if (!data || !Array.isArray(layers) || layers.length !== 1 || layers[0] !== snap.layer) return null;
  if (params.revision !== snap.revision || (params.kind || "encoder") !== (snap.kind || "encoder")) return null;
  const content = { id: null, type: "layers", revision: snap.revision, layers: [snap.layer], dtype: snap.dtype, shape: snap.shape, kind: snap.kind };
  if (typeof snap.scale === "number") Object.assign(content, { scales: [snap.scale] });
  return { content, buffers: [data] };
}

/**
 * `source` (the kernel), with the snapshot answering a request for its layer when no kernel has
 * answered anything within `wait` ms. `onSnapshot()` is called when it did.
 * @param {Source & { readonly replies: number }} source
 * @param {{ get: (name: string) => any }} model
 * @param {{ onSnapshot?: () => void, wait?: number }} [options]
 * @returns {Source}
 */
export function withSnapshot(source, model, { onSnapshot, wait = SNAPSHOT_WAIT_MS } = {}) {
  return {
    request(type, params = {}, options = {}) {
      const live = source.request(type, params, options);
      const saved = type === "layers" ? snapshotReply(model.get("_snapshot"), params) : null;
      if (!saved) return live;
      return new Promise((resolve, reject) => {
        let settled = false;
        const timer = setTimeout(() => {
          if (settled || source.replies > 0) return;
          settled = true;
          if (onSnapshot) onSnapshot();
          resolve(saved);
        }, wait);
        const settle = (/** @type {() => void} */ fn) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          fn();
        };
        live.then(
          (r) => settle(() => resolve(r)),
          (e) => settle(() => reject(e)),
        );
      });
    },
  };
}
