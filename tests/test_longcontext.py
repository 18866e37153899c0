"""Long-context capture: compact queries/keys/lse against the model's own eager forward pass.

Random-weight decoder models built from configs (Llama, Mistral with a sliding window, Qwen2 with
sliding and full layers, Gemma2 with soft-capping, GPT-2, GPT-NeoX) at a few hundred tokens; every
reference is ``outputs.attentions`` of an eager forward (or of eager step-by-step decoding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from albert_widget import capture
from albert_widget.capture import AttentionTooLargeError
from albert_widget.longcontext import (
    CompactAttention,
    CompactTooLargeError,
    attention_shape,
    capture_compact,
    capture_generate,
    compact_from_ids,
    estimate,
)
from albert_widget.result import AttentionResult
from albert_widget.tiny import random_llama

TOL = 1e-6
N = 300


def _llama(vocab=300):
    """3 layers, 8 query heads sharing 2 key/value heads, head size 8 (seed 0)."""
    return random_llama(vocab, seed=0, max_position_embeddings=1024)


def _mistral(vocab=300, window=50):
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(1)
    cfg = MistralConfig(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        sliding_window=window,
        max_position_embeddings=1024,
    )
    return MistralForCausalLM(cfg).eval()


def _qwen2(vocab=300):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(2)
    cfg = Qwen2Config(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=1,
        use_sliding_window=True,
        sliding_window=64,
        max_window_layers=1,
        max_position_embeddings=1024,
    )
    return Qwen2ForCausalLM(cfg).eval()


def _gemma2(vocab=300):
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(3)
    cfg = Gemma2Config(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        sliding_window=40,
        attn_logit_softcapping=5.0,
        query_pre_attn_scalar=24,
        max_position_embeddings=1024,
    )
    return Gemma2ForCausalLM(cfg).eval()


def _gpt2(vocab=300):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(4)
    return GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=1024, n_embd=64, n_layer=2, n_head=4)).eval()


def _neox(vocab=300):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    torch.manual_seed(5)
    cfg = GPTNeoXConfig(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        rotary_pct=0.25,
        max_position_embeddings=1024,
    )
    return GPTNeoXForCausalLM(cfg).eval()


def _gpt_oss(vocab=300):
    from transformers import GptOssConfig, GptOssForCausalLM

    torch.manual_seed(6)
    cfg = GptOssConfig(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        num_local_experts=2,
        num_experts_per_tok=1,
        sliding_window=16,
        max_position_embeddings=1024,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    )
    model = GptOssForCausalLM(cfg).eval()
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.sinks.normal_(0, 2)  # learned sink logits that take a real share
    return model


def _ids(n=N, vocab=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (1, n), generator=g)


def _eager(model, ids):
    """Per-layer float32 [H, N, N] numpy attention of an eager forward; the model is put back."""
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            out = model(ids, output_attentions=True)
    finally:
        model.set_attn_implementation(previous)
    return [a[0].float().numpy() for a in out.attentions]


def _max_err(result: CompactAttention, ref) -> float:
    return max(float(np.abs(result.head(l, h) - ref[l][h]).max()) for l in range(len(ref)) for h in range(ref[l].shape[0]))


@pytest.mark.parametrize("build", [_llama, _mistral, _qwen2], ids=["llama", "mistral", "qwen2"])
def test_every_head_equals_eager(build):
    model = build()
    ids = _ids()
    result = compact_from_ids(model, ids)
    ref = _eager(model, ids)
    assert (result.num_layers, result.num_heads, result.num_tokens) == (len(ref), ref[0].shape[0], N)
    assert result.num_kv_heads == model.config.num_key_value_heads  # keys kept per key head, not repeated
    assert _max_err(result, ref) <= TOL


@pytest.mark.parametrize("build", [_gemma2, _gpt2, _neox, _gpt_oss], ids=["gemma2-softcap", "gpt2", "gpt-neox", "gpt-oss-sinks"])
def test_other_architectures_equal_eager(build):
    model = build()
    ids = _ids(200)
    result = compact_from_ids(model, ids)
    assert _max_err(result, _eager(model, ids)) <= TOL


def test_sliding_windows_are_read_per_layer():
    result = compact_from_ids(_qwen2(), _ids(120))
    assert [p.sliding_window for p in result.params] == [None, 64, 64]
    w = result.head(1, 0)
    assert np.all(w[100, : 100 - 64 + 1] == 0) and w[100, 100 - 64 + 1] > 0
    assert _gemma2().config.attn_logit_softcapping == compact_from_ids(_gemma2(), _ids(20)).params[0].softcap


def test_learned_sinks_enter_the_summaries():
    model = _gpt_oss()
    ids = _ids(80)
    result = compact_from_ids(model, ids)
    assert result.params[0].sinks is not None and len(result.params[0].sinks) == 4
    ref = np.stack(_eager(model, ids)).astype(np.float64)
    assert ref.sum(-1).max() < 1 - 1e-3  # the sink logit takes a share of every row
    i = np.arange(80)
    assert np.abs(result.summaries.rows["sink"] - ref[..., 0]).max() <= TOL
    assert np.abs(result.summaries.rows["distance"] - (ref * (i[:, None] - i[None, :])).sum(-1)).max() <= 1e-4


def test_blocks_rows_and_index_arrays():
    model = _mistral()
    ids = _ids()
    result = compact_from_ids(model, ids)
    ref = _eager(model, ids)
    rng = np.random.default_rng(0)
    for _ in range(20):
        layer, head = int(rng.integers(result.num_layers)), int(rng.integers(result.num_heads))
        rows = rng.choice(N, size=int(rng.integers(1, 40)), replace=False)
        cols = rng.choice(N, size=int(rng.integers(1, 40)), replace=False)
        block = result.block(layer, head, rows, cols)
        assert block.dtype == np.float32 and block.shape == (len(rows), len(cols))
        assert np.abs(block - ref[layer][head][np.ix_(rows, cols)]).max() <= TOL
    tile = result.block(1, 3, slice(200, 264), slice(150, 214))
    assert np.abs(tile - ref[1][3][200:264, 150:214]).max() <= TOL
    assert np.abs(result.row(0, 2, -1) - ref[0][2][-1]).max() <= TOL
    assert np.abs(result.block(0, 1, 17) - ref[0][1][17:18]).max() <= TOL
    assert np.abs(result.layer_block(1, slice(0, 10), slice(0, 10)) - ref[1][:, :10, :10]).max() <= TOL
    with pytest.raises(IndexError):
        result.block(0, 0, [N])
    with pytest.raises(IndexError):
        result.block(result.num_layers, 0)


def test_summaries_equal_statistics_of_eager_weights():
    model = _llama()
    ids = _ids()
    result = compact_from_ids(model, ids, top_k=5, num_sink_tokens=2)
    ref = np.stack(_eager(model, ids)).astype(np.float64)  # [L, H, N, N]
    i = np.arange(N)
    s = result.summaries
    xlogx = np.where(ref > 0, ref * np.log(np.where(ref > 0, ref, 1)), 0)
    expected = {
        "sink": ref[..., :2].sum(-1),
        "entropy": -xlogx.sum(-1),
        "previous": np.concatenate([np.zeros(ref.shape[:2] + (1,)), ref[..., i[1:], i[:-1]]], axis=-1),
        "self": ref[..., i, i],
        "distance": (ref * (i[:, None] - i[None, :])).sum(-1),
    }
    for name, want in expected.items():
        got = s.rows[name]
        assert got.shape == (3, 8, N)
        scale = 1.0 if name not in ("entropy", "distance") else max(1.0, float(np.abs(want).max()))
        assert np.abs(got - want).max() <= TOL * scale * 4, name
    assert np.allclose(s.sink, expected["sink"].mean(-1), atol=TOL)
    assert np.allclose(s.previous_token, expected["previous"].mean(-1), atol=TOL)
    # top-k: the k largest weights of each row, heaviest first, and the indices point at them
    top = -np.sort(-ref, axis=-1)[..., :5]
    top[..., :, :][np.broadcast_to((np.arange(5)[None, :] > i[:, None]), top.shape)] = 0  # rows with < 5 keys
    assert np.abs(s.topk_weight - top).max() <= TOL
    idx = s.topk_index
    assert idx.dtype == np.int32 and (idx[:, :, 0, 1:] == -1).all() and (idx[:, :, 0, 0] == 0).all()
    valid = idx >= 0
    picked = np.take_along_axis(ref, np.where(valid, idx, 0).astype(np.int64), axis=-1)
    assert np.abs(np.where(valid, picked, 0) - s.topk_weight).max() <= TOL
    table = s.table()
    assert len(table) == 24 and set(table[0]) == {"layer", "head", "sink", "entropy", "previous", "self", "distance"}


def test_summaries_with_a_sliding_window():
    model = _mistral(window=16)
    ids = _ids(100)
    result = compact_from_ids(model, ids, chunk_elements=4 * 100 * 8)  # many small chunks
    ref = np.stack(_eager(model, ids)).astype(np.float64)
    assert np.abs(result.summaries.rows["sink"] - ref[..., 0]).max() <= TOL
    assert np.abs(result.summaries.rows["previous"][..., 1:] - ref[..., np.arange(1, 100), np.arange(99)]).max() <= TOL
    assert np.abs(result.summaries.topk_weight[..., 0] - ref.max(-1)).max() <= TOL
    assert _max_err(result, list(ref.astype(np.float32))) <= TOL


def test_model_is_left_as_it_was():
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    model = _llama()
    model.model.layers[1].train()  # a submodule the user put in training mode
    before_local = dict(ALL_ATTENTION_FUNCTIONS._local_mapping)
    before_impl = model.config._attn_implementation
    flags = [m.training for m in model.modules()]
    calls = []
    handle = model.model.layers[0].self_attn.register_forward_hook(lambda *a: calls.append(1))
    compact_from_ids(model, _ids(50))
    handle.remove()
    assert calls == [1]  # one forward pass
    assert model.config._attn_implementation == before_impl == "sdpa"
    assert [m.training for m in model.modules()] == flags
    assert dict(ALL_ATTENTION_FUNCTIONS._local_mapping) == before_local
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    # and it still computes what it computed before
    with torch.no_grad():
        model.eval()
        a = model(_ids(50)).logits
        b = model(_ids(50)).logits
    assert torch.equal(a, b)


def test_capture_dispatches_on_the_memory_budget(bpe_tokenizer):
    model = _llama(vocab=len(bpe_tokenizer))
    text = " ".join(["The quick brown fox jumps over the lazy dog."] * 12)
    dense = capture(model, bpe_tokenizer, text)
    assert isinstance(dense, AttentionResult)
    n = dense.num_tokens
    compact = capture(model, bpe_tokenizer, text, memory_budget=3 * 8 * n * n * 4 - 1)
    assert isinstance(compact, CompactAttention)
    assert compact.tokens == dense.tokens and not compact.generated.any() and compact.prompt_length == n
    assert max(float(np.abs(compact.head(l, h) - dense.attention[l, h]).max()) for l in range(3) for h in range(8)) <= TOL
    with pytest.raises(AttentionTooLargeError, match=r"would need .* use result\.block|Use result\.block"):
        compact.attention
    try:
        compact.attention
    except AttentionTooLargeError as exc:
        message = str(exc)
    assert f"[3, 8, {n}, {n}]" in message and "block(layer, head, rows, cols)" in message
    with pytest.raises(MemoryError, match="max_bytes"):
        compact.head(0, 0, max_bytes=100)
    assert capture_compact(model, bpe_tokenizer, text).tokens == dense.tokens


def test_guard_refuses_before_running(bpe_tokenizer):
    model = _llama(vocab=len(bpe_tokenizer))
    calls = []
    handle = model.register_forward_pre_hook(lambda *a: calls.append(1))
    try:
        with pytest.raises(CompactTooLargeError, match="compact form") as info:
            compact_from_ids(model, _ids(400), memory_budget=100_000)
        assert "400 tokens" in str(info.value) and "memory_budget" in str(info.value)
        with pytest.raises(AttentionTooLargeError):  # the same refusal through capture()
            capture(model, bpe_tokenizer, "hello world " * 100, memory_budget=1000)
    finally:
        handle.remove()
    assert calls == []
    cost = estimate(attention_shape(model), 4096)
    assert cost.dense_bytes == 3 * 8 * 4096 * 4096 * 4 and cost.compact_bytes < cost.dense_bytes / 50


def _step_by_step(model, seq, prompt_length):
    """Eager, one token at a time with the key/value cache: per generated position i (and the last
    prompt token), the per-layer [H, keys] attention of that token."""
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            out = model(seq[:, :prompt_length], use_cache=True, output_attentions=True)
            cache = out.past_key_values
            rows = {prompt_length - 1: [a[0, :, -1].numpy() for a in out.attentions]}
            for i in range(prompt_length, seq.shape[1]):
                out = model(seq[:, i : i + 1], cache=cache, use_cache=True, output_attentions=True)
                cache = out.past_key_values
                rows[i] = [a[0, :, -1].numpy() for a in out.attentions]
                if i + 1 < seq.shape[1]:
                    assert int(out.logits[0, -1].argmax()) == int(seq[0, i + 1])  # greedy: same tokens
    finally:
        model.set_attn_implementation("sdpa")
    return rows


@pytest.mark.parametrize("build", [_llama, _mistral], ids=["llama", "mistral-window"])
def test_generation_matches_step_by_step_decoding(build, bpe_tokenizer):
    model = build(vocab=len(bpe_tokenizer)) if build is _llama else build(vocab=len(bpe_tokenizer), window=12)
    model.generation_config.eos_token_id = None
    prompt = "The quick brown fox jumps over the lazy dog. The quick brown fox"
    result = capture_generate(model, bpe_tokenizer, prompt, max_new_tokens=15)
    p = result.prompt_length
    assert p == len(bpe_tokenizer(prompt)["input_ids"]) and result.num_tokens == p + 15
    assert result.generated.tolist() == [False] * p + [True] * 15 and result.text == prompt
    seq = torch.tensor([result.input_ids.tolist()])
    rows = _step_by_step(model, seq, p)
    for i, layers in rows.items():
        for layer, ref in enumerate(layers):
            ours = result.layer_block(layer, [i], slice(0, i + 1))[:, 0]
            # A sliding-window cache hands the step only the window's keys: compare those, and the
            # ones before them must weigh nothing.
            k = ref.shape[-1]
            assert np.abs(ours[:, -k:] - ref).max() <= TOL
            assert not ours[:, :-k].any()
    # the compact result of a generation is the compact result of the whole text
    whole = compact_from_ids(model, seq)
    assert (
        max(float(np.abs(whole.head(l, h) - result.head(l, h)).max()) for l in range(result.num_layers) for h in range(result.num_heads))
        <= TOL
    )


def test_npz_round_trip(tmp_path, bpe_tokenizer):
    model = _mistral(vocab=len(bpe_tokenizer))
    model.generation_config.eos_token_id = None
    result = capture_generate(model, bpe_tokenizer, "The cat sat on the mat.", max_new_tokens=5)
    path = tmp_path / "long.npz"
    result.to_npz(path)
    back = CompactAttention.from_npz(path)
    assert back.tokens == result.tokens and back.params == result.params and back.prompt_length == result.prompt_length
    assert np.array_equal(back.head(1, 2), result.head(1, 2))
    assert np.array_equal(back.summaries.topk_index, result.summaries.topk_index)
    assert repr(back).startswith("CompactAttention(model='mistral'")


def test_bfloat16_models_keep_their_dtype():
    model = _llama().to(torch.bfloat16)
    ids = _ids(64)
    result = compact_from_ids(model, ids)
    assert result.queries[0].dtype == torch.bfloat16 and result.keys[0].dtype == torch.bfloat16
    # weights recomputed in float32 from the stored bfloat16 values: rows sum to one
    assert np.abs(result.head(0, 0).sum(-1) - 1).max() <= 1e-5
    with pytest.raises(ValueError, match="round"):
        compact_from_ids(_llama(), ids, store_dtype="bfloat16")


@pytest.mark.parametrize("magnitude", [0.3, 30.0], ids=["moderate-logits", "huge-logits"])
@pytest.mark.parametrize("window,softcap,sinks", [(None, None, None), (7, None, None), (None, 3.0, (0.5, -1.0, 2.0, 9.0))])
def test_streaming_pass_equals_a_float64_softmax(magnitude, window, softcap, sinks):
    """layer_pass on its own (huge logits take the shifted exp) against float64 arithmetic."""
    from albert_widget.longcontext.hooks import LayerParams
    from albert_widget.longcontext.summaries import layer_pass

    g = torch.Generator().manual_seed(7)
    n, d = 50, 8
    q, k = torch.randn(4, n, d, generator=g) * magnitude, torch.randn(2, n, d, generator=g)
    params = LayerParams(scaling=d**-0.5, sliding_window=window, softcap=softcap, sinks=sinks)
    out = layer_pass(q, k, params, top_k=3, chunk_elements=4 * 9 * n)
    s = (q.double() @ k.double().repeat_interleave(2, 0).transpose(1, 2)) * params.scaling
    if softcap:
        s = torch.tanh(s / softcap) * softcap
    i = torch.arange(n)
    ok = i[None, :] <= i[:, None]
    if window:
        ok &= i[None, :] > i[:, None] - window
    s = s.masked_fill(~ok, -torch.inf)
    full = torch.cat([s, torch.tensor(sinks, dtype=torch.float64)[:, None, None].expand(4, n, 1)], -1) if sinks else s
    lse = torch.logsumexp(full, -1)
    w = torch.exp(s - lse[..., None])
    assert torch.allclose(out["lse"].double(), lse, rtol=1e-6, atol=1e-5)
    xlogx = torch.where(w > 0, w * torch.log(torch.where(w > 0, w, 1)), 0)
    assert torch.allclose(out["entropy"].double(), -xlogx.sum(-1), atol=1e-5)
    assert torch.allclose(out["sink"].double(), w[..., 0], atol=1e-6)
    assert torch.allclose(out["distance"].double(), (w * (i[:, None] - i[None, :])).sum(-1), atol=1e-4)
    assert torch.allclose(out["topk_weight"].double(), torch.topk(w, 3, -1).values, atol=1e-6)


def test_widget_refuses_a_capture_it_cannot_draw_and_says_what_to_use(monkeypatch, bpe_tokenizer):
    """Above the widget's limit a decoder LLM's capture is compact; the widget says so instead of
    failing on a result it cannot draw, and a small input still shows."""
    from albert_widget import AttentionWidget, forward
    from albert_widget import widget as widget_module

    model = _llama(vocab=len(bpe_tokenizer))
    monkeypatch.setattr(widget_module, "MAX_ATTENTION_BYTES", 3 * 8 * 20 * 20 * 4)  # 20 tokens at most
    # (at this toy size the compact form's working memory is larger than the full attention, so the
    # refusal is the budget's own, which says what everything would cost)
    with pytest.raises(forward.AttentionTooLargeError, match="capture_compact|memory budget"):
        AttentionWidget(model, bpe_tokenizer, "hello world " * 40)
    assert AttentionWidget(model, bpe_tokenizer, "hello world").attention.shape[:2] == (3, 8)
