"""A corpus cut into shards, and the task that turns one shard into a :class:`~.partial.Partial`.

The corpus is a list or iterable of texts (strings or ``(text, text_pair)`` tuples), or files that the
workers read themselves (:func:`corpus_files`: Parquet, JSON lines). Shards are fixed by the corpus and
``shard_size`` alone: consecutive texts, ``shard_size`` at a time (file by file for files), numbered
from 0. Every engine and the single process compute the same shards with the same function
(:class:`ShardTask`), batching only inside a shard, so their partials are the same numbers.

A shard's ``key`` (a hash of its texts, or of its file's path, size, modification time and row range)
names its checkpoint file: a rerun finds the shards already done.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .partial import Partial

__all__ = ["DEFAULT_SHARD_SIZE", "CorpusFiles", "Shard", "ShardTask", "corpus_files", "plan_shards"]

#: Texts per shard unless told otherwise: small enough that a lost shard costs little, large enough
#: that the per-shard overhead (a task, a file) is noise next to the model.
DEFAULT_SHARD_SIZE = 512

_FILE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class CorpusFiles:
    """Texts in Parquet or JSON-lines files (one object per line), read by the workers: the driver only
    counts rows. ``column`` holds the text, ``pair_column`` an optional second sentence, ``label_column``
    optional labels (for :func:`~albert_widget.analysis.head_importance`)."""

    paths: tuple[str, ...]
    column: str = "text"
    pair_column: str | None = None
    label_column: str | None = None


def corpus_files(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    column: str = "text",
    pair_column: str | None = None,
    label_column: str | None = None,
) -> CorpusFiles:
    """A corpus in files (``.parquet``/``.pq``, ``.jsonl``/``.json``/``.ndjson`` JSON lines), in the
    order given, to pass as ``texts`` to the corpus analyses. A ``pathlib.Path`` or a list of them works
    too (plain strings are texts, not paths)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    resolved = []
    for p in paths:
        p = os.path.abspath(os.fspath(p))
        if _file_format(p) is None:
            raise ValueError(f"{p}: not a Parquet or JSON-lines file (suffixes {sorted(_FILE_SUFFIXES)})")
        if not os.path.isfile(p):
            raise FileNotFoundError(p)
        resolved.append(p)
    if not resolved:
        raise ValueError("no files given")
    return CorpusFiles(tuple(resolved), column, pair_column, label_column)


def _file_format(path: str) -> str | None:
    return _FILE_SUFFIXES.get(os.path.splitext(path)[1].lower())


@dataclass(frozen=True)
class Shard:
    """Texts ``first .. first + size - 1`` of the corpus.

    In memory: ``texts`` (and ``labels``). From a file: ``source = (path, start, stop)`` (rows for
    Parquet, byte offsets for JSON lines) read by :meth:`load` where the shard runs."""

    index: int
    first: int
    size: int
    key: str
    texts: tuple | None = None
    labels: tuple | None = None
    source: tuple[str, int, int] | None = None
    files: CorpusFiles | None = None

    def load(self) -> tuple[list, list | None]:
        """``(texts, labels or None)``; texts are strings or ``(text, text_pair)`` tuples."""
        if self.texts is not None:
            return list(self.texts), None if self.labels is None else list(self.labels)
        path, start, stop = self.source
        rows = _read_parquet(path, start, stop, self.files) if _file_format(path) == "parquet" else _read_jsonl(path, start, stop)
        return _texts_of_rows(rows, self.files, path)


def _texts_of_rows(rows: list[dict], files: CorpusFiles, path: str) -> tuple[list, list | None]:
    texts, labels = [], None if files.label_column is None else []
    for row in rows:
        try:
            text = row[files.column]
            if files.pair_column is not None:
                text = (text, row[files.pair_column])
            if labels is not None:
                labels.append(row[files.label_column])
        except KeyError as exc:
            raise KeyError(f"{path}: a row has no column {exc.args[0]!r} (columns: {sorted(row)})") from None
        texts.append(text)
    return texts, labels


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError(
            "reading Parquet files needs pyarrow, which is not installed: pip install pyarrow "
            '(it comes with the extras "albert_widget[ray]" and "albert_widget[dask]")'
        ) from exc
    return pa, pq


def _read_parquet(path: str, start: int, stop: int, files: CorpusFiles) -> list[dict]:
    """Rows ``start..stop-1`` of a Parquet file, reading only the row groups that hold them."""
    pa, pq = _pyarrow()

    columns = [c for c in (files.column, files.pair_column, files.label_column) if c is not None]
    f = pq.ParquetFile(path)
    groups, offset, skip = [], 0, 0
    for g in range(f.metadata.num_row_groups):
        n = f.metadata.row_group(g).num_rows
        if offset + n > start and offset < stop:
            if not groups:
                skip = start - offset
            groups.append(g)
        offset += n
    table = f.read_row_groups(groups, columns=columns) if groups else pa.table({c: [] for c in columns})
    return table.slice(skip, stop - start).to_pylist()


def _read_jsonl(path: str, start: int, stop: int) -> list[dict]:
    """The JSON objects of the lines between byte offsets ``start`` and ``stop``."""
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(stop - start)
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def _hash(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, ensure_ascii=False, default=str).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def plan_shards(texts: Any, shard_size: int = DEFAULT_SHARD_SIZE, labels: Sequence[Any] | None = None) -> Iterator[Shard]:
    """The shards of a corpus, lazily (an iterable is read ``shard_size`` texts at a time).

    ``texts``: a list/tuple/iterable of strings or ``(text, text_pair)`` tuples, or :class:`CorpusFiles`
    (or a ``pathlib.Path`` / list of Paths). ``labels``: one per text (in-memory corpora only)."""
    if not isinstance(shard_size, int) or isinstance(shard_size, bool) or shard_size < 1:
        raise ValueError(f"shard_size must be a positive int, got {shard_size!r}")
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings (got one string: wrap it in a list)")
    files = as_corpus_files(texts)
    if files is not None:
        if labels is not None:
            raise ValueError("with texts in files, give labels as a column: corpus_files(..., label_column=)")
        yield from _plan_files(files, shard_size)
        return
    label_iter = iter(labels) if labels is not None else None
    it = iter(texts)
    first = 0
    for index in itertools.count():
        chunk = tuple(tuple(t) if isinstance(t, list) else t for t in itertools.islice(it, shard_size))
        if not chunk:
            return
        chunk_labels = None
        if label_iter is not None:
            chunk_labels = tuple(itertools.islice(label_iter, len(chunk)))
            if len(chunk_labels) != len(chunk):
                raise ValueError(f"fewer labels than texts (labels end before text {first + len(chunk_labels)})")
        yield Shard(index, first, len(chunk), _hash(first, chunk, chunk_labels), texts=chunk, labels=chunk_labels)
        first += len(chunk)


def as_corpus_files(texts: Any) -> CorpusFiles | None:
    """``texts`` as :class:`CorpusFiles` when it names files (CorpusFiles, a Path, a list of Paths)."""
    if isinstance(texts, CorpusFiles):
        return texts
    if isinstance(texts, os.PathLike):
        return corpus_files(texts)
    if isinstance(texts, (list, tuple)) and texts and all(isinstance(t, os.PathLike) for t in texts):
        return corpus_files(texts)
    return None


def _plan_files(files: CorpusFiles, shard_size: int) -> Iterator[Shard]:
    index = first = 0
    for path in files.paths:
        st = os.stat(path)
        for start, stop, n in _file_ranges(path, shard_size):
            key = _hash(path, st.st_size, st.st_mtime_ns, start, stop, files.column, files.pair_column, files.label_column)
            yield Shard(index, first, n, key, source=(path, start, stop), files=files)
            index += 1
            first += n


def _file_ranges(path: str, shard_size: int) -> Iterator[tuple[int, int, int]]:
    """``(start, stop, rows)`` per shard of one file: row ranges from Parquet metadata; byte ranges of
    JSON lines from one pass over the file (blank lines skipped)."""
    if _file_format(path) == "parquet":
        _, pq = _pyarrow()
        total = pq.ParquetFile(path).metadata.num_rows
        for start in range(0, total, shard_size):
            stop = min(total, start + shard_size)
            yield start, stop, stop - start
        return
    with open(path, "rb") as f:
        start = offset = 0
        rows = 0
        for line in f:
            offset += len(line)
            if line.strip():
                rows += 1
                if rows == shard_size:
                    yield start, offset, rows
                    start, rows = offset, 0
        if rows:
            yield start, offset, rows


# -- the task a worker runs -----------------------------------------------------------------------


def check_batch_size(batch_size: Any) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def task_config(model: Any, **settings: Any) -> dict[str, Any]:
    """What a partial was computed with (JSON-safe): the model's class and name, and the analysis
    settings. Partials merge, and checkpoints resume, only under the same config."""
    config = getattr(model, "config", None)
    return {
        "model": type(model).__name__,
        "name_or_path": str(getattr(config, "_name_or_path", "") or ""),
        "dtype": str(getattr(next(iter(model.parameters()), None), "dtype", "")),
        **settings,
    }


@dataclass
class ShardTask:
    """One analysis ready to run on shards: ``compute(model, tokenizer, texts, labels, first, device,
    on_batch, **options) -> (sums, counts)`` (a module-level function, so that it pickles by reference),
    the model and tokenizer, and where finished shards are saved (``checkpoint``, a folder every worker
    can write to). Workers get one pickled copy each: one model replica per worker."""

    kind: str
    compute: Callable[..., tuple[dict, dict]]
    model: Any
    tokenizer: Any
    options: dict[str, Any]
    config: dict[str, Any]
    device: Any = None
    checkpoint: str | None = None
    _lock: Any = field(default=None, repr=False, compare=False)
    _ready: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_lock"] = state["_ready"] = None  # a lock does not pickle; a worker makes its own
        state["model"] = portable_model(self.model)
        return state

    def __post_init__(self):
        self._lock = threading.Lock()

    def __setstate__(self, state):
        state["model"] = rebuild_model(state["model"])
        state["_lock"] = threading.Lock()  # made here, before any thread of the worker can use the task
        self.__dict__.update(state)

    def prepare(self) -> None:
        """On a worker, once: move the model to its device (the GPU when it has one) and keep it there."""
        from ._common import pick_device

        with self._lock:
            if self._ready is None:
                device = pick_device(self.model, self.device)
                self.model.to(device)
                self._ready = device

    def run(self, shard: Shard, on_batch: Callable[[int], None] | None = None) -> Partial:
        """The partial of one shard, saved under ``checkpoint`` (when set) before it is returned."""
        if self._ready is None:
            self.prepare()
        texts, labels = shard.load()
        with self._lock:  # one model, one shard at a time (threaded workers share the replica)
            sums, counts = self.compute(self.model, self.tokenizer, texts, labels, shard.first, self._ready, on_batch, **self.options)
        partial = Partial(self.kind, self.config, (shard.index,), sums, counts)
        if self.checkpoint is not None:
            partial.save(checkpoint_path(self.checkpoint, self.kind, shard))
        return partial


def portable_model(model: Any) -> dict[str, Any]:
    """A model as its class, config and CPU weights: what travels to the workers. transformers models
    do not always pickle whole (they may hold context variables and bound hooks); these three do."""
    return {
        "class": type(model),
        "config": model.config,
        "state": {k: v.detach().to("cpu") for k, v in model.state_dict().items()},
        "dtype": next(iter(model.parameters())).dtype,
    }


def rebuild_model(payload: dict[str, Any]) -> Any:
    """The model of :func:`portable_model`, in eval mode, with exactly the sent weights."""
    model = payload["class"](payload["config"]).to(payload["dtype"])
    model.load_state_dict(payload["state"], strict=True)
    return model.eval()


def checkpoint_path(folder: str, kind: str, shard: Shard) -> str:
    return os.path.join(folder, f"{kind}-{shard.index:06d}-{shard.key[:16]}.npz")


def load_finished(folder: str | None, kind: str, config: dict, shard: Shard) -> Partial | None:
    """The saved partial of ``shard`` or ``None``. A file of other settings is an error, not a miss:
    mixing runs of different settings in one folder would merge into a wrong answer."""
    if folder is None:
        return None
    path = checkpoint_path(folder, kind, shard)
    if not os.path.exists(path):
        return None
    partial = Partial.load(path)
    if partial.config != config:
        raise ValueError(
            f"{path} was computed with other settings ({partial.config}, now {config}): "
            "use another checkpoint folder, or delete this one to start over"
        )
    return partial


@contextlib.contextmanager
def model_on_device(task: ShardTask) -> Iterator[ShardTask]:
    """The single-process run: the model on its device for the duration, then back where it was."""
    from ._common import model_device

    before = model_device(task.model)
    task.prepare()
    try:
        yield task
    finally:
        if task._ready != before:
            task.model.to(before)
        task._ready = None
