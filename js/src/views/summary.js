// Head-summary panel (inside the explain view): Clark et al.'s statistics of every head for the
// current input, one small layer x head heat grid per statistic (DOM cells, viridis), a selector that
// puts one statistic first and ranks its heads. Clicking a cell (or a ranked head) sets the traits
// `layer` and `head`, which every other view follows. Styles live in explain.css.

import { clearChildren, h } from "../dom.js";
import { lutIndex, viridisLut } from "../draw/colour.js";
import { numbering } from "../numbering.js";
import { chosenStat, parseStatsReply, range, rangeNumbers, STAT_LABELS, shortNumber, topHeads } from "./explain-math.js";

function lutCss(value, lo, hi) {
  const lut = viridisLut();
  const k = lutIndex(value, lo, hi) * 4;
  return `rgb(${lut[k]}, ${lut[k + 1]}, ${lut[k + 2]})`;
}

/**
 * @returns {{ el, update(props): void, handleMessage(msg, buffers): boolean, destroy() }}
 * props: { revision, layer, head }
 */
export function createSummaryPanel({ doc = document, model = null, send = () => {}, requestDraw = () => {} } = {}) {
  const select = h(doc, "select", { cls: "aw-summary-stat", attrs: { "aria-label": "Statistic" } });
  const order = h(doc, "select", { cls: "aw-summary-order", attrs: { "aria-label": "Rank order" } });
  order.appendChild(h(doc, "option", { text: "highest first", attrs: { value: "desc" } }));
  order.appendChild(h(doc, "option", { text: "lowest first", attrs: { value: "asc" } }));
  const top = h(doc, "div", { cls: "aw-summary-top" });
  const grids = h(doc, "div", { cls: "aw-summary-grids" });
  const message = h(doc, "div", { cls: "aw-summary-message" });
  const titleEl = h(doc, "div", { cls: "aw-summary-title", text: "Head summary (this input): click a head to focus it" });
  const el = h(doc, "div", { cls: "aw-summary" }, [
    titleEl,
    h(doc, "div", { cls: "aw-summary-bar" }, [h(doc, "span", { cls: "aw-field-label", text: "Statistic" }), select, order, top]),
    message,
    grids,
  ]);

  let revision = null;
  let stats = null; // parsed reply of the current revision
  let chosen = "";
  let built = null; // `${revision}|${chosen}|${order}` drawn
  let focus = { layer: -1, head: -1 };
  let names = numbering(null); // the model's own layer and head numbers
  let numberKey = "";

  function pick(layer, head) {
    if (!model) return;
    model.set("layer", layer);
    model.set("head", head);
    model.save_changes();
    requestDraw();
  }

  const onClick = (event) => {
    const cell = event.target && event.target.closest ? event.target.closest("[data-layer][data-head]") : null;
    if (!cell || !el.contains(cell)) return;
    pick(Number(cell.dataset.layer), Number(cell.dataset.head));
  };
  const onSelect = () => {
    chosen = select.value;
    built = null;
    requestDraw();
  };
  el.addEventListener("click", onClick);
  select.addEventListener("change", onSelect);
  order.addEventListener("change", onSelect);

  function grid(name, big) {
    const { numLayers: L, numHeads: H } = stats;
    const values = stats.grids[name];
    const [lo, hi] = range(values);
    const cells = h(doc, "div", { cls: "aw-summary-cells", style: { "grid-template-columns": `repeat(${H}, var(--aw-summary-cell))` } });
    for (let l = 0; l < L; l++) {
      for (let hd = 0; hd < H; hd++) {
        const v = values[l * H + hd];
        const c = h(doc, "div", { cls: "aw-summary-cell", dataset: { layer: l, head: hd, value: v } });
        c.style.background = lutCss(v, lo, hi);
        c.title = `layer ${names.layer(l)}, head ${names.head(hd)}: ${STAT_LABELS[name] || name} = ${shortNumber(v)}`;
        cells.appendChild(c);
      }
    }
    return h(doc, "div", { cls: `aw-summary-grid${big ? " aw-summary-big" : ""}`, dataset: { stat: name } }, [
      h(doc, "div", { cls: "aw-summary-name", text: STAT_LABELS[name] || name }),
      cells,
      h(doc, "div", { cls: "aw-summary-range", text: rangeNumbers(lo, hi).join(" … ") }),
    ]);
  }

  function build() {
    const key = `${revision}|${chosen}|${order.value}|${numberKey}`;
    if (built === key) return;
    built = key;
    clearChildren(grids);
    clearChildren(top);
    if (!stats || stats.error) return;
    const first = chosenStat(chosen, stats.statistics);
    const { numLayers: L, numHeads: H } = stats;
    titleEl.textContent = `Head summary (this input): rows are layers ${names.layer(0)}–${names.layer(L - 1)}, columns heads ${names.head(0)}–${names.head(H - 1)}; click a head to focus it`;
    grids.appendChild(grid(first, true));
    for (const name of stats.statistics) if (name !== first) grids.appendChild(grid(name, false));
    const ranked = topHeads(stats.grids[first], stats.numLayers, stats.numHeads, 5, order.value !== "asc");
    top.appendChild(h(doc, "span", { cls: "aw-field-label", text: "Top heads:" }));
    for (const r of ranked) {
      top.appendChild(
        h(doc, "button", {
          cls: "aw-summary-rank aw-button",
          text: `layer ${names.layer(r.layer)}, head ${names.head(r.head)}: ${shortNumber(r.value)}`,
          dataset: { layer: r.layer, head: r.head },
          attrs: { type: "button" },
        }),
      );
    }
    focus = { layer: -1, head: -1 };
  }

  function markFocus(layer, head) {
    if (focus.layer === layer && focus.head === head) return;
    focus = { layer, head };
    for (const c of grids.querySelectorAll(".aw-summary-cell")) {
      c.classList.toggle("aw-summary-selected", Number(c.dataset.layer) === layer && Number(c.dataset.head) === head);
    }
  }

  function update(props) {
    const inf = props.info || {};
    names = numbering(inf);
    numberKey = JSON.stringify([inf.layer_numbers, inf.head_numbers]);
    if (props.revision !== revision) {
      revision = props.revision;
      stats = null;
      built = null;
    }
    if (!stats) {
      send({ type: "head_stats", revision });
    }
    if (stats && select.options.length !== stats.statistics.length) {
      clearChildren(select);
      for (const name of stats.statistics) select.appendChild(h(doc, "option", { text: STAT_LABELS[name] || name, attrs: { value: name } }));
    }
    if (stats) select.value = chosenStat(chosen, stats.statistics);
    message.textContent = !stats ? "Computing head statistics…" : stats.error ? `Head statistics unavailable: ${stats.error}` : "";
    message.hidden = message.textContent === "";
    el.dataset.state = !stats ? "loading" : stats.error ? "error" : "ready";
    build();
    markFocus(props.layer, props.head);
  }

  function handleMessage(msg, buffers) {
    if (!msg || msg.type !== "head_stats") return false;
    if (msg.revision !== revision) return true;
    try {
      stats = parseStatsReply(msg, buffers);
    } catch (err) {
      stats = { error: String(err && err.message ? err.message : err) };
    }
    built = null;
    requestDraw();
    return true;
  }

  function destroy() {
    el.removeEventListener("click", onClick);
    select.removeEventListener("change", onSelect);
    order.removeEventListener("change", onSelect);
  }

  /** The grids as drawn, for the explain view's figure: { first, statistics, numLayers, numHeads, grids } or null. */
  function figure() {
    if (!stats || stats.error) return null;
    return {
      first: chosenStat(chosen, stats.statistics),
      statistics: stats.statistics,
      numLayers: stats.numLayers,
      numHeads: stats.numHeads,
      grids: stats.grids,
    };
  }

  return { el, update, handleMessage, destroy, figure };
}
