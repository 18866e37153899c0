// Token label elements shared by the views. Token text is untrusted: textContent only.

import { displayToken } from "../tokens.js";
import { h } from "../dom.js";

/** Display info of every token: [{ raw, text, wordStart, continuation, blank, special, segment }]. */
export function tokenInfos(tokens, special = [], segments = []) {
  return tokens.map((raw, i) => ({ raw, ...displayToken(raw), special: Boolean(special[i]), segment: segments[i] ?? 0 }));
}

/** One token label: class aw-token, data-index, text via textContent, raw token in the title. */
export function tokenElement(doc, info, index, extraClass = "") {
  let cls = "aw-token";
  if (extraClass) cls += ` ${extraClass}`;
  if (info.special) cls += " aw-special";
  if (info.wordStart) cls += " aw-word-start";
  if (info.continuation) cls += " aw-cont";
  if (info.blank) cls += " aw-blank";
  if (info.segment === 1) cls += " aw-seg-b";
  const el = h(doc, "div", { cls, text: info.text, dataset: { index } });
  el.title = `${index}: ${JSON.stringify(String(info.raw ?? ""))}`;
  return el;
}
