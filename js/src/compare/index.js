// CompareWidget's page: toolbar, the side-by-side / difference / head-matching views, requests to
// the kernel (js/src/compare/contract.d.ts). The views are the explorer's own matrix and head views
// (side by side) and the compare views (diff-view.js, match-view.js).

import "../styles.css";
import "./compare.css";
import { asBytes, decode } from "../codec.js";
import { setTrait } from "../controls.js";
import { clearChildren, h } from "../dom.js";
import { themeColours } from "../draw/colour.js";
import { isAbort, kernelSource } from "../protocol.js";
import { createHeadView } from "../views/head.js";
import { createMatrixView } from "../views/matrix.js";
import { createDiffView } from "./diff-view.js";
import { COMPARE_VIEWS, counterpart, SIDE_VIEWS, syncAllowed } from "./logic.js";
import { createMatchView } from "./match-view.js";

const SIDES = ["left", "right"];
const VIEW_LABELS = { side: "Side by side", difference: "Difference", match: "Head matching" };
const TRAITS = [
  "view",
  "side_view",
  "left_layer",
  "left_head",
  "right_layer",
  "right_head",
  "sync",
  "revision",
  "alignment",
  "left_label",
  "right_label",
  "error",
  "display_mode",
];

/** Int32Array of a little-endian int32 buffer. */
function int32s(data) {
  const bytes = asBytes(data);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int32Array(bytes.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt32(i * 4, true);
  return out;
}

/** A <select> of 0..count-1 whose change sets a trait. */
function indexSelect(doc, cls, side, label) {
  const select = h(doc, "select", { cls, dataset: { side }, attrs: { "aria-label": `${side} ${label}` } });
  return select;
}

function fillSelect(doc, select, count, value) {
  if (select.options.length !== count) {
    clearChildren(select);
    for (let k = 0; k < count; k++) select.appendChild(h(doc, "option", { text: String(k), attrs: { value: String(k) } }));
  }
  select.value = String(value);
}

/** Mount the compare page on `el`; returns the cleanup. */
export function mountCompare({ model, el, source }) {
  const doc = el.ownerDocument || document;
  const root = h(doc, "div", { cls: "aw-root aw-compare", attrs: { tabindex: "0", "aria-label": "Attention comparison" }, dataset: { drawn: 0 } });
  const viewButtons = COMPARE_VIEWS.map((v) =>
    h(doc, "button", { cls: "aw-view-btn aw-button", text: VIEW_LABELS[v], attrs: { type: "button" }, dataset: { view: v } }),
  );
  const sync = h(doc, "input", { cls: "aw-sync", attrs: { type: "checkbox", "aria-label": "sync layer and head" } });
  const syncLabel = h(doc, "label", { cls: "aw-sync-label" }, [sync, h(doc, "span", { text: " sync layer/head" })]);
  const sideView = h(
    doc,
    "select",
    { cls: "aw-side-view", attrs: { "aria-label": "side-by-side view" } },
    SIDE_VIEWS.map((v) => h(doc, "option", { text: v, attrs: { value: v } })),
  );
  const selects = {};
  const sideControls = SIDES.map((side) => {
    selects[side] = { layer: indexSelect(doc, "aw-layer", side, "layer"), head: indexSelect(doc, "aw-head", side, "head") };
    return h(doc, "span", { cls: `aw-compare-pick aw-compare-pick-${side}` }, [
      h(doc, "span", { text: `${side}: layer ` }),
      selects[side].layer,
      h(doc, "span", { text: " head " }),
      selects[side].head,
    ]);
  });
  const toolbar = h(doc, "div", { cls: "aw-toolbar aw-compare-toolbar" }, [
    h(doc, "div", { cls: "aw-views", attrs: { role: "group", "aria-label": "View" } }, viewButtons),
    sideView,
    syncLabel,
    ...sideControls,
  ]);
  const labels = SIDES.map((side) => h(doc, "div", { cls: `aw-compare-label aw-compare-label-${side}` }));
  const header = h(doc, "div", { cls: "aw-compare-labels" }, labels);
  const error = h(doc, "div", { cls: "aw-error", attrs: { role: "alert" } });
  const status = h(doc, "div", { cls: "aw-status", attrs: { role: "status" } });
  const area = h(doc, "div", { cls: "aw-view-area" });
  root.append(toolbar, header, error, status, area);
  el.appendChild(root);

  let disposed = false;
  let controller = null;
  let drawn = 0;
  let shown = null; // { key, views }: what the view area holds
  const cache = new Map(); // request key -> Promise of { content, buffers }, for the current revision
  let cacheRevision = -1;

  const get = (name) => model.get(name);
  const onDraw = () => {
    drawn += 1;
    root.dataset.drawn = String(drawn);
  };

  function ask(type, params, signal) {
    const revision = get("revision");
    if (revision !== cacheRevision) {
      cache.clear();
      cacheRevision = revision;
    }
    const key = JSON.stringify([type, params]);
    if (!cache.has(key)) {
      const promise = source.request(type, { ...params, revision }, { signal });
      cache.set(key, promise);
      promise.catch(() => cache.delete(key));
    }
    return cache.get(key);
  }

  /** The views of the area, made again only when what they are changes. */
  function viewsFor(key, make) {
    if (shown && shown.key === key) return shown.views;
    if (shown) for (const v of Object.values(shown.views)) v.destroy();
    clearChildren(area);
    const views = make();
    const box = h(
      doc,
      "div",
      { cls: `aw-compare-${key.split(":")[0]}` },
      Object.values(views).map((v) => v.el),
    );
    area.appendChild(box);
    shown = { key, views };
    return views;
  }

  function sideViews() {
    const kind = get("side_view");
    const units = { left: get("alignment").left_units || [], right: get("alignment").right_units || [] };
    const other = { left: "right", right: "left" };
    const views = {};
    for (const side of SIDES) {
      const map = (i) => counterpart(units[side], units[other[side]], i);
      if (kind === "head") {
        views[side] = createHeadView({
          doc,
          onDraw,
          onFocus: (f) => {
            const index = f ? map(f.index) : -1;
            views[other[side]].setFocus(index >= 0 ? { ...f, index } : null);
          },
        });
      } else {
        views[side] = createMatrixView({
          doc,
          onDraw,
          onHover: (cell) => {
            const i = cell ? map(cell.i) : -1;
            const j = cell ? map(cell.j) : -1;
            views[other[side]].highlight(i >= 0 && j >= 0 ? { i, j } : null);
          },
        });
      }
      views[side].el.classList.add(`aw-compare-side-${side}`);
      views[side].el.dataset.side = side;
    }
    return views;
  }

  async function drawSide(signal, theme) {
    const views = viewsFor(`side:${get("side_view")}:${get("revision")}`, sideViews);
    const replies = await Promise.all(SIDES.map((side) => ask("side", { side, layer: get(`${side}_layer`), head: get(`${side}_head`) }, signal)));
    SIDES.forEach((side, k) => {
      const { content, buffers } = replies[k];
      const n = content.shape[0];
      const series = { key: "head", label: `${side}: layer ${content.layer}, head ${content.head}`, heads: [0], colourIndex: content.head, reduced: null };
      views[side].update({
        tokens: get(`${side}_tokens`),
        special: get(`${side}_special`),
        segments: [],
        data: decode(content, buffers[0]),
        shape: [1, n, n],
        series: get("side_view") === "head" ? [series] : series, // the head view overlays a list
        threshold: 0,
        theme,
      });
    });
  }

  async function drawDifference(signal, theme) {
    const views = viewsFor(`difference:${get("revision")}`, () => ({ diff: createDiffView({ doc, onDraw }) }));
    const params = { left_layer: get("left_layer"), left_head: get("left_head"), right_layer: get("right_layer"), right_head: get("right_head") };
    const { content, buffers } = await ask("difference", params, signal);
    const meta = { dtype: "float32", shape: content.shape };
    const alignment = get("alignment");
    views.diff.update({
      slots: alignment.slots,
      delta: decode(meta, buffers[0]),
      left: decode(meta, buffers[1]),
      right: decode(meta, buffers[2]),
      title: `Δ = right (layer ${params.right_layer}, head ${params.right_head}) − left (layer ${params.left_layer}, head ${params.left_head})`,
      note: alignment.note,
      theme,
    });
  }

  async function drawMatch(signal) {
    const views = viewsFor(`match:${get("revision")}`, () => ({ match: createMatchView({ doc, onDraw }) }));
    const { content, buffers } = await ask("matching", {}, signal);
    views.match.update({
      leftShape: get("left_shape"),
      rightShape: get("right_shape"),
      leftBest: int32s(buffers[1]),
      rightBest: int32s(buffers[2]),
      leftValue: content.left_value,
      rightValue: content.right_value,
      sameHead: content.same_head,
      onPick: (side, cell) => {
        const other = side === "left" ? "right" : "left";
        if (get("sync") && (cell.layer !== cell.matchLayer || cell.head !== cell.matchHead)) model.set("sync", false);
        model.set(`${side}_layer`, cell.layer);
        model.set(`${side}_head`, cell.head);
        model.set(`${other}_layer`, cell.matchLayer);
        model.set(`${other}_head`, cell.matchHead);
        model.set("view", "difference");
        model.save_changes();
      },
    });
  }

  function syncControls() {
    const view = get("view");
    for (const b of viewButtons) b.classList.toggle("aw-on", b.dataset.view === view);
    sideView.value = get("side_view");
    sideView.hidden = view !== "side";
    const allowed = syncAllowed(get("left_shape"), get("right_shape"));
    sync.checked = Boolean(get("sync"));
    sync.disabled = !allowed;
    syncLabel.title = allowed ? "Layer and head move together on both sides" : "The sides have different layers or heads: chosen independently";
    for (const side of SIDES) {
      const [layers, heads] = get(`${side}_shape`);
      fillSelect(doc, selects[side].layer, layers, get(`${side}_layer`));
      fillSelect(doc, selects[side].head, heads, get(`${side}_head`));
    }
    SIDES.forEach((side, k) => {
      labels[k].textContent = `${side}: ${get(`${side}_label`)}`;
    });
    error.textContent = get("error") || "";
    error.hidden = !get("error");
    const mode = get("display_mode");
    root.classList.toggle("aw-mode-dark", mode === "dark");
    root.classList.toggle("aw-mode-light", mode === "light");
    Object.assign(root.dataset, {
      view,
      revision: String(get("revision")),
      sync: String(Boolean(get("sync"))),
      leftLayer: String(get("left_layer")),
      leftHead: String(get("left_head")),
      rightLayer: String(get("right_layer")),
      rightHead: String(get("right_head")),
      level: get("alignment").level || "",
    });
  }

  async function draw() {
    if (disposed) return;
    syncControls();
    if (controller) controller.abort();
    controller = new AbortController();
    const { signal } = controller;
    const theme = themeColours(root);
    const view = get("view");
    root.dataset.state = "loading";
    try {
      if (view === "side") await drawSide(signal, theme);
      else if (view === "difference") await drawDifference(signal, theme);
      else await drawMatch(signal);
      if (signal.aborted) return;
      root.dataset.state = "ready";
      status.textContent = "";
    } catch (err) {
      if (isAbort(err) || signal.aborted) return;
      root.dataset.state = "failed";
      status.textContent = String(err && err.message ? err.message : err);
    }
  }

  const onChange = () => draw();
  for (const name of TRAITS) model.on(`change:${name}`, onChange);
  for (const b of viewButtons) b.addEventListener("click", () => setTrait(model, "view", b.dataset.view));
  sideView.addEventListener("change", () => setTrait(model, "side_view", sideView.value));
  sync.addEventListener("change", () => setTrait(model, "sync", sync.checked));
  for (const side of SIDES) {
    for (const what of ["layer", "head"]) {
      selects[side][what].addEventListener("change", (e) => setTrait(model, `${side}_${what}`, Number(e.target.value)));
    }
  }
  draw();

  return () => {
    disposed = true;
    if (controller) controller.abort();
    for (const name of TRAITS) model.off(`change:${name}`, onChange);
    if (shown) for (const v of Object.values(shown.views)) v.destroy();
    root.remove();
  };
}

function render({ model, el }) {
  const source = kernelSource(model);
  const cleanup = mountCompare({ model, el, source });
  return () => {
    cleanup();
    source.dispose();
  };
}

export default { render };
