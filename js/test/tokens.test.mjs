import assert from "node:assert/strict";
import { test } from "node:test";
import { BLANK, displayText, displayToken, NEWLINE, wordGroups } from "../src/tokens.js";

test("SentencePiece ▁ is stripped and marks a word start", () => {
  assert.deepEqual(displayToken("▁the"), { text: "the", wordStart: true, continuation: false, blank: false });
  assert.deepEqual(displayToken("ing"), { text: "ing", wordStart: false, continuation: false, blank: false });
  assert.equal(displayText("▁"), BLANK);
  assert.equal(displayText("▁New▁York"), "New York");
});

test("WordPiece ## is stripped and marks a continuation", () => {
  assert.deepEqual(displayToken("##ing"), { text: "ing", wordStart: false, continuation: true, blank: false });
  assert.equal(displayText("##"), "##");
  assert.equal(displayToken("##").continuation, false);
  assert.equal(displayText("#"), "#");
});

test("byte-level BPE Ġ and Ċ", () => {
  assert.deepEqual(displayToken("Ġthe"), { text: "the", wordStart: true, continuation: false, blank: false });
  assert.equal(displayText("Ċ"), NEWLINE);
  assert.equal(displayText("ĊĊ"), NEWLINE + NEWLINE);
  assert.equal(displayText("Ġ"), BLANK);
  assert.equal(displayText("ĠĠĠ"), BLANK);
  assert.equal(displayText(".Ċ"), "." + NEWLINE);
});

test("special tokens and plain text pass through", () => {
  for (const t of ["[CLS]", "[SEP]", "<s>", "</s>", "<pad>", "hello", "é", "日本"]) assert.equal(displayText(t), t);
});

test("empty, whitespace and missing tokens get a visible placeholder", () => {
  for (const t of ["", " ", "\u00a0", "  ", null, undefined]) {
    const d = displayToken(t);
    assert.equal(d.text, BLANK);
    assert.equal(d.blank, true);
  }
  assert.equal(displayText("\n"), NEWLINE);
  assert.equal(displayText("\t"), "⇥");
});

test("markup in tokens stays text (callers use textContent)", () => {
  assert.equal(displayText("<img src=x onerror=alert(1)>"), "<img src=x onerror=alert(1)>");
});

test("wordGroups: WordPiece", () => {
  const tokens = ["[CLS]", "play", "##ing", "foot", "##ball", "[SEP]", "yes", "[SEP]"];
  const special = [true, false, false, false, false, true, false, true];
  assert.deepEqual(wordGroups(tokens, special), [0, 1, 1, 2, 2, 3, 4, 5]);
});

test("wordGroups: SentencePiece and byte-level BPE", () => {
  assert.deepEqual(wordGroups(["[CLS]", "▁play", "ing", "▁foot", "ball", "[SEP]"], [true, false, false, false, false, true]), [0, 1, 1, 2, 2, 3]);
  assert.deepEqual(wordGroups(["<s>", "Hello", "Ġwor", "ld", "</s>"], [true, false, false, false, true]), [0, 1, 2, 2, 3]);
  assert.deepEqual(wordGroups(["a", "b"]), [0, 1]);
  assert.deepEqual(wordGroups([]), []);
});
