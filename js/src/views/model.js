// Model view: every layer x head of the capture as a thumbnail grid (rows = layers, columns = heads).
// Thumbnails are block-averaged in Python and arrive as one uint8 buffer
// ({type: "thumbnails", revision, size, ...}); clicking one selects that layer and head and opens the
// detail view used last. ALBERT: brackets show the layers that run the same shared weights.
// Coloured by a statistic instead (the model_statistic trait: sink, entropy, previous token, self
// weight, mean distance; {type: "summaries"}), each layer x head is one cell of one colour on a
// shared scale with a legend, the exact value on hover; clicking a cell selects that layer and head.
// A compact capture (long inputs) has no thumbnails: it shows the statistics.

import "./model.css";
import { clearChildren, h, listenerSet } from "../dom.js";
import { clearCanvas, sizeCanvas } from "../draw/canvas.js";
import { colourise, lutIndex, viridisLut } from "../draw/colour.js";
import { MODEL_COLOURINGS } from "../names.js";
import { numbering } from "../numbering.js";
import { parseSummaries, STATISTIC_LABELS, statText } from "./long-math.js";
import { gridLayout, groupRuns, requestSize, resolutionCaption, sharesWeights, sharingCaption, thumbAt, thumbnailBytes, thumbOrigin } from "./model-layout.js";

const LABEL_WIDTH = 58;
const GROUP_WIDTH = 72;

/**
 * @param {{ doc?: Document, onDraw?: () => void, model, send?: (content) => void,
 *           requestDraw?: () => void, lastDetail?: () => string }} options
 * @returns {{ el, update(props): {state, text?}, handleMessage(msg, buffers): boolean, destroy() }}
 * props: { tokens, layer, head, numLayers, numHeads, revision, info, theme }
 */
export function createModelView({ doc = document, onDraw = () => {}, model = null, send = () => {}, requestDraw = () => {}, lastDetail = () => "head" } = {}) {
  const caption = h(doc, "div", { cls: "aw-model-caption" });
  const sharing = h(doc, "div", { cls: "aw-model-sharing" });
  const corner = h(doc, "div", { cls: "aw-model-corner", text: "head →" });
  const heads = h(doc, "div", { cls: "aw-model-heads", attrs: { "aria-hidden": "true" } });
  const groups = h(doc, "div", { cls: "aw-model-groups" });
  const layers = h(doc, "div", { cls: "aw-model-layers" });
  const canvas = h(doc, "canvas", { cls: "aw-model-canvas", attrs: { role: "img" } });
  const selected = h(doc, "div", { cls: "aw-model-selected" });
  // Says which thumbnail the pointer is on, in words, in a tag above it (no layout moves).
  const readout = h(doc, "span", { cls: "aw-model-readout", attrs: { "aria-live": "polite" } });
  const hover = h(doc, "div", { cls: "aw-model-hover" }, [readout]);
  hover.hidden = true;
  const plot = h(doc, "div", { cls: "aw-model-plot" }, [canvas, selected, hover]);
  const grid = h(doc, "div", { cls: "aw-model-grid" }, [h(doc, "div", { cls: "aw-model-groups-head" }), corner, heads, groups, layers, plot]);
  const colourBy = h(doc, "select", { cls: "aw-model-statistic", attrs: { "aria-label": "Colour the heads by" } });
  for (const name of MODEL_COLOURINGS) colourBy.appendChild(h(doc, "option", { text: STATISTIC_LABELS[name] || name, attrs: { value: name } }));
  const legendBar = h(doc, "canvas", { cls: "aw-model-legend-bar", attrs: { "aria-hidden": "true" } });
  const legendLo = h(doc, "span", { cls: "aw-model-legend-lo" });
  const legendHi = h(doc, "span", { cls: "aw-model-legend-hi" });
  const legend = h(doc, "div", { cls: "aw-model-legend" }, [legendLo, legendBar, legendHi]);
  legend.hidden = true;
  const colourRow = h(doc, "div", { cls: "aw-model-colour-by" }, [h(doc, "span", { cls: "aw-field-label", text: "Colour by" }), colourBy, legend]);
  const el = h(doc, "div", { cls: "aw-view-model" }, [colourRow, sharing, caption, grid]);
  const atlas = doc.createElement("canvas");
  el.hidden = true; // shown by the host once it has drawn

  let thumbs = null; // { revision, requested, size, n, downsampled, shape, bytes }
  let failure = "";
  let revision = null;
  let layout = null;
  let drawnKey = "";
  let labelsKey = "";
  let props = null;
  let names = numbering(null); // the model's own layer and head numbers (include_layers / include_heads)
  let shownFigure = null; // what figure() gives the SVG / PNG download
  let stats = null; // parsed summaries reply of the current revision
  let statFailure = "";
  let statistic = "thumbnails"; // what the grid is coloured by now

  function request(rev, size) {
    send({ type: "thumbnails", revision: rev, size });
  }

  function availableWidth(share) {
    const host = el.parentElement;
    const w = host ? host.clientWidth : 0;
    return w > 0 ? w - LABEL_WIDTH - (share ? GROUP_WIDTH : 0) - 24 : 0;
  }

  function buildLabels(numLayers, numHeads, groupsList, share) {
    const key = `${numLayers}:${numHeads}:${layout.thumb}:${share}:${JSON.stringify(groupsList)}:${names.layer(0)}:${names.head(0)}:${names.layer(numLayers - 1)}:${names.head(numHeads - 1)}`;
    if (key === labelsKey) return;
    labelsKey = key;
    clearChildren(heads);
    clearChildren(layers);
    clearChildren(groups);
    const showEvery = layout.thumb >= 18 ? 1 : 2;
    for (let hd = 0; hd < numHeads; hd++) {
      const t = h(doc, "span", { cls: "aw-model-head-label", text: String(names.head(hd)), dataset: { head: hd } });
      t.style.left = `${hd * layout.pitch}px`;
      t.style.width = `${layout.thumb}px`;
      if (hd % showEvery !== 0) t.classList.add("aw-label-skip");
      heads.appendChild(t);
    }
    for (let l = 0; l < numLayers; l++) {
      const t = h(doc, "span", { cls: "aw-model-layer-label", text: `layer ${names.layer(l)}`, dataset: { layer: l } });
      t.style.top = `${l * layout.pitch}px`;
      t.style.height = `${layout.thumb}px`;
      t.style.lineHeight = `${layout.thumb}px`;
      if (l % showEvery !== 0) t.classList.add("aw-label-skip");
      layers.appendChild(t);
    }
    grid.classList.toggle("aw-model-shared", share);
    if (share) {
      for (const run of groupRuns(groupsList)) {
        const count = run.end - run.start + 1;
        const b = h(
          doc,
          "div",
          {
            cls: "aw-model-bracket",
            dataset: { group: run.group, start: run.start, end: run.end },
            attrs: { title: `layers ${run.start}–${run.end} run the same weights (group ${run.group})` },
          },
          [
            h(doc, "span", { cls: "aw-model-group-label", text: `group ${run.group}` }),
            h(doc, "span", { cls: "aw-model-group-count", text: `${count} layer${count === 1 ? "" : "s"}` }),
          ],
        );
        b.style.top = `${run.start * layout.pitch}px`;
        b.style.height = `${count * layout.pitch - layout.gap}px`;
        groups.appendChild(b);
      }
    }
    el.style.setProperty("--aw-model-w", `${layout.width}px`);
    el.style.setProperty("--aw-model-h", `${layout.height}px`);
  }

  function drawThumbnails() {
    const { size, shape, bytes } = thumbs;
    const [L, H] = shape;
    const dpr = globalThis.devicePixelRatio || 1;
    const key = `${thumbs.revision}:${size}:${thumbs.requested}:${layout.thumb}:${L}:${H}:${dpr}`;
    if (key === drawnKey) return;
    drawnKey = key;
    // One atlas of all thumbnails at their own resolution, then each scaled into its place.
    atlas.width = H * size;
    atlas.height = L * size;
    const actx = atlas.getContext("2d");
    const image = actx.createImageData(H * size, L * size);
    const lut = viridisLut();
    const per = size * size;
    const row = new Uint8ClampedArray(size * 4);
    for (let l = 0; l < L; l++) {
      for (let hd = 0; hd < H; hd++) {
        const k = l * H + hd;
        for (let i = 0; i < size; i++) {
          colourise(bytes.subarray(k * per + i * size, k * per + (i + 1) * size), 0, 255, lut, row);
          image.data.set(row, ((l * size + i) * H * size + hd * size) * 4);
        }
      }
    }
    actx.putImageData(image, 0, 0);
    const { ctx } = sizeCanvas(canvas, layout.width, layout.height);
    clearCanvas(ctx);
    // Shrinking: smooth; enlarging (few tokens): keep the token cells crisp.
    ctx.imageSmoothingEnabled = size > layout.thumb * dpr;
    for (let l = 0; l < L; l++) {
      for (let hd = 0; hd < H; hd++) {
        const { x, y } = thumbOrigin(l, hd, layout);
        ctx.drawImage(atlas, hd * size, l * size, size, size, x, y, layout.thumb, layout.thumb);
      }
    }
  }

  function place(box, layer, head) {
    const { x, y } = thumbOrigin(layer, head, layout);
    box.style.left = `${x}px`;
    box.style.top = `${y}px`;
    box.style.width = `${layout.thumb}px`;
    box.style.height = `${layout.thumb}px`;
  }

  function update(next) {
    props = next;
    const { numLayers, numHeads, layer, head, info = {}, tokens = [] } = next;
    names = numbering(info);
    if (next.revision !== revision) {
      revision = next.revision;
      failure = "";
      statFailure = "";
      if (thumbs && thumbs.revision !== revision) thumbs = null;
      if (stats && stats.revision !== revision) stats = null;
    }
    const groupsList = Array.isArray(info.layer_groups) ? info.layer_groups : [];
    const share = sharesWeights(groupsList, numLayers);
    layout = gridLayout({ numLayers, numHeads, width: availableWidth(share) });
    const compact = model && model.get("attention_form") === "compact";
    const asked = model ? String(model.get("model_statistic") || "thumbnails") : "thumbnails";
    statistic = compact && asked === "thumbnails" ? "sink" : asked;
    colourBy.value = statistic;
    el.dataset.statistic = statistic;
    if (statistic !== "thumbnails") return updateStatistic(next, groupsList, share, compact && asked === "thumbnails");
    legend.hidden = true;
    if (failure) return { state: "unavailable", text: failure };
    const dpr = globalThis.devicePixelRatio || 1;
    const want = requestSize(layout.thumb, dpr);
    if (!thumbs) {
      request(revision, want);
      return { state: "loading", text: "Loading thumbnails of every layer and head…" };
    }
    // Drawn larger or smaller now: ask for the matching resolution and draw what is here meanwhile
    // (no need when the input fits both: then the thumbnails are at full resolution either way).
    if (thumbs.requested !== want && !(thumbs.n <= want && thumbs.n <= thumbs.requested)) request(revision, want);
    const [L, H] = thumbs.shape;
    if (L !== numLayers || H !== numHeads || thumbs.n !== tokens.length) {
      return {
        state: "mismatch",
        text: `Thumbnails [${thumbs.shape.join(", ")}] do not match ${numLayers} layers × ${numHeads} heads × ${tokens.length} tokens.`,
      };
    }

    buildLabels(numLayers, numHeads, groupsList, share);
    drawThumbnails();
    place(selected, layer, head);
    selected.dataset.layer = String(layer);
    selected.dataset.head = String(head);
    for (const t of heads.children) t.classList.toggle("aw-model-label-on", Number(t.dataset.head) === head);
    for (const t of layers.children) t.classList.toggle("aw-model-label-on", Number(t.dataset.layer) === layer);

    const shareText = sharingCaption(groupsList, numLayers);
    sharing.textContent = shareText ? `${info.model_type === "albert" ? "ALBERT: " : ""}${shareText}` : "";
    sharing.hidden = shareText === "";
    const parts = [
      `${numLayers} layers × ${numHeads} heads`,
      resolutionCaption(thumbs.n, thumbs.size, thumbs.downsampled),
      "each thumbnail coloured from 0 to its own maximum",
      `click one to open it in the ${lastDetail()} view`,
    ];
    caption.textContent = parts.filter(Boolean).join(" · ");
    const described = parts.slice(0, -1).filter(Boolean).join(" · "); // the figure: what it shows, not how to click
    canvas.setAttribute("aria-label", `Attention thumbnails: ${numLayers} layers × ${numHeads} heads`);
    el.dataset.layer = String(layer);
    el.dataset.head = String(head);
    el.dataset.size = String(thumbs.size);
    el.dataset.thumb = String(layout.thumb);
    el.dataset.shared = share ? "true" : "false";
    shownFigure = {
      thumbs,
      thumb: layout.thumb,
      gap: layout.gap,
      layer,
      head,
      names,
      caption: described,
      theme: next.theme,
      fileTag: "all-layers-and-heads",
    };
    onDraw();
    return { state: "ready" };
  }

  /** The grid coloured by one statistic per head (one shared scale, legend, exact value on hover). */
  function updateStatistic(next, groupsList, share, insteadOfThumbnails) {
    const { numLayers, numHeads, layer, head } = next;
    if (statFailure) return { state: "unavailable", text: statFailure };
    if (!stats) {
      send({ type: "summaries", revision });
      return { state: "loading", text: "Loading the statistics of every layer and head…" };
    }
    if (stats.numLayers !== numLayers || stats.numHeads !== numHeads) {
      return { state: "mismatch", text: `Statistics [${stats.numLayers}, ${stats.numHeads}] do not match ${numLayers} layers × ${numHeads} heads.` };
    }
    buildLabels(numLayers, numHeads, groupsList, share);
    const values = stats.grids[statistic];
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of values) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const lut = viridisLut();
    const { ctx } = sizeCanvas(canvas, layout.width, layout.height);
    clearCanvas(ctx);
    for (let l = 0; l < numLayers; l++) {
      for (let hd = 0; hd < numHeads; hd++) {
        const k = lutIndex(values[l * numHeads + hd], lo, hi) * 4;
        ctx.fillStyle = `rgb(${lut[k]}, ${lut[k + 1]}, ${lut[k + 2]})`;
        const { x, y } = thumbOrigin(l, hd, layout);
        ctx.fillRect(x, y, layout.thumb, layout.thumb);
      }
    }
    drawnKey = ""; // the thumbnails must be drawn again when switched back
    shownFigure = null; // the downloads write thumbnails only (the statistic grid has no writer yet)
    const { ctx: lctx } = sizeCanvas(legendBar, 160, 10);
    const gradient = lctx.createLinearGradient(0, 0, 160, 0);
    for (let t = 0; t <= 8; t++) {
      const k = Math.min(255, Math.round((t / 8) * 255)) * 4;
      gradient.addColorStop(t / 8, `rgb(${lut[k]}, ${lut[k + 1]}, ${lut[k + 2]})`);
    }
    lctx.fillStyle = gradient;
    lctx.fillRect(0, 0, 160, 10);
    legendLo.textContent = statText(lo);
    legendHi.textContent = statText(hi);
    legend.hidden = false;
    legend.title = `${STATISTIC_LABELS[statistic]}: ${statText(lo)} (dark) to ${statText(hi)} (bright)`;
    place(selected, layer, head);
    selected.dataset.layer = String(layer);
    selected.dataset.head = String(head);
    for (const t of heads.children) t.classList.toggle("aw-model-label-on", Number(t.dataset.head) === head);
    for (const t of layers.children) t.classList.toggle("aw-model-label-on", Number(t.dataset.layer) === layer);
    sharing.hidden = true;
    caption.textContent = [
      `${numLayers} layers × ${numHeads} heads`,
      `${STATISTIC_LABELS[statistic]}, the mean over every query of this input${statistic === "sink" && stats.numSinkTokens > 1 ? ` (first ${stats.numSinkTokens} tokens)` : ""}`,
      insteadOfThumbnails ? "thumbnails need whole heads, which a compact capture does not hold" : "",
      "hover for the exact value, click to select a head",
    ]
      .filter(Boolean)
      .join(" · ");
    canvas.setAttribute("aria-label", `${STATISTIC_LABELS[statistic]} of ${numLayers} layers × ${numHeads} heads`);
    el.dataset.layer = String(layer);
    el.dataset.head = String(head);
    el.dataset.lo = String(lo);
    el.dataset.hi = String(hi);
    el.dataset.shared = share ? "true" : "false";
    onDraw();
    return { state: "ready" };
  }

  function handleMessage(msg, buffers) {
    if (msg && msg.type === "summaries") {
      if (msg.revision !== revision) return true;
      try {
        if (typeof msg.error === "string") throw new Error(msg.error);
        stats = { ...parseSummaries(msg, (buffers || [])[0]), revision: msg.revision, numSinkTokens: Number(msg.num_sink_tokens) || 1 };
        statFailure = "";
      } catch (err) {
        statFailure = `Could not get the statistics: ${err.message}`;
      }
      requestDraw();
      return true;
    }
    if (!msg || msg.type !== "thumbnails") return false;
    if (msg.revision !== revision) return true;
    try {
      if (typeof msg.error === "string") throw new Error(msg.error);
      const parsed = thumbnailBytes(msg, (buffers || [])[0]);
      thumbs = { ...parsed, revision: msg.revision, requested: msg.requested ?? msg.size, n: msg.n, downsampled: Boolean(msg.downsampled) };
      failure = "";
    } catch (err) {
      failure = `Could not read the thumbnails: ${err.message}`;
    }
    drawnKey = "";
    requestDraw();
    return true;
  }

  function hit(event) {
    if (!layout) return null;
    const rect = canvas.getBoundingClientRect();
    return thumbAt(event.clientX - rect.left, event.clientY - rect.top, layout);
  }

  function onClick(event) {
    const t = hit(event);
    if (!t || !model) return;
    model.set("layer", t.layer);
    model.set("head", t.head);
    if (statistic === "thumbnails") model.set("view", lastDetail()); // by statistic: stay, to compare heads
    model.save_changes();
    requestDraw();
  }

  function onMove(event) {
    const t = hit(event);
    if (!t) return onLeave();
    place(hover, t.layer, t.head);
    hover.hidden = false;
    hover.dataset.layer = String(t.layer);
    hover.dataset.head = String(t.head);
    const where = `layer ${names.layer(t.layer)}, head ${names.head(t.head)}`;
    if (statistic !== "thumbnails" && stats) {
      const value = stats.grids[statistic][t.layer * stats.numHeads + t.head];
      hover.dataset.value = String(value);
      canvas.title = `${where}: ${STATISTIC_LABELS[statistic]} = ${String(value)}; click to select it`;
      readout.textContent = `${where}: ${statText(value)}`;
      return;
    }
    delete hover.dataset.value;
    canvas.title = `${where}: click to open it in the ${lastDetail()} view`;
    readout.textContent = where;
  }

  function onLeave() {
    hover.hidden = true;
  }

  const events = listenerSet();
  events.on(canvas, "click", onClick);
  events.on(canvas, "mousemove", onMove);
  events.on(canvas, "mouseleave", onLeave);
  events.on(colourBy, "change", () => {
    if (!model) return;
    model.set("model_statistic", colourBy.value);
    model.save_changes();
    requestDraw();
  });

  function destroy() {
    events.clear();
    el.remove();
  }

  /** What the SVG / PNG download draws (draw/svg-views.js modelViewSvg), or null. */
  function figure() {
    return el.hidden ? null : shownFigure;
  }

  return { el, figure, update, handleMessage, redraw: () => props && update(props), destroy, selfFed: true };
}
