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
    .split(SP_SPACE)
    .join(" ")
    .split(BPE_SPACE)
    .join(" ")
    .split(BPE_NEWLINE)
    .join(NEWLINE)
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

const SPECIAL_NAMES = new Set(["[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "<s>", "</s>", "<pad>", "<unk>", "<mask>", "<|endoftext|>"]);
const SPECIAL_PATTERN = /^(\[[A-Z][A-Z0-9_]*\]|<\|[A-Za-z0-9_]+\|>|<extra_id_[0-9]+>)$/;

/** Whether a token looks special ([CLS], </s>, <|endoftext|>, ...); used when no mask is given. */
export function looksSpecial(token) {
  const t = token === null || token === undefined ? "" : String(token);
  return SPECIAL_NAMES.has(t) || SPECIAL_PATTERN.test(t);
}

/**
 * Word index of every token (the same rules as albert_widget/words.py word_groups). With WordPiece
 * ("##" pieces present) every piece that is not a continuation starts a word; with
 * SentencePiece/byte-level BPE (▁/Ġ markers present) only marked pieces do. Special tokens are words
 * of their own and always end the word before them; a new segment (sentence B) starts a new word.
 * `special` is the special-token mask (guessed from the text when missing or of another length).
 */
export function wordGroups(tokens, special = null, segments = null) {
  const n = tokens.length;
  const parsed = tokens.map(displayToken);
  const spec = Array.isArray(special) && special.length === n ? special.map(Boolean) : tokens.map(looksSpecial);
  const segs = Array.isArray(segments) && segments.length === n ? segments : null;
  const wordPiece = parsed.some((p) => p.continuation);
  const marked = parsed.some((p) => p.wordStart);
  const groups = new Array(n);
  let word = -1;
  for (let i = 0; i < n; i++) {
    const p = parsed[i];
    let starts;
    if (i === 0 || spec[i] || spec[i - 1] || (segs && segs[i] !== segs[i - 1])) starts = true;
    else if (wordPiece) starts = !p.continuation;
    else if (marked) starts = p.wordStart;
    else starts = true;
    if (starts) word++;
    groups[i] = word;
  }
  return groups;
}

/** For every word, the indices of its tokens. */
export function wordMembers(groups) {
  const members = [];
  groups.forEach((g, i) => {
    while (members.length <= g) members.push([]);
    members[g].push(i);
  });
  return members;
}

/**
 * A word as one raw token: its first piece, then the others with "##" stripped
 * (["▁foot", "ball"] -> "▁football", ["foot", "##ball"] -> "football"); python: word_tokens.
 */
export function wordRaw(tokens, members) {
  let out = "";
  members.forEach((i, k) => {
    const t = tokens[i] === null || tokens[i] === undefined ? "" : String(tokens[i]);
    out += k > 0 && displayToken(t).continuation ? t.slice(2) : t;
  });
  return out;
}
