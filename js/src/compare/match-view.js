// Head-matching grid: for every head of one side (rows = layers, columns = heads) its closest head
// on the other side (by Jensen-Shannon divergence) and how similar, coloured by similarity
// (1 - JSD / ln 2, viridis). A click compares that pair in the difference view.

import { clearChildren, h } from "../dom.js";
import { lutIndex, VIRIDIS_STOPS, viridisLut } from "../draw/colour.js";
import { matchCells, mostChanged, similarityRange } from "./logic.js";

/** One side's grid: a table with one button per head. */
function sideGrid(doc, { side, other, cells, heads, range, onPick }) {
  const lut = viridisLut();
  const table = h(doc, "table", { cls: `aw-match-grid aw-match-${side}`, dataset: { side } });
  const headRow = h(doc, "tr", {}, [h(doc, "th", { text: `${side} layer \\ head` })]);
  for (let k = 0; k < heads; k++) headRow.appendChild(h(doc, "th", { text: String(k) }));
  table.appendChild(headRow);
  let row = null;
  for (const cell of cells) {
    if (cell.head === 0) {
      row = h(doc, "tr", {}, [h(doc, "th", { text: String(cell.layer) })]);
      table.appendChild(row);
    }
    const k = lutIndex(cell.similarity, range[0], range[1]) * 4;
    const dark = k < 140 * 4; // viridis is dark below about 55 %: white text there
    const button = h(doc, "button", {
      cls: "aw-match-cell",
      text: `L${cell.matchLayer}·H${cell.matchHead}`,
      attrs: {
        type: "button",
        title: `${side} L${cell.layer} H${cell.head} ≈ ${other} L${cell.matchLayer} H${cell.matchHead}: JSD ${cell.divergence.toPrecision(4)} nats, similarity ${cell.similarity.toFixed(3)}`,
      },
      dataset: { layer: cell.layer, head: cell.head, matchLayer: cell.matchLayer, matchHead: cell.matchHead, divergence: cell.divergence },
      style: { background: `rgb(${lut[k]}, ${lut[k + 1]}, ${lut[k + 2]})`, color: dark ? "#ffffff" : "#000000" },
    });
    button.addEventListener("click", () => onPick(cell));
    row.appendChild(h(doc, "td", {}, [button]));
  }
  return table;
}

/**
 * @returns {{ el: HTMLElement, update(props): void, destroy(): void }}
 * props: { leftShape, rightShape, leftBest, rightBest (Int32Array), leftValue, rightValue, sameHead
 * (per-head divergence to the same head on the other side, or null when the shapes differ), onPick(side, cell) }
 */
export function createMatchView({ doc = document, onDraw = () => {} } = {}) {
  const caption = h(doc, "div", {
    cls: "aw-compare-note",
    text: "Each cell: the closest head on the other side (L·H) by Jensen-Shannon divergence over the aligned tokens; colour = similarity 1 − JSD / ln 2. Click to see the difference.",
  });
  const ramp = h(doc, "span", { cls: "aw-colourbar-ramp", style: { background: `linear-gradient(to right, ${VIRIDIS_STOPS.join(", ")})` } });
  const barMin = h(doc, "span", { cls: "aw-colourbar-min" });
  const bar = h(doc, "div", { cls: "aw-colourbar" }, [
    h(doc, "span", { text: "similarity" }),
    barMin,
    ramp,
    h(doc, "span", { cls: "aw-colourbar-max", text: "1" }),
  ]);
  const changed = h(doc, "div", { cls: "aw-match-changed" });
  const grids = h(doc, "div", { cls: "aw-match-grids" });
  const el = h(doc, "div", { cls: "aw-view-match" }, [caption, changed, bar, grids]);

  function update(p) {
    clearChildren(grids);
    const [ll, lh] = p.leftShape;
    const [rl, rh] = p.rightShape;
    const pick = (side) => (cell) => p.onPick(side, cell);
    const leftCells = matchCells(ll, lh, p.leftBest, p.leftValue);
    const rightCells = matchCells(rl, rh, p.rightBest, p.rightValue);
    const range = similarityRange([...leftCells, ...rightCells]);
    barMin.textContent = range[0].toPrecision(3);
    el.dataset.min = String(range[0]);
    grids.appendChild(sideGrid(doc, { side: "left", other: "right", cells: leftCells, heads: lh, range, onPick: pick("left") }));
    grids.appendChild(sideGrid(doc, { side: "right", other: "left", cells: rightCells, heads: rh, range, onPick: pick("right") }));
    clearChildren(changed);
    if (p.sameHead) {
      changed.appendChild(h(doc, "span", { text: "Changed most (same layer and head, JSD in nats): " }));
      for (const c of mostChanged(p.sameHead, lh)) {
        const item = h(doc, "button", {
          cls: "aw-match-changed-head aw-button",
          text: `L${c.layer}·H${c.head} ${c.divergence.toPrecision(3)}`,
          attrs: { type: "button" },
          dataset: { layer: c.layer, head: c.head, divergence: c.divergence },
        });
        item.addEventListener("click", () => p.onPick("left", { layer: c.layer, head: c.head, matchLayer: c.layer, matchHead: c.head }));
        changed.appendChild(item);
      }
    }
    el.dataset.cells = String(ll * lh + rl * rh);
    onDraw();
  }

  return { el, update, redraw: () => {}, destroy: () => el.remove() };
}
