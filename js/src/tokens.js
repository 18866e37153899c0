// Token display text. Tokens are untrusted text: callers put the result in the page with
// textContent only.
//
//   SentencePiece  "▁the"  -> "the"   (word start)
//   WordPiece      "##ing" -> "ing"   (continuation of the previous word)
//   byte-level BPE "Ġthe"  -> "the"   (word start), "Ċ" -> "⏎" (newline)
//   ""  or whitespace only -> "␣"     (visible placeholder)

export const BLANK = "␣";
export const NEWLINE = "⏎";
export const TAB = "⇥";

const SP_SPACE = "▁"; // U+2581
const BPE_SPACE = "Ġ"; // U+0120, byte-level BPE space
const BPE_NEWLINE = "Ċ"; // U+010A, byte-level BPE newline

/**
 * Parse one raw token into { text, wordStart, continuation, blank }.
 * `text` is what to show; `wordStart` marks a token that began with a space marker (▁ / Ġ);
 * `continuation` marks a WordPiece "##" piece; `blank` marks an empty/whitespace-only token.
 */
export function displayToken(token) {
  let text = token === null || token === undefined ? "" : String(token);
  let wordStart = false;
  let continuation = false;
  if (text.startsWith(SP_SPACE) || text.startsWith(BPE_SPACE)) {
    wordStart = true;
    text = text.slice(1);
  } else if (text.startsWith("##") && text.length > 2) {
    continuation = true;
    text = text.slice(2);
  }
  text = text
    .split(SP_SPACE).join(" ")
    .split(BPE_SPACE).join(" ")
    .split(BPE_NEWLINE).join(NEWLINE)
    .replace(/\r\n|\n|\r/g, NEWLINE)
    .replace(/\t/g, TAB);
  const blank = text.trim() === "";
  if (blank) text = BLANK;
  return { text, wordStart, continuation, blank };
}

/** The text to show for one raw token. */
export function displayText(token) {
  return displayToken(token).text;
}

/**
 * Word index of every token. With WordPiece ("##" pieces present) every piece that is not a
 * continuation starts a word; with SentencePiece/byte-level BPE (▁/Ġ markers present) only marked
 * pieces do. Special tokens are words of their own and always end the word before them.
 */
export function wordGroups(tokens, special = []) {
  const parsed = tokens.map(displayToken);
  const wordPiece = parsed.some((p) => p.continuation);
  const marked = parsed.some((p) => p.wordStart);
  const groups = new Array(tokens.length);
  let word = -1;
  for (let i = 0; i < tokens.length; i++) {
    const p = parsed[i];
    const isSpecial = Boolean(special[i]);
    const afterSpecial = i > 0 && Boolean(special[i - 1]);
    let starts;
    if (i === 0 || isSpecial || afterSpecial) starts = true;
    else if (wordPiece) starts = !p.continuation;
    else if (marked) starts = p.wordStart;
    else starts = true;
    if (starts) word++;
    groups[i] = word;
  }
  return groups;
}
