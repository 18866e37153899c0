// What the head and matrix views show of one layer: sentence-pair filters, special tokens hidden
// (rows renormalised), sub-word pieces merged into words, mean/max over layers, the causal mask and
// token search. Pure functions on typed arrays (tested with node), plus one DOM helper (markMatches).
//
// Order of the steps, for every head of an [H, R, C] layer (rows = queries, columns = keys):
//   1. hide special tokens: drop their rows and columns and renormalise every row over the columns
//      that stay (exBERT), so rows sum to 1 again;
//   2. word level: attention TO a word = sum over its pieces (columns), FROM a word = mean over its
//      pieces (rows) (Clark et al., 2019; python: albert_widget/words.py merge_to_words);
//   3. pair filter: keep the rows (queries) of one sentence and the columns (keys) of the other, as
//      bertviz's "Sentence A -> Sentence B" does (a slice: no renormalisation).

import { ATTENTION_KINDS, REDUCTIONS as LAYER_REDUCE_MODES, PAIR_FILTERS } from "./names.js";
import { BLANK, displayToken, NEWLINE, TAB, wordGroups, wordMembers, wordRaw } from "./tokens.js";
import { tokenInfos } from "./views/labels.js";

export { ATTENTION_KINDS, LAYER_REDUCE_MODES, PAIR_FILTERS };

/** A raw token shown as it is (prettify_tokens off): only blanks, newlines and tabs made visible. */
export function rawDisplay(raw) {
  const text = raw === null || raw === undefined ? "" : String(raw);
  if (text.trim() === "") return text.includes("\n") ? NEWLINE : BLANK;
  return text.replace(/\r\n|\n|\r/g, NEWLINE).replace(/\t/g, TAB);
}

export const PAIR_LABELS = { all: "All", aa: "A → A", ab: "A → B", ba: "B → A", bb: "B → B" };
export const KIND_LABELS = { encoder: "Encoder", decoder: "Decoder", cross: "Cross" };

/** All layers of a layer reduction must fit in the page's cache at once (store budget 256 MiB). */
export const LAYER_REDUCE_MAX_BYTES = 192 * 1024 * 1024;

/** [query segment, key segment] of a pair filter, or null for "all" / unknown values. */
export function pairSegments(filter) {
  switch (filter) {
    case "aa":
      return [0, 0];
    case "ab":
      return [0, 1];
    case "ba":
      return [1, 0];
    case "bb":
      return [1, 1];
    default:
      return null;
  }
}

/** Whether a segment list has both sentences (a pair filter makes sense). */
export function hasPair(segments) {
  if (!segments || segments.length === 0) return false;
  let a = false;
  let b = false;
  for (const s of segments) {
    if (s === 1) b = true;
    else a = true;
    if (a && b) return true;
  }
  return false;
}

/** The attention kinds a widget offers (always "encoder" first). */
export function availableKinds(kinds) {
  const list = Array.isArray(kinds) ? kinds.filter((k) => ATTENTION_KINDS.includes(k)) : [];
  return list.includes("encoder") ? list : ["encoder", ...list];
}

/** The kind to show: the trait when it is available, otherwise "encoder". */
export function currentKind(kind, kinds) {
  return availableKinds(kinds).includes(kind) ? kind : "encoder";
}

/**
 * Row and column tokens of a kind: encoder (tokens x tokens), decoder (decoder_tokens x
 * decoder_tokens), cross (decoder_tokens x tokens). `get(name)` reads a trait.
 */
export function kindAxes(kind, get) {
  const enc = {
    tokens: get("tokens") || [],
    special: get("special") || [],
    segments: get("segments") || [],
  };
  const decTokens = get("decoder_tokens") || [];
  const dec = {
    tokens: decTokens,
    special: get("decoder_special") || [],
    segments: decTokens.map(() => 0),
  };
  if (kind === "decoder") return { rows: dec, cols: dec, square: true };
  if (kind === "cross") return { rows: dec, cols: enc, square: false };
  return { rows: enc, cols: enc, square: true };
}

/** Layers and heads of a kind: info.kind_shapes[kind] when Python sent it, else the traits. */
export function kindShape(kind, info, numLayers, numHeads) {
  const shapes = info && typeof info === "object" ? info.kind_shapes : null;
  const s = shapes && Array.isArray(shapes[kind]) ? shapes[kind] : null;
  if (s && Number.isInteger(s[0]) && Number.isInteger(s[1])) return [s[0], s[1]];
  return [numLayers, numHeads];
}

/** Whether a kind's matrices have a causal (upper-triangle) mask. */
export function isCausal(kind, info) {
  if (kind === "cross") return false;
  if (kind === "decoder") return true;
  return Boolean(info && info.is_causal);
}

/**
 * The groups of one axis: which original indices make each shown row (or column).
 * Returns { members: number[][], infos, kept: boolean[] } where kept marks the original indices that
 * are not hidden (the columns a row is renormalised over).
 */
export function axisPlan(axis, { wordLevel = false, hideSpecial = false, prettify = true } = {}) {
  const { tokens, special = [], segments = [] } = axis;
  const n = tokens.length;
  const kept = new Array(n);
  for (let i = 0; i < n; i++) kept[i] = !(hideSpecial && special[i]);
  const base = tokenInfos(tokens, special, segments);
  let members;
  let infos;
  if (wordLevel) {
    const groups = wordGroups(tokens, special.length === n ? special : null, segments.length === n ? segments : null);
    members = [];
    infos = [];
    for (const word of wordMembers(groups)) {
      const shown = word.filter((i) => kept[i]);
      if (shown.length === 0) continue;
      members.push(shown);
      const first = base[shown[0]];
      const raw = prettify ? wordRaw(tokens, shown) : shown.map((i) => String(tokens[i] ?? "")).join("");
      const shownText = prettify ? displayToken(raw) : { text: rawDisplay(raw), wordStart: false, continuation: false, blank: raw.trim() === "" };
      infos.push({ ...first, raw, ...shownText, pieces: shown.length });
    }
  } else {
    members = [];
    infos = [];
    for (let i = 0; i < n; i++) {
      if (!kept[i]) continue;
      members.push([i]);
      infos.push(prettify ? base[i] : { ...base[i], text: rawDisplay(base[i].raw), wordStart: false, continuation: false });
    }
  }
  return { members, infos, kept };
}

/**
 * The plan of one view: which original rows/columns make each shown row/column.
 * options: { rows, cols, square, pairFilter, wordLevel, hideSpecial, causal } where rows/cols are
 * { tokens, special, segments } (see kindAxes).
 * Returns { identity, rowMembers, colMembers, rowInfos, colInfos, keptCols, renormalise, causal,
 * pair, key } (identity: nothing to change).
 */
export function viewPlan({ rows, cols, square = true, pairFilter = "all", wordLevel = false, hideSpecial = false, causal = false, prettify = true }) {
  const opts = { wordLevel: Boolean(wordLevel), hideSpecial: Boolean(hideSpecial), prettify: prettify !== false };
  const r = axisPlan(rows, opts);
  const c = square && rows === cols ? r : axisPlan(cols, opts);
  let pair = square ? pairSegments(pairFilter) : null;
  if (pair && !hasPair(rows.segments)) pair = null;
  let rowMembers = r.members;
  let rowInfos = r.infos;
  let colMembers = c.members;
  let colInfos = c.infos;
  if (pair) {
    const keepRows = rowInfos.map((info) => (info.segment === 1 ? 1 : 0) === pair[0]);
    const keepCols = colInfos.map((info) => (info.segment === 1 ? 1 : 0) === pair[1]);
    rowMembers = rowMembers.filter((_, k) => keepRows[k]);
    rowInfos = rowInfos.filter((_, k) => keepRows[k]);
    colMembers = colMembers.filter((_, k) => keepCols[k]);
    colInfos = colInfos.filter((_, k) => keepCols[k]);
  }
  const identity = !opts.wordLevel && !opts.hideSpecial && !pair;
  const key = JSON.stringify([rowInfos.map((x) => [x.raw, x.text, x.special, x.segment]), colInfos.map((x) => [x.raw, x.text, x.special, x.segment])]);
  return {
    identity,
    rowMembers,
    colMembers,
    rowInfos,
    colInfos,
    keptCols: c.kept,
    renormalise: opts.hideSpecial,
    causal: Boolean(causal),
    pair: pair ? pairFilter : "all",
    key,
  };
}

/**
 * Apply a plan to an [H, R, C] layer: returns { data: Float32Array, shape: [H, rows, cols] }
 * (the input itself for an identity plan). Sums run in float64.
 */
export function applyPlan(data, shape, plan) {
  const [H, R, C] = shape;
  if (plan.identity) return { data, shape: [H, R, C] };
  const outR = plan.rowMembers.length;
  const outC = plan.colMembers.length;
  const out = new Float32Array(H * outR * outC);
  const colOf = new Int32Array(C).fill(-1);
  plan.colMembers.forEach((members, J) => {
    for (const j of members) colOf[j] = J;
  });
  const acc = new Float64Array(outC);
  for (let h = 0; h < H; h++) {
    const src = h * R * C;
    const dst = h * outR * outC;
    for (let I = 0; I < outR; I++) {
      acc.fill(0);
      const members = plan.rowMembers[I];
      for (const i of members) {
        const row = src + i * C;
        let scale = 1 / members.length;
        if (plan.renormalise) {
          let s = 0;
          for (let j = 0; j < C; j++) if (plan.keptCols[j]) s += data[row + j];
          if (!(s > 0)) continue; // all of its attention went to hidden tokens: nothing to show
          scale /= s;
        }
        for (let j = 0; j < C; j++) {
          const J = colOf[j];
          if (J >= 0) acc[J] += data[row + j] * scale;
        }
      }
      for (let J = 0; J < outC; J++) out[dst + I * outC + J] = acc[J];
    }
  }
  return { data: out, shape: [H, outR, outC] };
}

/**
 * Word-level merge of one [R, C] matrix (Float32Array or array) given word groups of rows and
 * columns: out[I, J] = mean_{i in I} sum_{j in J} a[i, j]. The twin of words.py merge_to_words.
 */
export function mergeToWords(matrix, groups, colGroups = groups) {
  const R = groups.length;
  const C = colGroups.length;
  const rowMembers = wordMembers(groups);
  const colMembers = wordMembers(colGroups);
  const plan = {
    identity: false,
    rowMembers,
    colMembers,
    keptCols: new Array(C).fill(true),
    renormalise: false,
  };
  return applyPlan(Float32Array.from(matrix), [1, R, C], plan).data;
}

/**
 * Cells of the causal mask after a plan: 1 where every key of the column comes after every query
 * of the row (weights the model cannot have), else 0. null when not causal or nothing is masked.
 */
export function causalMask(plan, rows, cols) {
  if (!plan.causal) return null;
  const rowMembers = plan.identity ? Array.from({ length: rows }, (_, i) => [i]) : plan.rowMembers;
  const colMembers = plan.identity ? Array.from({ length: cols }, (_, j) => [j]) : plan.colMembers;
  const R = rowMembers.length;
  const C = colMembers.length;
  const mask = new Uint8Array(R * C);
  let any = false;
  const colMin = colMembers.map((m) => Math.min(...m));
  for (let I = 0; I < R; I++) {
    const rowMax = Math.max(...rowMembers[I]);
    for (let J = 0; J < C; J++) {
      if (colMin[J] > rowMax) {
        mask[I * C + J] = 1;
        any = true;
      }
    }
  }
  return any ? mask : null;
}

/**
 * Mean or max over layers of [H, R, C] layers (all of the same shape): one Float32Array.
 */
export function reduceLayers(datas, mode) {
  if (!datas.length) return new Float32Array(0);
  const size = datas[0].length;
  const out = new Float32Array(size);
  if (mode === "max") {
    out.set(datas[0]);
    for (let k = 1; k < datas.length; k++) {
      const d = datas[k];
      for (let i = 0; i < size; i++) if (d[i] > out[i]) out[i] = d[i];
    }
    return out;
  }
  const acc = new Float64Array(size);
  for (const d of datas) for (let i = 0; i < size; i++) acc[i] += d[i];
  const inv = 1 / datas.length;
  for (let i = 0; i < size; i++) out[i] = acc[i] * inv;
  return out;
}

/**
 * Memoised mean/max over all layers of a store: get(store, numLayers, mode, tag) returns
 * { data, shape } once every layer is cached (requesting the missing ones), else null.
 */
export function createLayerReducer() {
  let memo = null; // { tag, mode, datas, result }
  return {
    /** The mean/max of `entries` (every layer's { data, shape }), memoised on the same arrays. */
    get(entries, mode, tag) {
      const datas = entries.map((e) => e.data);
      if (memo && memo.tag === tag && memo.mode === mode && memo.datas.length === datas.length && memo.datas.every((d, k) => d === datas[k])) {
        return memo.result;
      }
      const result = { data: reduceLayers(datas, mode), shape: entries[0].shape.slice() };
      memo = { tag, mode, datas, result };
      return result;
    },
    clear() {
      memo = null;
    },
  };
}

/** Bytes all layers of a kind take in the page (float32). */
export function allLayersBytes(numLayers, shape) {
  return numLayers * shape.reduce((a, b) => a * b, 1) * 4;
}

/** The label of a layer reduction ("" for none). */
export function layerReduceLabel(mode, numLayers) {
  return mode === "mean" || mode === "max" ? `${mode} of ${numLayers} layers` : "";
}

/**
 * Search: for every info, whether its shown text or raw token contains the query (case-insensitive,
 * surrounding spaces ignored). An empty query matches nothing.
 */
export function searchMatches(infos, query) {
  const q = String(query ?? "")
    .trim()
    .toLocaleLowerCase();
  if (q === "") return infos.map(() => false);
  return infos.map((info) => {
    const text = String(info.text ?? "").toLocaleLowerCase();
    const raw = String(info.raw ?? "").toLocaleLowerCase();
    return text.includes(q) || raw.includes(q);
  });
}

/**
 * Mark the tokens of a view that match: .aw-query tokens by their row, .aw-key tokens by their
 * column (class aw-token-match). Returns how many elements were marked.
 */
export function markMatches(el, rowMatches, colMatches) {
  let count = 0;
  for (const t of el.querySelectorAll(".aw-token")) {
    const i = Number(t.dataset.index);
    const list = t.classList.contains("aw-key") ? colMatches : rowMatches;
    const on = Boolean(list && list[i]);
    t.classList.toggle("aw-token-match", on);
    if (on) count++;
  }
  el.dataset.matches = String(count);
  return count;
}

/** Trait values of the explorer, validated (for the page). */
export function exploreState(get) {
  const pair = get("pair_filter");
  const reduce = get("layer_reduce");
  return {
    pairFilter: PAIR_FILTERS.includes(pair) ? pair : "all",
    wordLevel: Boolean(get("word_level")),
    hideSpecial: Boolean(get("hide_special")),
    layerReduce: LAYER_REDUCE_MODES.includes(reduce) ? reduce : "none",
    search: String(get("token_search") ?? ""),
    prettify: get("prettify_tokens") !== false,
  };
}
