// Difference view: Δ = right − left of one head of each side over the compared slots, on a diverging
// colour map centred on 0 (its scale shown), exact values in the tooltip. Rows and columns of a word
// on one side only are drawn grey and hatched (no Δ there), labelled with the side that has it.

import { clearChildren, h } from "../dom.js";
import { clearCanvas, sizeCanvas } from "../draw/canvas.js";
import { colourise, DIVERGING_STOPS, divergingLut, divergingRange } from "../draw/colour.js";
import { tokenElement } from "../views/labels.js";
import { hatchMask, paintMask } from "../views/mask.js";
import { cellAt, matrixGrid, sizeGrid } from "../views/matrix.js";
import { deltaText, divergingTicks, oneSidedMask, slotInfos } from "./logic.js";

/**
 * @returns {{ el: HTMLElement, update(props): void, destroy(): void }}
 * props: { slots, delta, left, right (Float32Array S*S), title, note, theme }
 */
export function createDiffView({ doc = document, onDraw = () => {} } = {}) {
  const title = h(doc, "div", { cls: "aw-matrix-title" });
  const note = h(doc, "div", { cls: "aw-compare-note", attrs: { role: "note" } });
  const { cols, rows, canvas, grid } = matrixGrid(doc, "aw-matrix-canvas aw-diff-canvas");
  const barMin = h(doc, "span", { cls: "aw-colourbar-min" });
  const barMid = h(doc, "span", { cls: "aw-colourbar-mid" });
  const barMax = h(doc, "span", { cls: "aw-colourbar-max" });
  const ramp = h(doc, "span", { cls: "aw-colourbar-ramp", style: { background: `linear-gradient(to right, ${DIVERGING_STOPS.join(", ")})` } });
  const caption = h(doc, "span", { cls: "aw-colourbar-caption", text: "Δ = right − left (blue: less on the right, red: more)" });
  // 0 sits under the middle of the ramp: the scale is symmetric, [-m, 0, +m].
  const rampBox = h(doc, "span", { cls: "aw-diff-ramp" }, [ramp, barMid]);
  const colourbar = h(doc, "div", { cls: "aw-colourbar aw-diff-colourbar" }, [barMin, rampBox, barMax, caption]);
  const tooltip = h(doc, "div", { cls: "aw-tooltip", attrs: { role: "tooltip" } });
  tooltip.hidden = true;
  const el = h(doc, "div", { cls: "aw-view-matrix aw-view-diff" }, [title, note, grid, colourbar, tooltip]);
  const offscreen = doc.createElement("canvas");

  let props = null;
  let infos = [];
  let rowEls = [];
  let colEls = [];
  let mask = null;
  let n = 0;
  let cell = 24;
  let range = [-1, 1];

  function buildLabels() {
    clearChildren(rows);
    clearChildren(cols);
    infos = slotInfos(props.slots);
    n = infos.length;
    const sized = sizeGrid(el, n, n);
    cell = sized.cell;
    const { step, shift } = sized;
    const label = (info, i, cls, pos) => {
      const t = tokenElement(doc, info, i, `${cls} aw-slot-${info.side}`);
      t.dataset.side = info.side;
      if (info.side !== "both") t.title = `${t.title} · ${info.side} side only`;
      t.style[pos] = `${i * cell + shift}px`;
      if (i % step !== 0) t.classList.add("aw-label-skip");
      return t;
    };
    rowEls = infos.map((info, i) => rows.appendChild(label(info, i, "aw-row-label aw-query", "top")));
    colEls = infos.map((info, j) => cols.appendChild(label(info, j, "aw-col-label aw-key", "left")));
  }

  function draw() {
    const size = n * cell;
    const { ctx } = sizeCanvas(canvas, size, size);
    clearCanvas(ctx);
    range = divergingRange(props.delta);
    if (n > 0) {
      offscreen.width = n;
      offscreen.height = n;
      const octx = offscreen.getContext("2d");
      const image = octx.createImageData(n, n);
      colourise(props.delta, range[0], range[1], divergingLut(), image.data);
      paintMask(image.data, mask);
      octx.putImageData(image, 0, 0);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(offscreen, 0, 0, size, size);
      hatchMask(ctx, mask, n, n, cell, props.theme);
    }
    const [lo, mid, hi] = divergingTicks(range[0], range[1]);
    barMin.textContent = lo.label;
    barMid.textContent = mid.label;
    barMax.textContent = hi.label;
    el.dataset.min = String(range[0]);
    el.dataset.max = String(range[1]);
    el.dataset.slots = String(n);
    el.dataset.oneSided = String(props.slots.filter((s) => s.side !== "both").length);
    onDraw();
  }

  function update(next) {
    const labelsChanged = !props || props.slots !== next.slots;
    props = next;
    if (labelsChanged) {
      buildLabels();
      mask = oneSidedMask(next.slots);
    }
    title.textContent = next.title;
    note.textContent = next.note;
    draw();
    hideTooltip();
  }

  function showCell(i, j, x, y) {
    for (const t of el.querySelectorAll(".aw-token-hover")) t.classList.remove("aw-token-hover");
    rowEls[i]?.classList.add("aw-token-hover");
    colEls[j]?.classList.add("aw-token-hover");
    const k = i * n + j;
    const [delta, left, right] = [props.delta[k], props.left[k], props.right[k]];
    tooltip.textContent = deltaText(infos[i].text, infos[j].text, delta, left, right, infos[i].side, infos[j].side);
    Object.assign(tooltip.dataset, { query: String(i), key: String(j), value: String(delta), left: String(left), right: String(right) });
    tooltip.hidden = false;
    tooltip.style.left = `${x + 14}px`;
    tooltip.style.top = `${y + 14}px`;
  }

  function hideTooltip() {
    for (const t of el.querySelectorAll(".aw-token-hover")) t.classList.remove("aw-token-hover");
    tooltip.hidden = true;
  }

  function onMove(event) {
    const rect = canvas.getBoundingClientRect();
    const hit = cellAt(event.clientX - rect.left, event.clientY - rect.top, rect.width, n, rect.height, n);
    if (!hit || !props) return hideTooltip();
    const host = el.getBoundingClientRect();
    showCell(hit.i, hit.j, event.clientX - host.left, event.clientY - host.top);
  }

  canvas.addEventListener("mousemove", onMove);
  canvas.addEventListener("mouseleave", hideTooltip);

  return {
    el,
    update,
    redraw: () => props && draw(),
    range: () => range,
    destroy() {
      canvas.removeEventListener("mousemove", onMove);
      canvas.removeEventListener("mouseleave", hideTooltip);
      el.remove();
    },
  };
}
