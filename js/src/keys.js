// Keyboard navigation (pure): ArrowLeft/ArrowRight move the head, ArrowUp/ArrowDown the layer.

import { clampIndex } from "./reduce.js";

const MOVES = {
  ArrowLeft: ["head", -1],
  ArrowRight: ["head", 1],
  ArrowUp: ["layer", 1],
  ArrowDown: ["layer", -1],
};

/**
 * The trait change for a key: { name, value, changed } or null when the key is not a navigation key.
 * `state` = { layer, head, numLayers, numHeads }; values are clamped to the valid range.
 */
export function keyAction(key, { layer, head, numLayers, numHeads }) {
  const move = MOVES[key];
  if (!move) return null;
  const [name, delta] = move;
  const [current, count] = name === "head" ? [head, numHeads] : [layer, numLayers];
  if (count <= 0) return { name, value: 0, changed: false };
  const from = clampIndex(current, count);
  const value = clampIndex(from + delta, count);
  return { name, value, changed: value !== current };
}

/** True for events typed into a form control, which keep their own arrow-key behaviour. */
export function isFormTarget(target) {
  const tag = target && target.tagName ? target.tagName.toUpperCase() : "";
  return tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || Boolean(target && target.isContentEditable);
}
