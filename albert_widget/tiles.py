"""Tiles of one head's attention (or of the mean/max over heads), downsampled exactly, for a page that
pans and zooms over inputs up to 32,768 tokens.

A tile is the block ``rows [row0, row1) x cols [col0, col1)`` cut into ``out_rows x out_cols`` cells;
cell ``(a, b)`` covers rows ``[e_r[a], e_r[a+1])`` and cols ``[e_c[b], e_c[b+1])`` with
``e[k] = start + floor(k * size / out)`` (:func:`cell_edges`; uniform when ``out`` divides the size,
one token per cell at full resolution). Its value is the ``max`` or the ``mean`` of the weights in it
(keys a query cannot see weigh 0 and count in the mean). Heads are combined first, token by token
(``head_reduce``: mean or max over ``heads``), as the page's matrix view does.

Values are exact: a dense capture's tile is cut from its array; a compact capture's
(:class:`~albert_widget.longcontext.CompactAttention`) is recomputed from queries, keys and row
log-sum-exp by :meth:`~albert_widget.longcontext.CompactAttention.block`, chunk by chunk (at most
:data:`CHUNK_CELLS` weights at a time, blocks above the causal diagonal skipped: they are 0). One tile
may cost at most :data:`MAX_TILE_CELLS` weights (rows x cols x heads); beyond it the request fails and
says so (the page asks for smaller tiles).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .longcontext.compact import CompactAttention
from .names import REDUCTIONS
from .transport import _attention_for, dtype_from, encode_array

__all__ = [
    "CHUNK_CELLS",
    "MAX_TILES_PER_REQUEST",
    "MAX_TILE_CELLS",
    "MAX_TILE_OUTPUT",
    "TILE_REDUCTIONS",
    "Tile",
    "cell_edges",
    "compact_tile",
    "dense_tile",
    "reply_to_compact_row",
    "reply_to_tile",
    "reply_to_tiles",
    "tile_from_blocks",
]

#: The most weights (rows x cols x heads) one tile may cost the kernel (2**26: 8,192 x 8,192 tokens of one head).
MAX_TILE_CELLS = 2**26
#: The most cells (out_rows x out_cols) one tile reply may carry (4 MiB as float32).
MAX_TILE_OUTPUT = 1024 * 1024
#: The most tiles one ``tiles`` request may carry (a zoom step that crosses a level needs about 6).
MAX_TILES_PER_REQUEST = 32
#: Weights computed at a time (16 MiB of float32 scores per head).
CHUNK_CELLS = 2**22
#: How a cell of a tile reduces the weights it covers.
TILE_REDUCTIONS = ("max", "mean")
_CHUNK_COLS = 8192


@dataclass(frozen=True)
class Tile:
    """What one tile asks for: a region of tokens, its cells, and how to reduce them."""

    row0: int
    row1: int
    col0: int
    col1: int
    out_rows: int
    out_cols: int
    reduce: str = "max"

    @property
    def cells(self) -> int:
        """Weights the region holds (per head)."""
        return (self.row1 - self.row0) * (self.col1 - self.col0)


def cell_edges(start: int, stop: int, out: int) -> np.ndarray:
    """int64 ``[out + 1]``: the token edges of ``out`` cells over ``[start, stop)``
    (``start + floor(k * (stop - start) / out)``; every cell holds at least one token)."""
    size = stop - start
    if not 0 < out <= size:
        raise ValueError(f"a tile needs 1..{size} cells along an axis of {size} tokens, got {out}")
    return start + (np.arange(out + 1, dtype=np.int64) * size) // out


def _check_tile(tile: Tile, n_rows: int, n_cols: int, num_heads: int) -> None:
    for name, lo, hi, size in (("row", tile.row0, tile.row1, n_rows), ("col", tile.col0, tile.col1, n_cols)):
        if not 0 <= lo < hi <= size:
            raise ValueError(f"a tile's {name}0..{name}1 must satisfy 0 <= {name}0 < {name}1 <= {size}, got {lo}..{hi}")
    if tile.reduce not in TILE_REDUCTIONS:
        raise ValueError(f"a tile's reduce must be one of {', '.join(TILE_REDUCTIONS)}, got {tile.reduce!r}")
    if tile.out_rows * tile.out_cols > MAX_TILE_OUTPUT:
        raise ValueError(f"a tile may have at most {MAX_TILE_OUTPUT:,} cells, got {tile.out_rows} x {tile.out_cols}")
    cost = tile.cells * num_heads
    if cost > MAX_TILE_CELLS:
        raise ValueError(
            f"a tile of {tile.row1 - tile.row0:,} x {tile.col1 - tile.col0:,} tokens over {num_heads} head(s) is "
            f"{cost:,} weights, over the limit of {MAX_TILE_CELLS:,} for one request: ask for smaller tiles"
        )


def _segments(edges: np.ndarray, a: int, b: int) -> tuple[int, np.ndarray]:
    """Cells overlapping tokens ``[a, b)``: the first cell's index and each one's start within ``[a, b)``."""
    first = int(np.searchsorted(edges, a, side="right")) - 1
    last = int(np.searchsorted(edges, b, side="left")) - 1
    return first, np.maximum(edges[first : last + 1], a) - a


def tile_from_blocks(
    block: Callable[[int, int, int, int], np.ndarray | None], tile: Tile, *, chunk_cells: int = CHUNK_CELLS, log: bool = False
) -> np.ndarray:
    """float32 ``[out_rows, out_cols]``: ``tile`` reduced from ``block(r0, r1, c0, c1)``, which returns
    the (head-combined) float32 weights ``[r1 - r0, c1 - c0]`` of a chunk, or ``None`` when they are
    all 0. Weights are non-negative, so a skipped chunk changes neither a max nor a sum. ``log``
    (``max`` only): ``block`` returns log-weights (``-inf`` for 0) and each cell is exp of their max."""
    rows = cell_edges(tile.row0, tile.row1, tile.out_rows)
    cols = cell_edges(tile.col0, tile.col1, tile.out_cols)
    is_max = tile.reduce == "max"
    if log and not is_max:
        raise ValueError("log-weights reduce by max only")
    out = np.full((tile.out_rows, tile.out_cols), -np.inf if log else 0.0, dtype=np.float32 if is_max else np.float64)
    col_step = min(tile.col1 - tile.col0, _CHUNK_COLS)
    row_step = max(1, chunk_cells // col_step)
    for r0 in range(tile.row0, tile.row1, row_step):
        r1 = min(tile.row1, r0 + row_step)
        ri, rs = _segments(rows, r0, r1)
        for c0 in range(tile.col0, tile.col1, col_step):
            c1 = min(tile.col1, c0 + col_step)
            values = block(r0, r1, c0, c1)
            if values is None:
                continue
            ci, cs = _segments(cols, c0, c1)
            part = _reduce_cells(values, rs, cs, is_max)
            view = out[ri : ri + len(rs), ci : ci + len(cs)]
            if is_max:
                np.maximum(view, part, out=view)
            else:
                view += part
    if log:
        import torch  # the exp of CompactAttention.block, so that a cell's max is its weight's value

        return torch.from_numpy(out).exp_().numpy()
    if not is_max:
        out /= np.diff(rows)[:, None] * np.diff(cols)[None, :]
    return out.astype(np.float32)


def _uniform(starts: np.ndarray, size: int) -> int:
    """The common length of segments starting at ``starts`` (0 first) over ``size`` tokens, or 0."""
    step = size // len(starts)
    if step * len(starts) != size or not np.array_equal(starts, np.arange(0, size, step)):
        return 0
    return step


def _reduce_cells(values: np.ndarray, rs: np.ndarray, cs: np.ndarray, is_max: bool) -> np.ndarray:
    """Max (float32) or sum (float64) of ``values`` ``[R, C]`` over segments starting at ``rs`` x ``cs``.
    Equal segments (the common case: the page asks for whole cells) reduce through a reshape, a few
    times faster than ``reduceat``."""
    sr, sc = _uniform(rs, values.shape[0]), _uniform(cs, values.shape[1])
    if sr and sc:
        cells = values.reshape(len(rs), sr, len(cs), sc)
        return cells.max(axis=3).max(axis=1) if is_max else cells.sum(axis=3, dtype=np.float64).sum(axis=1)
    if is_max:
        return np.maximum.reduceat(np.maximum.reduceat(values, rs, axis=0), cs, axis=1)
    return np.add.reduceat(np.add.reduceat(values.astype(np.float64), rs, axis=0), cs, axis=1)


def _combine(blocks: list[np.ndarray], head_reduce: str) -> np.ndarray:
    """Heads combined token by token: the one head, or the mean/max over them (float32)."""
    if len(blocks) == 1:
        return blocks[0]
    stacked = np.stack(blocks)
    return stacked.max(axis=0) if head_reduce == "max" else stacked.mean(axis=0, dtype=np.float32)


def _head_reduce(heads: Sequence[int], head_reduce: str) -> str:
    if head_reduce not in REDUCTIONS:
        raise ValueError(f"a tile's head_reduce must be one of {', '.join(REDUCTIONS)}, got {head_reduce!r}")
    if head_reduce == "none" and len(heads) != 1:
        raise ValueError("a tile without a head reduction takes exactly one head")
    return head_reduce


def dense_tile(attention: np.ndarray, heads: Sequence[int], tile: Tile, head_reduce: str = "none") -> np.ndarray:
    """float32 ``[out_rows, out_cols]`` from one layer's dense ``[H, R, C]`` attention."""
    _head_reduce(heads, head_reduce)
    _check_tile(tile, attention.shape[1], attention.shape[2], len(heads))
    return tile_from_blocks(lambda r0, r1, c0, c1: _combine([attention[h, r0:r1, c0:c1] for h in heads], head_reduce), tile)


def compact_tile(result: CompactAttention, layer: int, heads: Sequence[int], tile: Tile, head_reduce: str = "none") -> np.ndarray:
    """float32 ``[out_rows, out_cols]`` recomputed from a compact capture (exact, chunk by chunk;
    chunks wholly above the causal diagonal are not computed)."""
    _head_reduce(heads, head_reduce)
    n = result.num_tokens
    _check_tile(tile, n, n, len(heads))
    # A max over one head (or the max over heads) of the weights is exp of the max of the log-weights:
    # one exp per cell instead of one per weight (a zoomed-out tile covers 16-64 weights a cell).
    # Full resolution (a weight a cell) gains nothing and stays bit for bit block()'s.
    log = tile.reduce == "max" and (len(heads) == 1 or head_reduce == "max") and tile.out_rows * tile.out_cols < tile.cells
    weights = result.log_block if log else result.block

    def block(r0: int, r1: int, c0: int, c1: int) -> np.ndarray | None:
        seen = min(c1, r1)  # keys after the chunk's last query weigh 0 (causal)
        if seen <= c0:
            return None
        parts = [weights(layer, h, slice(r0, r1), slice(c0, seen)) for h in heads]
        combined = _combine(parts, head_reduce)
        if seen == c1:
            return combined
        full = np.full((r1 - r0, c1 - c0), -np.inf if log else 0.0, dtype=np.float32)
        full[:, : seen - c0] = combined
        return full

    return tile_from_blocks(block, tile, log=log)


def _int_field(fields: Mapping[str, Any], name: str, default: int | None = None) -> int:
    value = fields.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"a tile request needs an integer {name!r}, got {value!r}")
    return value


def _tile_heads(fields: Mapping[str, Any], num_heads: int) -> tuple[list[int], str]:
    """The heads a request combines (``head``, or ``heads`` + ``head_reduce``) and the reduction."""
    if "heads" in fields and fields["heads"] is not None:
        heads = fields["heads"]
        if not isinstance(heads, list) or not heads:
            raise ValueError("a tile request's heads must list at least one head, e.g. [0, 1]")
        for h in heads:
            if isinstance(h, bool) or not isinstance(h, int) or not 0 <= h < num_heads:
                raise ValueError(f"a tile request's head {h!r} is not in 0..{num_heads - 1}")
        heads = list(dict.fromkeys(heads))
        reduce = str(fields.get("head_reduce") or ("none" if len(heads) == 1 else "mean"))
    else:
        head = _int_field(fields, "head")
        if not 0 <= head < num_heads:
            raise ValueError(f"a tile request's head must be in 0..{num_heads - 1}, got {head}")
        heads, reduce = [head], "none"
    return heads, _head_reduce(heads, reduce)


def _scale_max(source: Any, layer: int, heads: list[int]) -> float | None:
    """The largest weight of these heads of ``layer`` (a compact capture knows it from its summaries'
    top-1 keys): a colour scale that does not change as the page pans and zooms."""
    if isinstance(source, CompactAttention) and source.summaries.topk_weight.shape[-1] > 0:
        return float(source.summaries.topk_weight[layer, heads, :, 0].max())
    return None


def _source_shape(source: Any, fields: Mapping[str, Any]) -> tuple[np.ndarray | None, int, int, int, int]:
    """The dense ``[L, H, R, C]`` array (None for a compact capture) and its layers, heads, rows, cols."""
    if isinstance(source, CompactAttention):
        if fields.get("kind") not in (None, "encoder"):
            raise ValueError(f"a compact capture has only self-attention, not {fields.get('kind')!r}")
        return None, source.num_layers, source.num_heads, source.num_tokens, source.num_tokens
    array, _ = _attention_for(source, dict(fields))
    L, H, R, C = array.shape
    return array, L, H, R, C


def _region(fields: Mapping[str, Any], n_rows: int, n_cols: int) -> Tile:
    row0, row1 = _int_field(fields, "row0", 0), _int_field(fields, "row1", n_rows)
    col0, col1 = _int_field(fields, "col0", 0), _int_field(fields, "col1", n_cols)
    return Tile(
        row0,
        row1,
        col0,
        col1,
        _int_field(fields, "out_rows", row1 - row0),
        _int_field(fields, "out_cols", col1 - col0),
        str(fields.get("reduce", "max")),
    )


def _values(source: Any, array: np.ndarray | None, layer: int, heads: list[int], tile: Tile, head_reduce: str) -> np.ndarray:
    if array is None:
        return compact_tile(source, layer, heads, tile, head_reduce)
    return dense_tile(array[layer], heads, tile, head_reduce)


def _tile_meta(tile: Tile) -> dict[str, Any]:
    return {
        "row0": tile.row0,
        "row1": tile.row1,
        "col0": tile.col0,
        "col1": tile.col1,
        "out_rows": tile.out_rows,
        "out_cols": tile.out_cols,
    }


def _series(source: Any, fields: Mapping[str, Any]) -> tuple[np.ndarray | None, int, list[int], str, int, int]:
    """What every tile of a request shares: the array (None: compact), layer, heads, head reduction, rows, cols."""
    array, num_layers, num_heads, n_rows, n_cols = _source_shape(source, fields)
    layer = _int_field(fields, "layer")
    if not 0 <= layer < num_layers:
        raise ValueError(f"a tile request's layer must be in 0..{num_layers - 1}, got {layer}")
    heads, head_reduce = _tile_heads(fields, num_heads)
    return array, layer, heads, head_reduce, n_rows, n_cols


def reply_to_tile(source: Any, revision: int, fields: Mapping[str, Any]) -> tuple[dict[str, Any], list[memoryview]]:
    """Answer ``{"type": "tile", "revision", "layer", "head" | "heads" + "head_reduce", "row0", "row1",
    "col0", "col1", "out_rows", "out_cols", "reduce"?: "max" | "mean", "dtype"?, "kind"?}`` from a
    CompactAttention or a dense capture's attention (an array or the ``{kind: array}`` mapping of
    :attr:`AttentionResult.attentions`). One buffer ``[out_rows, out_cols]`` (float32 unless ``dtype``
    says float16/uint8); ``scale_max`` (compact only): the largest weight of those heads anywhere."""
    dtype = dtype_from(dict(fields), "float32")
    array, layer, heads, head_reduce, n_rows, n_cols = _series(source, fields)
    tile = _region(fields, n_rows, n_cols)
    meta, buffer = encode_array(_values(source, array, layer, heads, tile, head_reduce), dtype)
    reply: dict[str, Any] = {
        "revision": revision,
        "layer": layer,
        "heads": heads,
        "head_reduce": head_reduce,
        **_tile_meta(tile),
        "reduce": tile.reduce,
        **meta,
    }
    scale = _scale_max(source, layer, heads)
    if scale is not None:
        reply["scale_max"] = scale
    if fields.get("kind") is not None:
        reply["kind"] = fields["kind"]
    return reply, [buffer]


def reply_to_tiles(source: Any, revision: int, fields: Mapping[str, Any]) -> tuple[dict[str, Any], list[memoryview]]:
    """Answer ``{"type": "tiles", ...the fields of a tile request but the region, "tiles": [[row0, row1,
    col0, col1, out_rows, out_cols], ...]}``: several tiles of one series (layer, heads, reduction) in
    one reply, so that a zoom step's tiles cost one request, one event-loop turn and one message each
    way instead of one per tile. ``tiles`` in the reply: each tile's region and array meta (``dtype``,
    ``shape``...), in the order asked; one buffer per tile, in that order. Each tile is checked and
    computed exactly as :func:`reply_to_tile` does; a bad one fails the whole request."""
    regions = fields.get("tiles")
    if not isinstance(regions, list) or not 1 <= len(regions) <= MAX_TILES_PER_REQUEST:
        raise ValueError(
            f"a tiles request's tiles must list 1..{MAX_TILES_PER_REQUEST} regions [row0, row1, col0, col1, out_rows, out_cols]"
        )
    dtype = dtype_from(dict(fields), "float32")
    array, layer, heads, head_reduce, n_rows, n_cols = _series(source, fields)
    reduce = str(fields.get("reduce", "max"))
    tiles = []
    for region in regions:
        if not (isinstance(region, list) and len(region) == 6):
            raise ValueError(f"a tiles request's region must be [row0, row1, col0, col1, out_rows, out_cols], got {region!r}")
        named = dict(zip(("row0", "row1", "col0", "col1", "out_rows", "out_cols"), region))
        tile = _region({**named, "reduce": reduce}, n_rows, n_cols)
        _check_tile(tile, n_rows, n_cols, len(heads))  # every region before any work
        tiles.append(tile)
    metas, buffers = [], []
    for tile in tiles:
        meta, buffer = encode_array(_values(source, array, layer, heads, tile, head_reduce), dtype)
        metas.append({**_tile_meta(tile), **meta})
        buffers.append(buffer)
    reply: dict[str, Any] = {
        "revision": revision,
        "layer": layer,
        "heads": heads,
        "head_reduce": head_reduce,
        "reduce": reduce,
        "tiles": metas,
    }
    scale = _scale_max(source, layer, heads)
    if scale is not None:
        reply["scale_max"] = scale
    if fields.get("kind") is not None:
        reply["kind"] = fields["kind"]
    return reply, buffers


def reply_to_compact_row(result: CompactAttention, revision: int, fields: Mapping[str, Any]) -> tuple[dict[str, Any], list[memoryview]]:
    """The ``row`` request of :func:`albert_widget.encodings.reply_to_row` answered from a compact
    capture: the exact float32 row ``[N]`` of one head, or the mean/max over ``heads``."""
    layer, row = fields.get("layer"), fields.get("row")
    for name, value, size in (("layer", layer, result.num_layers), ("row", row, result.num_tokens)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
            raise ValueError(f"a row request's {name} must be in 0..{size - 1}, got {value!r}")
    assert isinstance(layer, int) and isinstance(row, int)
    if fields.get("kind") not in (None, "encoder"):
        raise ValueError(f"a compact capture has only self-attention, not {fields.get('kind')!r}")
    heads, _ = _tile_heads({"heads": fields.get("heads"), "head_reduce": "mean"}, result.num_heads)
    reduce = str(fields.get("reduce", "none"))
    if reduce not in REDUCTIONS:
        raise ValueError(f"a row request's reduce must be one of {REDUCTIONS}, got {reduce!r}")
    if reduce == "none" and len(heads) != 1:
        raise ValueError("a row request without a reduction takes exactly one head")
    rows = [result.row(layer, h, row) for h in heads]
    values = _combine(rows, "max" if reduce == "max" else "mean")
    meta, buffer = encode_array(values, "float32")
    return {"revision": revision, "layer": layer, "row": row, "heads": heads, "reduce": reduce, **meta}, [buffer]
