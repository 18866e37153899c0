// The explorer's toolbar row: attention kind (encoder / decoder / cross), sentence-pair filter,
// word level, hide special tokens, mean/max over layers, token search. Each control writes its
// trait; sync() reads the traits back when Python changes them.

import { setTrait } from "./controls.js";
import { h } from "./dom.js";
import { availableKinds, currentKind, exploreState, hasPair, KIND_LABELS, LAYER_REDUCE_MODES, PAIR_FILTERS, PAIR_LABELS } from "./filters.js";

function select(doc, cls, label, options) {
  const el = h(doc, "select", { cls, attrs: { "aria-label": label } });
  for (const [value, text] of options) el.appendChild(h(doc, "option", { text, attrs: { value } }));
  const wrap = h(doc, "label", { cls: "aw-field" }, [h(doc, "span", { cls: "aw-field-label", text: label }), el]);
  return { el, wrap };
}

function toggle(doc, cls, label, title) {
  const el = h(doc, "input", { cls, attrs: { type: "checkbox", "aria-label": label } });
  const wrap = h(doc, "label", { cls: "aw-field aw-toggle", attrs: { title } }, [el, h(doc, "span", { text: label })]);
  return { el, wrap };
}

/**
 * @param {{ model, doc?: Document }} options
 * @returns {{ el, sync(), destroy() }}
 */
export function createExploreControls({ model, doc = document, root = null }) {
  const kind = select(doc, "aw-kind", "Attention", [["encoder", KIND_LABELS.encoder]]);
  const pair = select(
    doc,
    "aw-pair-filter",
    "Sentences",
    PAIR_FILTERS.map((f) => [f, PAIR_LABELS[f]]),
  );
  const layers = select(
    doc,
    "aw-layer-reduce",
    "Layers",
    LAYER_REDUCE_MODES.map((m) => [m, m === "none" ? "this layer" : `${m} of all`]),
  );
  const words = toggle(doc, "aw-word-level", "Words", "Merge sub-word pieces into words: attention to a word is the sum over its pieces, from a word the mean");
  const special = toggle(doc, "aw-hide-special", "Hide special", "Hide [CLS]/[SEP]-like tokens and renormalise every row to sum to 1");
  const search = h(doc, "input", {
    cls: "aw-search",
    attrs: { type: "search", placeholder: "Find token", "aria-label": "Find token", spellcheck: "false" },
  });
  const el = h(doc, "div", { cls: "aw-row aw-row-explore" }, [kind.wrap, pair.wrap, layers.wrap, words.wrap, special.wrap, search]);

  let kindsShown = "";
  const listeners = [
    [kind.el, "change", () => setTrait(model, "attention_kind", kind.el.value)],
    [pair.el, "change", () => setTrait(model, "pair_filter", pair.el.value)],
    [layers.el, "change", () => setTrait(model, "layer_reduce", layers.el.value)],
    [words.el, "change", () => setTrait(model, "word_level", words.el.checked)],
    [special.el, "change", () => setTrait(model, "hide_special", special.el.checked)],
    [search, "input", () => setTrait(model, "token_search", search.value)],
  ];
  for (const [target, type, fn] of listeners) target.addEventListener(type, fn);

  function syncKinds() {
    const kinds = availableKinds(model.get("kinds"));
    const key = kinds.join(",");
    if (key !== kindsShown) {
      kindsShown = key;
      while (kind.el.firstChild) kind.el.removeChild(kind.el.firstChild);
      for (const k of kinds) kind.el.appendChild(h(doc, "option", { text: KIND_LABELS[k], attrs: { value: k } }));
    }
    kind.wrap.hidden = kinds.length < 2;
    kind.el.value = currentKind(model.get("attention_kind"), kinds);
    return kind.el.value;
  }

  function sync() {
    const state = exploreState((name) => model.get(name));
    if (root) {
      // display_mode "light" / "dark" overrides JupyterLab's theme (bertviz's model_view option).
      const mode = model.get("display_mode");
      root.classList.toggle("aw-mode-dark", mode === "dark");
      root.classList.toggle("aw-mode-light", mode === "light");
    }
    const k = syncKinds();
    pair.el.value = state.pairFilter;
    // The pair filter only means something for a sentence pair's self-attention.
    pair.wrap.hidden = k !== "encoder" || !hasPair(model.get("segments") || []);
    layers.el.value = state.layerReduce;
    layers.el.disabled = (model.get("num_layers") | 0) < 2;
    words.el.checked = state.wordLevel;
    special.el.checked = state.hideSpecial;
    if (doc.activeElement !== search && search.value !== state.search) search.value = state.search;
    // A compact capture's matrix is drawn from tiles computed by the kernel: the page's filters (which
    // need whole layers in the page) do not apply, and say so.
    const compact = model.get("attention_form") === "compact";
    const why = "does not apply to a compact capture (its tiles are computed exactly by the kernel)";
    for (const control of [layers.el, words.el, special.el, search]) {
      if (control.dataset.title === undefined) control.dataset.title = control.title || "";
      control.title = compact ? why : control.dataset.title;
      if (compact) control.disabled = true;
      else if (control !== layers.el) control.disabled = false;
    }
  }

  function destroy() {
    for (const [target, type, fn] of listeners) target.removeEventListener(type, fn);
    el.remove();
  }

  sync();
  return { el, sync, destroy };
}
