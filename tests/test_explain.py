"""Explain view (albert_widget/explain.py + the widget's "explain"/"head_stats" messages): every reply
equals the analysis function's output on the same capture (float32, exact); failures come back as
``error`` in the reply, never raised, and leave the widget's ``error`` trait alone."""

from __future__ import annotations

import numpy as np
import pytest
from page_messages import page_message

from albert_widget import AttentionWidget, analysis
from albert_widget.explain import EXPLAIN_METHODS, ExplainSource, pooled_norm, reply_to_explain

TEXT = "The cat sat on the mat, because it was tired."


def _sent(widget):
    out = []
    widget.send = lambda content, buffers=None: out.append((content, list(buffers or [])))
    return out


def _ask(widget, sent, **content):
    before = len(sent)
    message = {"type": "explain", "revision": widget.revision, "layer": 0, "head": 0, **content}
    page_message(widget, message)
    assert len(sent) == before + 1, sent[before:]
    return sent[-1]


def _array(reply, buffers):
    assert "error" not in reply, reply
    assert reply["dtype"] == "float32" and len(buffers) == 1
    return np.frombuffer(buffers[0], dtype="<f4").reshape(reply["shape"])


@pytest.fixture
def demo(minilm):
    model, tokenizer = minilm
    w = AttentionWidget(model, tokenizer, TEXT, view="explain")
    return w, _sent(w)


def test_rollout_and_flow_replies_equal_the_analysis_functions(demo):
    w, sent = demo
    reply, buffers = _ask(w, sent, method="rollout", layer=3, head=5)
    assert (reply["type"], reply["revision"], reply["method"]) == ("explain", w.revision, "rollout")
    np.testing.assert_array_equal(_array(reply, buffers), analysis.rollout(w.result.attention).astype(np.float32))
    reply, buffers = _ask(w, sent, method="flow")
    np.testing.assert_array_equal(_array(reply, buffers), analysis.attention_flow(w.result.attention).astype(np.float32))
    assert w.error == ""


def test_norm_reply_is_one_head_or_the_mean_over_heads(demo, minilm):
    w, sent = demo
    model, tokenizer = minilm
    full = analysis.norm_attention(model, tokenizer, TEXT)
    reply, buffers = _ask(w, sent, method="norm", layer=2, head=7)
    assert (reply["layer"], reply["head"], reply["reduce"]) == (2, 7, "none")
    np.testing.assert_array_equal(_array(reply, buffers), full[2, 7])
    reply, buffers = _ask(w, sent, method="norm", layer=4, head=0, reduce="mean")
    np.testing.assert_array_equal(_array(reply, buffers), full[4].mean(axis=0, dtype=np.float32))
    reply, buffers = _ask(w, sent, method="norm", layer=4, head=0, reduce="max")
    np.testing.assert_array_equal(_array(reply, buffers), full[4].max(axis=0))


def test_relevancy_of_a_base_model_explains_the_documented_proxy(demo, minilm):
    w, sent = demo
    model, tokenizer = minilm
    reply, buffers = _ask(w, sent, method="relevancy")
    expected = analysis.relevancy(model, tokenizer, TEXT, pooled_norm).scores.astype(np.float32)
    got = _array(reply, buffers)
    assert got.shape == (w.result.num_tokens,)
    np.testing.assert_array_equal(got, expected)
    assert "no head" in reply["note"]


def test_relevancy_of_a_classifier_and_of_a_masked_lm(albert_tokenizer):
    import torch
    from conftest import tiny_albert_config
    from transformers import AlbertForMaskedLM, AlbertForSequenceClassification

    torch.manual_seed(0)
    clf = AlbertForSequenceClassification(tiny_albert_config(len(albert_tokenizer), num_labels=3)).eval()
    w = AttentionWidget(clf, albert_tokenizer, TEXT, view="explain")
    sent = _sent(w)
    reply, buffers = _ask(w, sent, method="relevancy")
    rel = analysis.relevancy(clf, albert_tokenizer, TEXT)
    np.testing.assert_array_equal(_array(reply, buffers), rel.scores.astype(np.float32))
    assert "sequence-classification" in reply["note"]

    torch.manual_seed(0)
    mlm = AlbertForMaskedLM(tiny_albert_config(len(albert_tokenizer))).eval()
    w = AttentionWidget(mlm, albert_tokenizer, TEXT, view="explain")
    sent = _sent(w)
    reply, buffers = _ask(w, sent, method="relevancy")
    last = int(np.nonzero(~np.asarray(w.result.special_tokens_mask))[0][-1])  # no [MASK]: the last word piece
    rel = analysis.relevancy(mlm, albert_tokenizer, TEXT, position=last)
    np.testing.assert_array_equal(_array(reply, buffers), rel.scores.astype(np.float32))
    assert f"at token {last}" in reply["note"]


def test_errors_are_reported_in_the_reply_not_raised(minilm):
    model, tokenizer = minilm
    long_text = " ".join(["word"] * (analysis.FLOW_MAX_TOKENS + 5))
    w = AttentionWidget(model, tokenizer, long_text, view="explain")
    sent = _sent(w)
    reply, buffers = _ask(w, sent, method="flow")
    assert buffers == [] and "limited to" in reply["error"] and str(analysis.FLOW_MAX_TOKENS) in reply["error"]
    reply, _ = _ask(w, sent, method="rollout")  # other methods still work
    assert "error" not in reply
    reply, _ = _ask(w, sent, method="bogus")
    assert "method must be one of" in reply["error"]
    reply, _ = _ask(w, sent, method="norm", layer=99)
    assert "layer must be between" in reply["error"]
    assert w.error == ""

    # A from_attention widget has no model: norm and relevancy say so; rollout works.
    fixed = AttentionWidget.from_attention(w.result.attention[:, :, :8, :8].copy(), list(w.result.tokens[:8]))
    sent = _sent(fixed)
    for method in ("norm", "relevancy"):
        reply, buffers = _ask(fixed, sent, method=method)
        assert buffers == [] and "needs the model" in reply["error"], reply
    reply, buffers = _ask(fixed, sent, method="rollout")
    np.testing.assert_array_equal(_array(reply, buffers), analysis.rollout(fixed.result.attention).astype(np.float32))
    assert fixed.error == ""


def test_replies_are_cached_per_revision_and_old_revisions_ignored(demo):
    w, sent = demo
    source = ExplainSource()
    content = {"type": "explain", "revision": w.revision, "method": "flow", "layer": 0, "head": 0}
    first = source.explain(w.result, w.revision, content)
    second = source.explain(w.result, w.revision, content)
    assert source.computed == 1 and first[1][0] == second[1][0]
    source.explain(w.result, w.revision + 1, {**content, "revision": w.revision + 1})
    assert source.computed == 2
    # The widget fails a stale request without computing anything.
    before = w._explain.computed
    page_message(w, {**content, "revision": w.revision + 7})
    assert sent[-1][0]["stale"] is True and "error" in sent[-1][0] and w._explain.computed == before


def test_head_stats_reply_equals_head_stats_of_the_capture(demo):
    w, sent = demo
    page_message(w, {"type": "head_stats", "revision": w.revision})
    reply, buffers = sent[-1]
    assert reply["type"] == "head_stats" and reply["statistics"] == list(analysis.STATISTICS)
    arr = np.frombuffer(buffers[0], dtype="<f4").reshape(reply["shape"])
    assert arr.shape == (len(analysis.STATISTICS), w.num_layers, w.num_heads)
    stats = analysis.head_stats([w.result], progress=False, js=False)
    for k, name in enumerate(analysis.STATISTICS):
        np.testing.assert_array_equal(arr[k], getattr(stats, name).astype(np.float32))
    assert reply["uniform_entropy"] == pytest.approx(stats.uniform_entropy)


def test_explain_method_trait_and_view():
    assert EXPLAIN_METHODS == ("rollout", "flow", "relevancy", "norm")
    att = np.full((2, 2, 3, 3), 1 / 3, dtype=np.float32)
    w = AttentionWidget.from_attention(att, ["[CLS]", "a", "[SEP]"], view="explain")
    assert w.view == "explain" and w.explain_method == "rollout"
    w.explain_method = "norm"
    with pytest.raises(Exception, match="explain_method"):
        w.explain_method = "saliency"
    reply, _ = reply_to_explain(w.result, w.revision, {"method": "rollout", "revision": w.revision})
    assert reply["shape"] == [3, 3]
