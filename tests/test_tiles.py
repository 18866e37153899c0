"""Tiles (albert_widget/tiles.py) equal brute force: the whole [N, N] of each head (or the mean/max
over heads), cut into cells and reduced by max or mean, from a dense array and from a compact capture."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from albert_widget.longcontext import compact_from_ids
from albert_widget.tiles import (
    MAX_TILE_CELLS,
    MAX_TILES_PER_REQUEST,
    Tile,
    cell_edges,
    compact_tile,
    dense_tile,
    reply_to_tile,
    reply_to_tiles,
    tile_from_blocks,
)
from albert_widget.transport import decode_array

TOL = 1e-6


def brute(full: np.ndarray, tile: Tile) -> np.ndarray:
    """Reference: every cell reduced on its own, in float64."""
    rows = cell_edges(tile.row0, tile.row1, tile.out_rows)
    cols = cell_edges(tile.col0, tile.col1, tile.out_cols)
    out = np.empty((tile.out_rows, tile.out_cols))
    for a in range(tile.out_rows):
        for b in range(tile.out_cols):
            cell = full[rows[a] : rows[a + 1], cols[b] : cols[b + 1]].astype(np.float64)
            out[a, b] = cell.max() if tile.reduce == "max" else cell.mean()
    return out


def _llama(n: int = 260):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=200,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
    )
    model = LlamaForCausalLM(cfg).eval()
    ids = torch.randint(0, 200, (n,), generator=torch.Generator().manual_seed(1))
    return compact_from_ids(model, ids, tokens=[f"t{i}" for i in range(n)])


TILES = [
    Tile(0, 260, 0, 260, 260, 260, "max"),  # full resolution
    Tile(0, 260, 0, 260, 13, 20, "max"),
    Tile(0, 260, 0, 260, 7, 9, "mean"),  # cells of unequal size
    Tile(37, 201, 5, 250, 41, 35, "mean"),
    Tile(100, 164, 0, 64, 64, 64, "max"),
    Tile(0, 64, 100, 260, 8, 8, "max"),  # wholly above the diagonal: zeros
    Tile(3, 4, 0, 260, 1, 260, "mean"),  # one row
]


@pytest.fixture(scope="module")
def compact():
    return _llama()


def test_cell_edges():
    assert cell_edges(0, 8, 4).tolist() == [0, 2, 4, 6, 8]
    assert cell_edges(10, 17, 3).tolist() == [10, 12, 14, 17]
    with pytest.raises(ValueError, match="1..7 cells"):
        cell_edges(10, 17, 8)


@pytest.mark.parametrize("tile", TILES)
def test_dense_tiles_equal_brute_force(tile):
    rng = np.random.default_rng(0)
    attention = rng.random((3, 260, 260), dtype=np.float32)
    for heads, reduce in (([1], "none"), ([0, 2], "mean"), ([0, 1, 2], "max")):
        full = attention[heads[0]] if reduce == "none" else getattr(attention[heads], reduce)(axis=0)
        got = dense_tile(attention, heads, tile, reduce)
        assert got.dtype == np.float32 and got.shape == (tile.out_rows, tile.out_cols)
        assert np.abs(got - brute(full, tile)).max() <= TOL


@pytest.mark.parametrize("tile", TILES)
def test_compact_tiles_equal_brute_force_of_its_blocks(compact, tile):
    for layer, heads, reduce in ((0, [3], "none"), (1, [0, 1, 2, 3], "mean"), (1, [1, 2], "max")):
        blocks = np.stack([compact.block(layer, h) for h in heads])
        full = blocks[0] if reduce == "none" else getattr(blocks, reduce)(axis=0)
        got = compact_tile(compact, layer, heads, tile, reduce)
        assert np.abs(got - brute(full, tile)).max() <= TOL


def test_small_chunks_give_the_same_tile(compact):
    """Chunks cut across cells and across the causal diagonal: the tile does not change."""
    tile = Tile(10, 250, 0, 260, 11, 17, "mean")
    full = compact.block(0, 1)
    reference = brute(full, tile)
    for chunk in (7, 300, 5000):
        got = tile_from_blocks(lambda r0, r1, c0, c1: full[r0:r1, c0:c1], tile, chunk_cells=chunk)
        assert np.abs(got - reference).max() <= TOL


def test_chunks_above_the_diagonal_are_not_computed(compact, monkeypatch):
    calls = []
    original = type(compact).block

    def counting(self, layer, head, rows=slice(None), cols=slice(None)):
        calls.append((rows, cols))
        return original(self, layer, head, rows, cols)

    monkeypatch.setattr(type(compact), "block", counting)
    assert not compact_tile(compact, 0, [0], Tile(0, 64, 100, 260, 8, 8)).any()
    assert calls == []
    compact_tile(compact, 0, [0], Tile(0, 100, 0, 260, 10, 10))
    assert all(c.stop <= 100 for _, c in calls)  # keys after the last query are never scored


def test_reply_to_tile_travels_exactly(compact):
    fields = {"layer": 1, "head": 2, "row0": 0, "row1": 260, "col0": 0, "col1": 260, "out_rows": 260, "out_cols": 260}
    reply, buffers = reply_to_tile(compact, 7, fields)
    assert reply["revision"] == 7 and reply["shape"] == [260, 260] and reply["heads"] == [2] and reply["reduce"] == "max"
    assert np.array_equal(decode_array(reply, buffers[0]), compact.block(1, 2))
    assert reply["scale_max"] == pytest.approx(float(compact.block(1, 2).max()), abs=TOL)
    half, buffers = reply_to_tile(compact, 7, {**fields, "heads": [0, 1], "head_reduce": "max", "dtype": "float16"})
    assert half["dtype"] == "float16" and len(buffers[0]) == 260 * 260 * 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"row1": 261}, "row0 < row1 <= 260"),
        ({"out_rows": 300}, "1..260 cells"),
        ({"reduce": "min"}, "reduce must be one of max, mean"),
        ({"head": 4}, "head must be in 0..3"),
        ({"layer": 2}, "layer must be in 0..1"),
        ({"heads": [0, 1], "head_reduce": "none"}, "exactly one head"),
        ({"kind": "cross"}, "only self-attention"),
    ],
)
def test_bad_tiles_say_what_is_expected(compact, change, message):
    fields = {"layer": 0, "head": 0, "row0": 0, "row1": 260, "col0": 0, "col1": 260, "out_rows": 10, "out_cols": 10, **change}
    with pytest.raises(ValueError, match=message):
        reply_to_tile(compact, 1, fields)


def test_one_tile_costs_at_most_the_limit():
    attention = np.broadcast_to(np.float32(0), (2, 9000, 9000))  # no memory: refused before any work
    with pytest.raises(ValueError, match="over the limit of 67,108,864 for one request: ask for smaller tiles"):
        dense_tile(attention, [0, 1], Tile(0, 9000, 0, 9000, 100, 100), "mean")
    assert MAX_TILE_CELLS == 8192 * 8192


def test_a_tiles_request_answers_each_region_as_its_own_tile_request(compact):
    """``tiles``: several regions of one series in one reply, each buffer the bytes of the ``tile``
    reply for that region (so exact as tile is), in the order asked; a bad region fails the request."""
    c = compact
    n = c.num_tokens
    regions = [[0, n, 0, n, 4, 4], [n // 2, n, 0, n // 2, n // 2, n // 2], [1, 5, 0, 3, 2, 3]]
    reply, buffers = reply_to_tiles(c, 3, {"layer": 1, "heads": [0, 2], "head_reduce": "max", "reduce": "mean", "tiles": regions})
    assert reply["revision"] == 3 and reply["heads"] == [0, 2] and reply["head_reduce"] == "max" and len(buffers) == 3
    assert reply["scale_max"] == float(c.summaries.topk_weight[1, [0, 2], :, 0].max())
    for region, meta, buffer in zip(regions, reply["tiles"], buffers):
        one, (expected,) = reply_to_tile(
            c,
            3,
            {
                "layer": 1,
                "heads": [0, 2],
                "head_reduce": "max",
                "reduce": "mean",
                **dict(zip(("row0", "row1", "col0", "col1", "out_rows", "out_cols"), region)),
            },
        )
        assert meta == {k: one[k] for k in ("row0", "row1", "col0", "col1", "out_rows", "out_cols", "dtype", "shape")}
        assert bytes(buffer) == bytes(expected)
        r0, r1, c0, c1, out_r, out_c = region
        if out_r == r1 - r0 and out_c == c1 - c0:  # full resolution: the brute-force weights
            brute = np.maximum(c.block(1, 0, slice(r0, r1), slice(c0, c1)), c.block(1, 2, slice(r0, r1), slice(c0, c1)))
            np.testing.assert_allclose(np.frombuffer(buffer, np.float32).reshape(out_r, out_c), brute, atol=1e-6)
    with pytest.raises(ValueError, match=r"region must be \[row0, row1, col0, col1, out_rows, out_cols\]"):
        reply_to_tiles(c, 3, {"layer": 0, "head": 0, "tiles": [[0, 4, 0, 4, 2]]})
    with pytest.raises(ValueError, match="must satisfy 0 <= row0 < row1"):
        reply_to_tiles(c, 3, {"layer": 0, "head": 0, "tiles": [[0, 4, 0, 4, 2, 2], [4, 4, 0, 4, 1, 1]]})
    with pytest.raises(ValueError, match=f"1..{MAX_TILES_PER_REQUEST} regions"):
        reply_to_tiles(c, 3, {"layer": 0, "head": 0, "tiles": []})


def test_log_block_is_the_log_of_block(compact):
    """log_block: each score minus its row's log-sum-exp, -inf where a key is hidden; exp of it is
    block (a zoomed-out max tile takes exp of the max of these)."""
    rows, cols = slice(90, 140), slice(100, 180)
    weights = compact.block(1, 3, rows, cols)
    logs = compact.log_block(1, 3, rows, cols)
    hidden = np.arange(100, 180)[None, :] > np.arange(90, 140)[:, None]
    assert np.array_equal(np.isneginf(logs), hidden) and np.all(weights[hidden] == 0)
    np.testing.assert_allclose(np.exp(logs[~hidden]), weights[~hidden], rtol=1e-6)
    # a max tile of 4 x 4 tokens a cell through the log path equals the brute-force max of block
    tile = Tile(0, 260, 0, 260, 65, 65, "max")
    np.testing.assert_allclose(
        compact_tile(compact, 1, [3], tile), compact.block(1, 3).reshape(65, 4, 65, 4).max(axis=(1, 3)), rtol=1e-6, atol=0
    )
