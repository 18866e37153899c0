// The model's own layer and head numbers. bertviz's include_layers / include_heads keep only some
// layers and heads; the widget's `info.layer_numbers` / `info.head_numbers` then say which: index i
// on the page is the model's layer layer_numbers[i]. Every number the page shows (sliders, chips,
// captions, titles of downloaded figures) goes through here; indices stay indices everywhere else.

/** The model's number of index `i` in `list` (i itself without a list or for an index outside it). */
function pick(list) {
  if (!Array.isArray(list) || list.length === 0) return (i) => i;
  return (i) => (Number.isInteger(i) && i >= 0 && i < list.length && Number.isInteger(list[i]) ? list[i] : i);
}

/**
 * @param {object} info the widget's `info` trait
 * @returns {{ layer: (i: number) => number, head: (h: number) => number, renumbered: boolean }}
 */
export function numbering(info) {
  const inf = info || {};
  return {
    layer: pick(inf.layer_numbers),
    head: pick(inf.head_numbers),
    renumbered: Array.isArray(inf.layer_numbers) || Array.isArray(inf.head_numbers),
  };
}

/** The identity numbering (indices are the model's numbers). */
export const PLAIN = numbering(null);
