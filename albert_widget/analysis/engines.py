"""Where the shards of a corpus analysis run: this process, a Ray cluster or a Dask cluster.

:func:`run_shards` takes a :class:`~.shards.ShardTask` and the shards of the corpus, skips the shards
whose partial is already saved in ``checkpoint``, runs the others on the engine and returns the merged
:class:`~.partial.Partial`. Every engine runs the same :meth:`ShardTask.run` on the same shards, and the
partials merge in shard order, so the answer does not depend on the engine or on how many workers it had.

* ``None``: this process, with a tqdm bar over texts.
* ``"ray"``: Ray Data ``map_batches`` over the shards with a pool of actors, each holding one model
  replica (one GPU per actor when the cluster has GPUs); Ray's own progress bars. Uses the running Ray
  cluster, or starts a local one (and shuts it down afterwards).
* ``"dask"``: ``dask.distributed``: the ``client`` given, or a local cluster of ``num_workers`` worker
  processes (closed afterwards); the model is scattered once to every worker; the dashboard link is
  printed when there is one.

Engines are optional extras: ``pip install "albert_widget[ray]"`` / ``"albert_widget[dask]"``.
"""

from __future__ import annotations

import os
import pickle
import uuid
from collections.abc import Iterable
from typing import Any

from ._common import progress_bar
from .partial import Partial, merge_partials
from .shards import Shard, ShardTask, load_finished, model_on_device

__all__ = ["ENGINES", "init_ray", "require_engine", "run_shards"]

ENGINES = (None, "ray", "dask")
_EXTRAS = {"ray": ("ray", "Ray"), "dask": ("distributed", "Dask distributed")}


def require_engine(engine: str):
    """Import the engine's module, or raise ``ImportError`` naming the extra that installs it."""
    _module, name = _EXTRAS[engine]
    try:
        if engine == "ray":
            import ray
            import ray.data

            return ray
        import distributed

        return distributed
    except ImportError as exc:
        raise ImportError(f'engine="{engine}" needs {name}, which is not installed: pip install "albert_widget[{engine}]"') from exc


def init_ray(attempts: int = 3, **kwargs: Any) -> None:
    """``ray.init(**kwargs)``, tried again after a start-up timeout: Ray gives a new local node 30 s to
    register, which a busy machine can miss."""
    import ray

    for attempt in range(attempts):
        try:
            ray.init(**kwargs)
            return
        except Exception as exc:  # Ray raises a bare Exception for this
            if "timed out during startup" not in str(exc) or attempt == attempts - 1:
                raise
            ray.shutdown()


def check_engine(engine: Any) -> None:
    if engine not in ENGINES:
        raise ValueError(f"engine must be None, 'ray' or 'dask', got {engine!r}")


def run_shards(
    task: ShardTask,
    shards: Iterable[Shard],
    *,
    engine: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
    client: Any = None,
    num_workers: int | None = None,
) -> Partial:
    """Run ``task`` on every shard not yet saved in ``checkpoint``; the merged partial of all shards.
    ``client`` (Dask) and ``num_workers`` (Ray actors / local Dask workers) choose the workers."""
    check_engine(engine)
    if client is not None and engine != "dask":
        raise ValueError("client= is a dask.distributed Client: it goes with engine='dask'")
    if engine is not None:
        require_engine(engine)  # before any work: a missing extra is the first thing the user hears
    if checkpoint is not None:
        checkpoint = os.path.abspath(os.fspath(checkpoint))
        os.makedirs(checkpoint, exist_ok=True)
    task.checkpoint = checkpoint

    done: list[Partial] = []
    todo: list[Shard] = []
    for shard in shards:
        finished = load_finished(checkpoint, task.kind, task.config, shard)
        if finished is not None:
            done.append(finished)
        else:
            todo.append(shard)
    if not done and not todo:
        raise ValueError("texts is empty; give at least one sentence")
    if engine is None:
        done += _run_local(task, todo, progress)
    elif todo:
        runner = _run_ray if engine == "ray" else _run_dask
        done += runner(task, todo, progress, client, num_workers)
    return merge_partials(done)


def _run_local(task: ShardTask, shards: list[Shard], progress: bool) -> list[Partial]:
    bar = progress_bar(sum(s.size for s in shards), progress and bool(shards), task.kind.replace("_", " "))
    out = []
    try:
        with model_on_device(task):
            for shard in shards:
                out.append(task.run(shard, on_batch=bar.update))
    finally:
        bar.close()
    return out


# -- Ray ------------------------------------------------------------------------------------------


class _RayShardWorker:
    """A Ray Data actor: one model replica, prepared once, then shard after shard."""

    def __init__(self, task_ref):
        import ray

        self.task = ray.get(task_ref[0])  # in a list: Ray would otherwise hand over the object itself, per call
        self.task.prepare()

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        partials = [self.task.run(pickle.loads(blob)).to_bytes() for blob in batch["shard"]]
        return {"index": np.asarray(batch["index"]), "partial": np.array(partials, dtype=object)}


def _run_ray(task: ShardTask, shards: list[Shard], progress: bool, client: Any, num_workers: int | None) -> list[Partial]:
    import ray

    started = False
    if not ray.is_initialized():
        init_ray(include_dashboard=False, log_to_driver=False)
        started = True
    try:
        import ray.data

        context = ray.data.DataContext.get_current()
        bars = context.enable_progress_bars
        context.enable_progress_bars = bool(progress)
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if num_workers is None:
            num_workers = gpus if gpus else max(1, int(resources.get("CPU", 1)))
        num_workers = max(1, min(num_workers, len(shards)))
        task_ref = ray.put(task)
        items = [{"index": s.index, "shard": pickle.dumps(s)} for s in shards]
        ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            _RayShardWorker,
            fn_constructor_kwargs={"task_ref": [task_ref]},
            batch_size=1,  # one shard per call: a shard is the unit of work and of loss
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=num_workers),
            num_gpus=1 if gpus else 0,
            num_cpus=1,  # tokenisation runs on the worker's CPU, GPU or not
        )
        try:
            out = [Partial.from_bytes(row["partial"]) for row in ds.iter_rows()]
        finally:
            context.enable_progress_bars = bars
        return out
    finally:
        if started:
            ray.shutdown()


# -- Dask -----------------------------------------------------------------------------------------


def _run_dask_shard(task: ShardTask, shard: Shard) -> bytes:
    return task.run(shard).to_bytes()


def _run_dask(task: ShardTask, shards: list[Shard], progress: bool, client: Any, num_workers: int | None) -> list[Partial]:
    from distributed import Client, LocalCluster, as_completed

    own = client is None
    cluster = None
    if own:
        cluster = LocalCluster(n_workers=num_workers or 2, threads_per_worker=1, processes=True)
        client = Client(cluster)
    try:
        if progress:
            link = getattr(client, "dashboard_link", None)
            if link:
                print(f"{task.kind}: {len(shards)} shards on Dask; dashboard: {link}")
        # One copy of the model per worker, not one per task.
        [task_future] = client.scatter([task], broadcast=True)
        run = uuid.uuid4().hex[:8]  # fresh keys: a rerun never attaches to a cancelled task of a failed run
        futures = client.map(
            _run_dask_shard, [task_future] * len(shards), shards, key=[f"{task.kind}-shard-{s.index}-{run}" for s in shards], pure=False
        )
        out = []
        try:
            for future in as_completed(futures):
                out.append(Partial.from_bytes(future.result()))
                # Let go of it at once: a held result lost with its worker would be computed again.
                future.release()
        except BaseException:
            client.cancel([f for f in futures if not f.done()])
            raise
        return out
    finally:
        if own:
            client.close()
            cluster.close()
