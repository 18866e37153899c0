"""Mergeable partial results of the corpus analyses: float64 sums and counts over a set of shards.

A corpus analysis (``head_stats``, ``head_importance``) is a mean over tokens or texts. Computed as
sums and counts over shards of the corpus, it merges exactly: adding the partials of any split of the
shards gives the sums of the whole corpus (to float64 rounding, about 1e-16 relative), and the mean is
taken once, at the end. A partial saves to and loads from one ``.npz`` file, so a run that stops keeps
the shards it finished.

Nothing here knows about models: a :class:`Partial` is a name (``kind``), the settings it was computed
with (``config``, JSON-safe; two partials merge only when these agree), the shards it covers and its
arrays and counts.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Partial", "merge_partials"]

_FORMAT = 1


@dataclass(frozen=True, eq=False)
class Partial:
    """Sums (float64 arrays) and counts (Python numbers) of one analysis over ``shards``.

    ``kind``: the analysis (``"head_stats"``, ``"head_importance"``). ``config``: its settings (a
    JSON-safe dict); partials of different settings never merge. ``shards``: sorted shard indices covered
    (each counted once: merging overlapping partials is refused, it would count a shard twice).
    ``sums``: name -> float64 array. ``counts``: name -> int or float (token counts, text counts, sums of
    ``n·log n``).
    """

    kind: str
    config: dict[str, Any]
    shards: tuple[int, ...]
    sums: dict[str, np.ndarray] = field(default_factory=dict)
    counts: dict[str, float] = field(default_factory=dict)

    def merge(self, other: Partial) -> Partial:
        """The partial of both shard sets: sums and counts added. Raises ``ValueError`` when the kinds,
        settings or array shapes differ, or when a shard is in both."""
        if self.kind != other.kind:
            raise ValueError(f"cannot merge a {self.kind} partial with a {other.kind} partial")
        if self.config != other.config:
            raise ValueError(f"cannot merge partials computed with different settings: {self.config} != {other.config}")
        overlap = set(self.shards) & set(other.shards)
        if overlap:
            raise ValueError(f"shards {sorted(overlap)[:5]} are in both partials; merging would count them twice")
        if set(self.sums) != set(other.sums) or set(self.counts) != set(other.counts):
            raise ValueError("cannot merge partials with different fields")
        sums = {}
        for name, value in self.sums.items():
            if value.shape != other.sums[name].shape:
                raise ValueError(f"{name}: shapes {value.shape} and {other.sums[name].shape} differ")
            sums[name] = value + other.sums[name]
        counts = {name: value + other.counts[name] for name, value in self.counts.items()}
        return Partial(self.kind, self.config, tuple(sorted(self.shards + other.shards)), sums, counts)

    def _write(self, f) -> None:
        header = {
            "format": _FORMAT,
            "kind": self.kind,
            "config": self.config,
            "shards": list(self.shards),
            "counts": self.counts,
            "sums": sorted(self.sums),
        }
        arrays = {f"sum_{name}": np.ascontiguousarray(value, dtype=np.float64) for name, value in self.sums.items()}
        np.savez(f, header=np.array(json.dumps(header)), **arrays)

    def save(self, path: str | os.PathLike) -> None:
        """Write to ``path`` (``.npz``) atomically: a reader sees the whole file or none (written to a
        temporary file in the same folder, then renamed)."""
        path = os.fspath(path)
        fd, tmp = tempfile.mkstemp(prefix=".partial-", suffix=".tmp", dir=os.path.dirname(os.path.abspath(path)))
        try:
            with os.fdopen(fd, "wb") as f:
                self._write(f)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, file: Any) -> Partial:
        """Read a partial written by :meth:`save` (a path or a binary file object)."""
        source = os.fspath(file) if isinstance(file, (str, os.PathLike)) else file
        with np.load(source, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            if header.get("format") != _FORMAT:
                raise ValueError(f"{file}: not a partial result of format {_FORMAT}")
            sums = {name: np.array(data[f"sum_{name}"], dtype=np.float64) for name in header["sums"]}
        return cls(header["kind"], header["config"], tuple(int(s) for s in header["shards"]), sums, dict(header["counts"]))

    def to_bytes(self) -> bytes:
        """The :meth:`save` file as bytes (what engine workers send back)."""
        buf = io.BytesIO()
        self._write(buf)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Partial:
        return cls.load(io.BytesIO(data))


def merge_partials(partials: Iterable[Partial]) -> Partial:
    """Merge partials in ascending order of their first shard, so that the same shards always add up in
    the same order (then any engine gives bit-for-bit the single process's sums)."""
    ordered = sorted(partials, key=lambda p: p.shards[:1])
    if not ordered:
        raise ValueError("no partial results to merge")
    total = ordered[0]
    for p in ordered[1:]:
        total = total.merge(p)
    return total
