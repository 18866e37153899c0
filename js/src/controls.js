// Toolbar: layer/head sliders, head chips, head_reduce select, view switch, threshold, text boxes,
// error and notice banners. Controls write traits (model.set + save_changes); sync() reads them
// back when Python changes them. Setting an input's value from code fires no input event, so
// there is no feedback loop.

import { clearChildren, h } from "./dom.js";
import { headColour } from "./draw/colour.js";
import { COMPACT_VIEWS, VIEWS as VIEW_NAMES } from "./names.js";
import { numbering } from "./numbering.js";
import { clampIndex, REDUCE_MODES, validHeads } from "./reduce.js";
import { perHead } from "./views/explain-math.js";

const VIEW_LABELS = { head: "Head", matrix: "Matrix", model: "Model", neuron: "Neuron", explain: "Explain", row: "Row" };
export const VIEWS = VIEW_NAMES.map((name) => [name, VIEW_LABELS[name]]);

/** Set a trait and push it to Python. */
export function setTrait(model, name, value) {
  model.set(name, value);
  model.save_changes();
}

/** `heads` with head h toggled, sorted. */
export function toggleHead(heads, h, numHeads) {
  const list = validHeads(heads, numHeads);
  return list.includes(h) ? list.filter((x) => x !== h) : validHeads([...list, h], numHeads);
}

/** All heads when not all are selected, otherwise none. */
export function allOrNone(heads, numHeads) {
  return validHeads(heads, numHeads).length === numHeads ? [] : Array.from({ length: numHeads }, (_, k) => k);
}

/** The set_text message for the two text boxes (text_pair null when the second box is empty). */
export function setTextMessage(text, pair) {
  const p = pair === null || pair === undefined ? "" : String(pair);
  return { type: "set_text", text: String(text ?? ""), text_pair: p.trim() === "" ? null : p };
}

function slider(doc, cls, label, { min = 0, max = 0, step = 1 } = {}) {
  const input = h(doc, "input", { cls, attrs: { type: "range", min, max, step, "aria-label": label } });
  const value = h(doc, "span", { cls: `${cls}-value aw-value` });
  const wrap = h(doc, "label", { cls: "aw-field" }, [h(doc, "span", { cls: "aw-field-label", text: label }), input, value]);
  return { input, value, wrap };
}

/**
 * @param {{ model, doc?: Document, onRun?: (message) => void, onSave?: (kind: "svg" | "png") => void }} options
 * @returns {{ el, sync(), setMessageError(msg), setBusy(busy), destroy() }}
 */
export function createControls({ model, doc = document, onRun = () => {}, onSave = () => {} }) {
  const layer = slider(doc, "aw-layer", "Layer");
  const head = slider(doc, "aw-head", "Head");
  const threshold = slider(doc, "aw-threshold", "Threshold", { min: 0, max: 1, step: 0.01 });

  const chips = h(doc, "div", { cls: "aw-chips", attrs: { role: "group", "aria-label": "Heads shown together (shift-click: all / none)" } });
  const allButton = h(doc, "button", { cls: "aw-chips-all aw-button", text: "All", attrs: { type: "button", title: "Select all heads / none" } });

  const reduce = h(doc, "select", { cls: "aw-reduce", attrs: { "aria-label": "Combine heads" } });
  for (const mode of REDUCE_MODES) reduce.appendChild(h(doc, "option", { text: mode === "none" ? "single heads" : mode, attrs: { value: mode } }));
  const reduceWrap = h(doc, "label", { cls: "aw-field" }, [h(doc, "span", { cls: "aw-field-label", text: "Combine" }), reduce]);

  const viewButtons = VIEWS.map(([view, label]) =>
    h(doc, "button", { cls: "aw-view-btn aw-button", text: label, dataset: { view }, attrs: { type: "button", "aria-pressed": "false" } }),
  );
  const viewSwitch = h(doc, "div", { cls: "aw-views", attrs: { role: "group", "aria-label": "View" } }, viewButtons);

  const text = h(doc, "input", { cls: "aw-text", attrs: { type: "text", placeholder: "Sentence A", "aria-label": "Text", spellcheck: "false" } });
  const pair = h(doc, "input", {
    cls: "aw-text-pair",
    attrs: { type: "text", placeholder: "Sentence B (optional)", "aria-label": "Second sentence", spellcheck: "false" },
  });
  const run = h(doc, "button", { cls: "aw-run aw-button", text: "Run", attrs: { type: "button" } });
  // Download the view on screen: vector SVG, or PNG (that SVG rasterised).
  const saveSvg = h(doc, "button", {
    cls: "aw-save-svg aw-button",
    text: "SVG",
    attrs: { type: "button", title: "Download this view as a vector SVG", disabled: true },
  });
  const savePng = h(doc, "button", {
    cls: "aw-save-png aw-button",
    text: "PNG",
    attrs: { type: "button", title: "Download this view as a PNG", disabled: true },
  });
  const saveGroup = h(doc, "div", { cls: "aw-save", attrs: { role: "group", "aria-label": "Download" } }, [saveSvg, savePng]);

  const error = h(doc, "div", { cls: "aw-error", attrs: { role: "alert" } });
  const notice = h(doc, "div", { cls: "aw-notice", attrs: { role: "status" } });
  const info = h(doc, "div", { cls: "aw-info" });
  error.hidden = true;
  notice.hidden = true;

  const textRow = h(doc, "div", { cls: "aw-row aw-row-text" }, [text, pair, run]);
  const el = h(doc, "div", { cls: "aw-controls" }, [
    textRow,
    h(doc, "div", { cls: "aw-row" }, [layer.wrap, head.wrap, reduceWrap, threshold.wrap, viewSwitch, saveGroup]),
    h(doc, "div", { cls: "aw-row aw-row-chips" }, [h(doc, "span", { cls: "aw-field-label", text: "Heads" }), chips, allButton]),
    error,
    notice,
    info,
  ]);

  let chipEls = [];
  let messageError = "";
  let busy = false;
  let lastText = null;
  let lastPair = null;

  const numHeads = () => Math.max(0, model.get("num_heads") | 0);
  const numLayers = () => Math.max(0, model.get("num_layers") | 0);

  function doRun() {
    if (text.disabled) return;
    const message = setTextMessage(text.value, pair.value);
    messageError = "";
    syncBanners();
    onRun(message);
  }

  const listeners = [
    [layer.input, "input", () => setTrait(model, "layer", clampIndex(Number(layer.input.value), numLayers()))],
    [head.input, "input", () => setTrait(model, "head", clampIndex(Number(head.input.value), numHeads()))],
    [threshold.input, "input", () => setTrait(model, "threshold", Math.min(1, Math.max(0, Number(threshold.input.value))))],
    [reduce, "change", () => setTrait(model, "head_reduce", reduce.value)],
    [allButton, "click", () => setTrait(model, "heads", allOrNone(model.get("heads"), numHeads()))],
    [
      chips,
      "click",
      (event) => {
        const chip = event.target.closest ? event.target.closest(".aw-chip") : null;
        if (!chip || !chips.contains(chip)) return;
        const k = Number(chip.dataset.head);
        const next = event.shiftKey ? allOrNone(model.get("heads"), numHeads()) : toggleHead(model.get("heads"), k, numHeads());
        setTrait(model, "heads", next);
      },
    ],
    [
      viewSwitch,
      "click",
      (event) => {
        const button = event.target.closest ? event.target.closest(".aw-view-btn") : null;
        if (button && viewSwitch.contains(button)) setTrait(model, "view", button.dataset.view);
      },
    ],
    [run, "click", doRun],
    [saveSvg, "click", () => onSave("svg")],
    [savePng, "click", () => onSave("png")],
    [
      text,
      "keydown",
      (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          doRun();
        }
      },
    ],
    [
      pair,
      "keydown",
      (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          doRun();
        }
      },
    ],
  ];
  for (const [target, type, fn] of listeners) target.addEventListener(type, fn);

  let chipNames = "";
  function buildChips(count, headName) {
    // chips carry the model's own head numbers (data-head stays the index the traits use)
    const key = JSON.stringify(Array.from({ length: count }, (_, k) => headName(k)));
    if (chipEls.length === count && chipNames === key) return;
    chipNames = key;
    clearChildren(chips);
    chipEls = Array.from({ length: count }, (_, k) =>
      chips.appendChild(
        h(doc, "button", {
          cls: "aw-chip",
          text: String(headName(k)),
          dataset: { head: k },
          attrs: { type: "button", "aria-pressed": "false", title: `head ${headName(k)}` },
          style: { "--aw-chip-light": headColour(k), "--aw-chip-dark": headColour(k, "#000000") },
        }),
      ),
    );
  }

  function syncBanners() {
    const err = String(model.get("error") || "") || messageError;
    error.textContent = err;
    error.hidden = err === "";
    const note = String(model.get("notice") || "");
    notice.textContent = note;
    notice.hidden = note === "";
  }

  function syncText() {
    const inf = model.get("info") || {};
    const editable = inf.editable !== false;
    text.disabled = !editable;
    pair.disabled = !editable;
    run.disabled = !editable; // stays usable while busy: a repeated identical error fires no change
    run.textContent = busy ? "Running…" : "Run";
    // Only a change of the trait itself overwrites a box: what the user typed and has not run yet
    // survives unrelated syncs (slider moves and the like).
    const t = String(model.get("text") ?? "");
    const p = String(model.get("text_pair") ?? "");
    if (t !== lastText) {
      lastText = t;
      text.value = t;
    }
    if (p !== lastPair) {
      lastPair = p;
      pair.value = p;
    }
    // Without a model (fixed attention, a saved page) nothing can run: no Run button, and no empty
    // read-only boxes (a text that was captured stays shown, read-only).
    run.hidden = !editable;
    text.hidden = !editable && text.value === "";
    pair.hidden = !editable && pair.value === "";
    textRow.hidden = run.hidden && text.hidden && pair.hidden;
  }

  function syncInfo() {
    const inf = model.get("info") || {};
    const parts = [];
    // A local folder's full path is long and private: show its last part (hub names stay whole).
    // Python's short name (models.py model_label) first: the packaged model is "all-MiniLM-L6-v2".
    if (inf.model_label) parts.push(String(inf.model_label));
    else if (inf.name_or_path) parts.push(shortModelName(String(inf.name_or_path)));
    else if (inf.model_type) parts.push(String(inf.model_type));
    parts.push(`${numLayers()} layers × ${numHeads()} heads`);
    parts.push(`${(model.get("tokens") || []).length} tokens`);
    const groups = Array.isArray(inf.layer_groups) ? inf.layer_groups : null;
    const l = model.get("layer");
    if (groups && groups.length > 0 && Number.isInteger(groups[l]) && new Set(groups).size < groups.length) {
      parts.push(`layer ${numbering(inf).layer(l)} runs shared group ${groups[l]}`);
    }
    info.textContent = parts.join(" · ");
  }

  /** Bring every control in line with the model's traits. */
  function sync() {
    const L = numLayers();
    const H = numHeads();
    const l = clampIndex(model.get("layer"), L);
    const hd = clampIndex(model.get("head"), H);
    // The sliders move over indices and show the model's own numbers (include_layers=[5, 7]: "5 / 7").
    const names = numbering(model.get("info"));
    layer.input.max = String(Math.max(0, L - 1));
    layer.input.value = String(l);
    layer.input.disabled = L === 0;
    layer.value.textContent = L === 0 ? "–" : `${names.layer(l)} / ${names.layer(L - 1)}`;
    layer.input.setAttribute("aria-valuetext", L === 0 ? "no layers" : `layer ${names.layer(l)}`);
    head.input.max = String(Math.max(0, H - 1));
    head.input.value = String(hd);
    head.input.disabled = H === 0;
    head.value.textContent = H === 0 ? "–" : `${names.head(hd)} / ${names.head(H - 1)}`;
    head.input.setAttribute("aria-valuetext", H === 0 ? "no heads" : `head ${names.head(hd)}`);
    const t = Number(model.get("threshold")) || 0;
    threshold.input.value = String(t);
    threshold.value.textContent = t.toFixed(2);
    const mode = REDUCE_MODES.includes(model.get("head_reduce")) ? model.get("head_reduce") : "none";
    reduce.value = mode;

    buildChips(H, names.head);
    const selected = validHeads(model.get("heads"), H);
    chipEls.forEach((chip, k) => {
      const on = selected.includes(k);
      chip.setAttribute("aria-pressed", on ? "true" : "false");
      chip.classList.toggle("aw-chip-on", on);
      chip.classList.toggle("aw-chip-implicit", selected.length === 0 && k === hd);
      chip.classList.toggle("aw-chip-focus", k === hd);
    });
    allButton.textContent = H > 0 && selected.length === H ? "None" : "All";
    allButton.disabled = H === 0;

    const view = model.get("view");
    const compact = model.get("attention_form") === "compact";
    // Controls that change nothing in this view are disabled (and say why in their tooltip).
    // (a compact capture's head view draws top-k lines: no threshold, no reduction over heads)
    const acts = activeControls(compact && view === "head" ? "topk" : view, model.get("explain_method"));
    const why = `does nothing in the ${view} view`;
    layer.input.disabled = L === 0 || !acts.layer;
    head.input.disabled = H === 0 || !acts.head;
    threshold.input.disabled = !acts.threshold;
    reduce.disabled = !acts.reduce;
    allButton.disabled = H === 0 || !acts.chips;
    for (const chip of chipEls) chip.disabled = !acts.chips;
    for (const [control, on] of [
      [layer.input, acts.layer],
      [head.input, acts.head],
      [threshold.input, acts.threshold],
      [reduce, acts.reduce],
      [allButton, acts.chips],
    ]) {
      if (control.dataset.title === undefined) control.dataset.title = control.title || "";
      if (on) control.removeAttribute("data-inactive");
      else control.setAttribute("data-inactive", why);
      control.title = on ? control.dataset.title : why;
    }
    // info.unavailable_views: views this page cannot show (a static HTML export has no model).
    const unavailable = Array.isArray((model.get("info") || {}).unavailable_views) ? model.get("info").unavailable_views : [];
    for (const b of viewButtons) {
      const on = b.dataset.view === view;
      b.setAttribute("aria-pressed", on ? "true" : "false");
      b.classList.toggle("aw-on", on);
      b.hidden = unavailable.includes(b.dataset.view) && !on;
      // A compact capture (a long decoder-LLM input): views that need whole layers are off, and say why.
      const off = compact && !COMPACT_VIEWS.includes(b.dataset.view);
      b.disabled = off;
      b.title = off ? compactReason(b.dataset.view, (model.get("tokens") || []).length) : "";
    }
    syncText();
    syncBanners();
    syncInfo();
  }

  function setMessageError(message) {
    messageError = message ? String(message) : "";
    syncBanners();
  }

  function setBusy(next) {
    busy = Boolean(next);
    syncText();
  }

  function destroy() {
    for (const [target, type, fn] of listeners) target.removeEventListener(type, fn);
    el.remove();
  }

  sync();
  /** Enable the download buttons when the view on screen can be exported. */
  /** Enable the downloads, or disable them with the reason as their tooltip. */
  function setCanSave(on, why = "") {
    for (const [button, usual] of [
      [saveSvg, "Download this view as a vector SVG"],
      [savePng, "Download this view as a PNG"],
    ]) {
      button.disabled = !on;
      button.title = on || !why ? usual : why;
    }
  }

  return { el, sync, setMessageError, setBusy, setCanSave, destroy };
}

/** Why a view is off for a compact capture of n tokens (one line). */
export function compactReason(view, n) {
  return `The ${view} view needs whole [heads, N, N] layers, which a compact capture (${n.toLocaleString("en")} tokens) does not hold: the matrix view shows it tile by tile, the head view its top-k keys, the model view per-head statistics, the row view one query at a time.`;
}

/**
 * Which controls change what a view shows: { layer, head, chips, threshold, reduce } (true = it acts).
 * The head view uses them all; the matrix view ignores the threshold; the model view draws every
 * layer and head (the sliders move its outline); the neuron view is one head; the explain view is one
 * layer and head for per-head methods, all layers and heads otherwise.
 */
export function activeControls(view, explainMethod) {
  switch (view) {
    case "matrix":
      return { layer: true, head: true, chips: true, threshold: false, reduce: true };
    case "row":
      return { layer: true, head: true, chips: true, threshold: false, reduce: true };
    case "topk":
      return { layer: true, head: true, chips: true, threshold: false, reduce: false };
    case "model":
    case "neuron":
      return { layer: true, head: true, chips: false, threshold: false, reduce: false };
    case "explain": {
      const one = perHead(explainMethod);
      return { layer: one, head: one, chips: false, threshold: false, reduce: one };
    }
    default:
      return { layer: true, head: true, chips: true, threshold: true, reduce: true };
  }
}

/** "org/name" stays; "/home/me/models/albert-base-v2/" -> "albert-base-v2". */
export function shortModelName(nameOrPath) {
  const trimmed = nameOrPath.replace(/[\\/]+$/, "");
  const looksLocal = /^([A-Za-z]:)?[\\/~.]/.test(trimmed);
  if (!looksLocal) return trimmed;
  const parts = trimmed.split(/[\\/]/).filter(Boolean);
  const last = parts[parts.length - 1] || trimmed;
  if (last === "model" && parts.length > 1) return parts[parts.length - 2];
  return last;
}
