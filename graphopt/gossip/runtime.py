"""Decentralized training on real processes: one worker per process over ``torch.distributed``.

The process driver of the per-worker rules of :mod:`graphopt.gossip.methods` (DADAO, Nabli &
Oyallon, ICML 2023; asynchronous gossip SGD), plus the synchronous all-reduce baseline (what DDP
does). Each worker holds only its own data shard and state.

**Clocks and the schedule.** Every worker knows one shared seed. Worker ``i``'s gradient clock is
the Poisson process drawn from ``default_rng([seed, 0, i])`` at the rule's ``node_rate``; edge
``e``'s clock is the Poisson process drawn from ``default_rng([seed, 1, e])`` at its designed rate.
Both endpoints of an edge draw the same stream, so they agree on every meeting time without a
coordinator (:func:`worker_schedule`). Times are in the method's unit; one unit lasts
``time_unit`` seconds of wall clock, and a worker sleeps until each event is due.

**No deadlock with blocking send/recv.** (gloo's ``isend``/``irecv`` can hang, pytorch/gloo#308,
so only blocking calls are used.) Each worker plays its events in increasing time, ties broken
by kind then edge index, the same total order on both ends of an edge. The globally earliest
unplayed edge event is then the next edge event of both its endpoints, which both reach, so some
exchange can always proceed; within an exchange the lower rank sends first and the higher rank
receives first. A worker that falls behind (a straggler) makes its neighbours wait on their
exchanges with it; to catch up it skips gradient events that are more than ``max_lag`` units
late (counted as ``skipped``), never edge events, which both ends must play.

**Progress without stopping anyone.** At the schedule-agreed times ``k * checkpoint_every`` each
worker brings its state to that time and writes a snapshot file ``worker_<rank>.npz`` atomically
(its counts, its wall clock and its iterate; MNIST-like tasks record the worker's test accuracy
instead). The launcher reads the snapshots while the workers run and builds the error curve
``(1/n) sum_i ||x_i(t_k) - x*||^2`` from them at the end.

**Faults.** The process group has a timeout (``timeout`` seconds): a neighbour that dies is
noticed at once (gloo reports the closed connection) and one that hangs within ``timeout``. The
run then **stops with an error** (:class:`WorkerFailure`): the worker that notices writes its
failure to its snapshot, the launcher terminates the others (by their process ids) and writes the
checkpoints that every worker completed, marked ``"status": "failed"``. Nothing waits longer than
``time_limit + startup + timeout``. Continuing on the remaining graph is not implemented.

**Stragglers.** ``speed[i] = s`` makes worker ``i`` sleep ``s * grad_time`` seconds per gradient
(1 is nominal); ``grad_time`` emulates compute so that a 2-core machine can stand in for eight.

Launch with :func:`train` (spawns the workers on 127.0.0.1 and a free port), from the command
line with ``graphopt gossip train``, or under ``torchrun`` (``graphopt gossip train`` detects
``RANK``/``WORLD_SIZE``; every rank builds the same task, rank 0 broadcasts the rates and collects).
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from graphopt._io import check_parent, make_output_dir, write_atomic
from graphopt.gossip.methods import GossipSGDRule, WorkerRule
from graphopt.gossip.problems import ModuleTask
from graphopt.graph import Graph

__all__ = ["RUNTIME_METHODS", "ModuleTask", "RuntimeConfig", "RuntimeResult", "WorkerFailure",
           "worker_schedule", "prepare", "train", "run_worker", "collect", "under_torchrun",
           "train_torchrun"]

RUNTIME_METHODS = ("dadao", "gossip-sgd", "allreduce")
GRAD, EDGE, CKPT = 0, 1, 2


class WorkerFailure(RuntimeError):
    """A worker died, hung past the timeout or raised; the run was stopped."""


# ---------------------------------------------------------------------- tasks
class _ModuleOracle:
    """One worker's mini-batch loss on its own shard."""

    def __init__(self, task: ModuleTask, rank: int, seed: int) -> None:
        import torch

        X, y = task.shards[rank]
        self.X, self.y = torch.as_tensor(X), torch.as_tensor(y)
        self.loss_fn, self.batch_size = task.loss_fn, task.batch_size
        self.gen = torch.Generator().manual_seed(int(np.random.default_rng([seed, 2, rank])
                                                     .integers(2**62)))
        self.test = task.test

    def backward(self, model) -> float:
        import torch

        rows = torch.randint(0, len(self.X), (self.batch_size,), generator=self.gen)
        loss = self.loss_fn(model(self.X[rows]), self.y[rows])
        loss.backward()
        return loss.item()

    def accuracy(self, model) -> float:
        import torch

        X, y = self.test
        with torch.no_grad():
            return float((model(torch.as_tensor(X)).argmax(1) == torch.as_tensor(y))
                         .double().mean())


class _TorchState:
    __slots__ = ("model", "opt", "t")

    def __init__(self, model, opt, t: float) -> None:
        self.model, self.opt, self.t = model, opt, t


class TorchGossipSGDRule(WorkerRule):
    """Asynchronous gossip SGD on a ``torch.nn.Module``: an SGD step on a local mini-batch at
    gradient events, parameter averaging with the neighbour at edge events (the torch twin of
    :class:`~graphopt.gossip.methods.GossipSGDRule`)."""

    name = "gossip-sgd"

    def __init__(self, lr: float) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.lr = float(lr)

    def init(self, model, t0: float = 0.0) -> _TorchState:
        import torch

        return _TorchState(model, torch.optim.SGD(model.parameters(), lr=self.lr), t0)

    def advance(self, state: _TorchState, t: float) -> None:
        state.t = t

    def on_gradient(self, state: _TorchState, oracle: _ModuleOracle) -> None:
        state.opt.zero_grad(set_to_none=True)
        oracle.backward(state.model)
        state.opt.step()

    def message(self, state: _TorchState, oracle=None):
        from torch.nn.utils import parameters_to_vector

        return parameters_to_vector(state.model.parameters()).detach()

    def on_message(self, state: _TorchState, own, peer, edge: int) -> None:
        from torch.nn.utils import vector_to_parameters

        vector_to_parameters(0.5 * (own + peer), state.model.parameters())

    def params(self, state: _TorchState) -> np.ndarray:
        return self.message(state).numpy()


# ---------------------------------------------------------------------- schedule
def _poisson_times(rng: np.random.Generator, rate: float, horizon: float) -> np.ndarray:
    if rate <= 0 or horizon <= 0:
        return np.empty(0)
    chunks, t = [], 0.0
    size = int(rate * horizon * 1.1) + 16
    while t < horizon:
        times = t + np.cumsum(rng.exponential(1.0 / rate, size))
        chunks.append(times)
        t = times[-1]
    times = np.concatenate(chunks)
    return times[times < horizon]


def worker_schedule(rank: int, edges: np.ndarray, rates: np.ndarray, *, node_rate: float,
                    horizon: float, seed: int, checkpoint_every: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Worker ``rank``'s events on ``[0, horizon)``: ``(times, kinds, ids)`` in playing order.

    Kinds: ``0`` gradient, ``1`` edge (``id`` = edge index), ``2`` checkpoint (``id`` = its
    index ``k``, at ``k * checkpoint_every``, plus one at ``horizon``). Edge ``e``'s times come
    from ``default_rng([seed, 1, e])`` alone, so both endpoints compute the same ones.
    """
    times = [_poisson_times(np.random.default_rng([seed, 0, rank]), node_rate, horizon)]
    kinds = [np.full(len(times[0]), GRAD)]
    ids = [np.full(len(times[0]), rank)]
    for e in np.flatnonzero((edges[:, 0] == rank) | (edges[:, 1] == rank)):
        te = _poisson_times(np.random.default_rng([seed, 1, int(e)]), float(rates[e]), horizon)
        times.append(te)
        kinds.append(np.full(len(te), EDGE))
        ids.append(np.full(len(te), e))
    ck = np.arange(0.0, horizon, checkpoint_every)
    ck = np.append(ck, horizon)
    times.append(ck)
    kinds.append(np.full(len(ck), CKPT))
    ids.append(np.arange(len(ck)))
    t, k, i = np.concatenate(times), np.concatenate(kinds), np.concatenate(ids)
    order = np.lexsort((i, k, t))
    return t[order], k[order], i[order]


# ---------------------------------------------------------------------- configuration
@dataclass
class RuntimeConfig:
    """Everything a worker needs besides its own shard (identical on every worker)."""

    method: str
    edges: np.ndarray
    rates: np.ndarray
    num_workers: int
    out: str
    time_unit: float = 0.05
    time_limit: float = 10.0
    seed: int = 0
    speed: list[float] = field(default_factory=list)
    grad_time: float = 0.0
    max_lag: float = 2.0
    checkpoint_every: float = 1.0
    timeout: float = 30.0
    lr: float | None = None
    batch_size: int | None = None
    constants: dict[str, float] | None = None

    @property
    def horizon(self) -> float:
        return self.time_limit / self.time_unit


@dataclass
class RuntimeResult:
    """One real run: per checkpoint (rows), per worker counts, and where the files are."""

    method: str
    status: str
    rows: list[dict]
    workers: list[dict]
    files: dict[str, str]
    metric: str
    error: str | None = None

    def first_below(self, rel_tol: float, axis: str = "comms") -> float:
        """``axis`` at the first checkpoint whose relative error is <= ``rel_tol`` (nan: never)."""
        for r in self.rows:
            if r.get("relative_error", np.inf) <= rel_tol:
                return float(r[axis])
        return float("nan")

    def first_above(self, accuracy: float, axis: str = "wall") -> float:
        for r in self.rows:
            if r.get("accuracy", -np.inf) >= accuracy:
                return float(r[axis])
        return float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(task: Any, graph: Graph, *, method: str = "dadao", rates: Any = "uniform",
            workers: int | None = None, out: str | os.PathLike = "gossip_train",
            time_unit: float = 0.05, time_limit: float = 10.0, seed: int = 0,
            speed: Sequence[float] | None = None, grad_time: float = 0.0, max_lag: float = 2.0,
            checkpoint_every: float = 1.0, timeout: float = 30.0, lr: float | None = None,
            batch_size: int | None = None, force: bool = False) -> RuntimeConfig:
    """Check every input and build the shared :class:`RuntimeConfig` (no process is started).

    ``rates``: ``"uniform"`` (DADAO's threshold), ``"sdp"``, ``"first_order"`` or an array
    aligned with ``graph.edges()``. Raises ``ValueError`` for a directed or disconnected graph,
    a worker count that differs from the graph's or the task's, rates below DADAO's threshold
    ``2 chi1 chi2 <= 1`` (unless ``force``), and out-of-range settings.
    """
    from graphopt.gossip import rates as design
    from graphopt.gossip.problems import DistributedProblem
    from graphopt.gossip.spectral import edge_rates, gossip_spectrum

    if method not in RUNTIME_METHODS:
        raise ValueError(f"method must be one of {', '.join(RUNTIME_METHODS)}, got {method!r}")
    graph = Graph.coerce(graph)
    if not isinstance(task, (DistributedProblem, ModuleTask)):
        raise TypeError("task must be a DistributedProblem (graphopt.gossip.problems) or a "
                        f"ModuleTask, got {type(task).__name__}")
    n = graph.num_nodes
    if workers is not None and workers != n:
        raise ValueError(f"--workers {workers} does not match the graph's {n} nodes")
    if task.num_workers != n:
        raise ValueError(f"the task is split over {task.num_workers} workers but the graph has "
                         f"{n} nodes")
    for name, value in dict(time_unit=time_unit, time_limit=time_limit, timeout=timeout,
                            checkpoint_every=checkpoint_every, max_lag=max_lag).items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")
    if grad_time < 0:
        raise ValueError(f"grad_time must be >= 0, got {grad_time}")
    speed = [1.0] * n if speed is None else [float(s) for s in speed]
    if len(speed) != n or any(not s > 0 for s in speed):
        raise ValueError(f"speed must hold {n} positive factors, got {speed}")
    if isinstance(rates, str):
        makers = dict(uniform=design.uniform_rates, sdp=design.sdp_rates,
                      first_order=design.first_order_rates)
        if rates not in makers:
            raise ValueError(f"rates must be 'uniform', 'sdp', 'first_order' or an array, "
                             f"got {rates!r}")
        edges, _ = edge_rates(graph)  # directed / disconnected graphs fail here, first
        rates = makers[rates](graph)
    edges, rates = edge_rates(graph, rates)
    constants = None
    if method == "dadao":
        if isinstance(task, ModuleTask):
            raise ValueError("method 'dadao' needs a DistributedProblem (mu, L); use "
                             "'gossip-sgd' or 'allreduce' for a ModuleTask")
        from graphopt.gossip.dadao import dadao_constants

        spec = gossip_spectrum(graph, rates)
        ratio = 2 * spec.chi1 * spec.chi2
        if ratio > 1 + 1e-9 and not force:
            raise ValueError(f"rates are below DADAO's threshold: 2*chi1*chi2 = {ratio:.4g} > 1; "
                             f"scale them up by {np.sqrt(ratio):.4g} (or use rates='uniform')")
        constants = dadao_constants(task.mu, task.L, spec.chi1)
    if lr is None:
        lr = 0.05 if isinstance(task, ModuleTask) else 1.0 / (2 * task.L)
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return RuntimeConfig(method=method, edges=edges, rates=rates, num_workers=n, out=str(out),
                         time_unit=float(time_unit), time_limit=float(time_limit),
                         seed=int(seed), speed=speed, grad_time=float(grad_time),
                         max_lag=float(max_lag), checkpoint_every=float(checkpoint_every),
                         timeout=float(timeout), lr=float(lr), batch_size=batch_size,
                         constants=constants)


# ---------------------------------------------------------------------- worker
class _ArrayOracle:
    """A convex worker's own function with its mini-batch generator."""

    def __init__(self, local, rank: int, seed: int, batch_size: int | None) -> None:
        self.local, self.batch_size = local, batch_size
        self.rng = np.random.default_rng([seed, 2, rank])

    def grad(self, x: np.ndarray) -> np.ndarray:
        return self.local.grad(x, self.rng, self.batch_size)

    def conjugate_grad(self, y: np.ndarray) -> np.ndarray:
        return self.local.conjugate_grad(y)


def _snapshot_path(out: str, rank: int) -> Path:
    return Path(out) / "workers" / f"worker_{rank}.npz"


def _make_out(cfg: RuntimeConfig, *files: str | None) -> Path:
    # Before any process starts: ``files`` (csv, png, json) go in ``out`` or in an existing
    # folder; ``out`` the user named is created (not its parents); ``workers/`` in it is ours.
    for f in files:
        if f and Path(f).parent.resolve() != Path(cfg.out).resolve():
            check_parent(f)
    out = make_output_dir(cfg.out)
    (out / "workers").mkdir(exist_ok=True)
    return out


class _Recorder:
    """A worker's checkpoints, rewritten atomically to its snapshot file each time."""

    def __init__(self, cfg: RuntimeConfig, rank: int, keep_params: bool) -> None:
        self.path = _snapshot_path(cfg.out, rank)
        self.rank, self.keep_params = rank, keep_params
        self.rows: list[list[float]] = []
        self.params: list[np.ndarray] = []
        self.counts = dict(grads=0, skipped=0, messages=0, bytes_sent=0, bytes_received=0)

    def record(self, k: int, t: float, wall: float, params: np.ndarray | None,
               accuracy: float = np.nan) -> None:
        c = self.counts
        self.rows.append([k, t, wall, c["grads"], c["skipped"], c["messages"], c["bytes_sent"],
                          accuracy])
        if self.keep_params and params is not None:
            self.params.append(np.array(params, dtype=np.float64))
        self.write("running")

    def write(self, status: str, error: str = "") -> None:
        rows = np.array(self.rows, dtype=np.float64).reshape(-1, 8)
        params = np.stack(self.params) if self.params else np.zeros((0, 0))
        meta = json.dumps(dict(rank=self.rank, pid=os.getpid(), status=status, error=error,
                               counts=self.counts))
        write_atomic(self.path, lambda f: np.savez(f, rows=rows, params=params,
                                                   meta=np.array(meta)))


_ROW_FIELDS = ("k", "time", "wall", "grads", "skipped", "messages", "bytes_sent", "accuracy")


def _init_group(cfg: RuntimeConfig, rank: int, init_method: str | None):
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    if dist.is_initialized():
        return dist
    dist.init_process_group("gloo", init_method=init_method, rank=rank,
                            world_size=cfg.num_workers,
                            timeout=datetime.timedelta(seconds=cfg.timeout))
    return dist


def _start_time(dist, rank: int) -> float:
    """Rank 0 picks the common wall-clock start a little ahead, once every worker is set up
    (the barrier), and everyone waits for it."""
    import torch

    dist.barrier()
    t = torch.tensor([time.time() + 0.2 if rank == 0 else 0.0], dtype=torch.float64)
    dist.broadcast(t, 0)
    return float(t[0])


def _wait_until(deadline: float) -> None:
    delay = deadline - time.time()
    if delay > 0:
        time.sleep(delay)


def _gossip_loop(cfg: RuntimeConfig, rank: int, rule: WorkerRule, state, oracle, dist,
                 rec: _Recorder, accuracy: Callable[[], float] | None) -> None:
    import torch

    times, kinds, ids = worker_schedule(rank, cfg.edges, cfg.rates, node_rate=rule.node_rate,
                                        horizon=cfg.horizon, seed=cfg.seed,
                                        checkpoint_every=cfg.checkpoint_every)
    start = _start_time(dist, rank)
    unit, max_lag = cfg.time_unit, cfg.max_lag * cfg.time_unit
    compute = cfg.grad_time * cfg.speed[rank]
    c = rec.counts
    edges = cfg.edges
    for t, kind, idx in zip(times.tolist(), kinds.tolist(), ids.tolist()):
        due = start + t * unit
        _wait_until(due)
        if kind == GRAD:
            if time.time() - due > max_lag:
                c["skipped"] += 1
                continue
            rule.advance(state, t)
            if compute:
                time.sleep(compute)
            rule.on_gradient(state, oracle)
            c["grads"] += 1
        elif kind == EDGE:
            i, j = int(edges[idx, 0]), int(edges[idx, 1])
            peer = j if i == rank else i
            rule.advance(state, t)
            own = rule.message(state, oracle)
            if isinstance(own, np.ndarray):
                own = np.ascontiguousarray(own)
            out = torch.as_tensor(own)
            got = torch.empty_like(out)
            # Lower rank sends first: with the shared event order this cannot deadlock.
            if rank < peer:
                dist.send(out, peer)
                dist.recv(got, peer)
            else:
                dist.recv(got, peer)
                dist.send(out, peer)
            rule.on_message(state, own, got if isinstance(own, torch.Tensor) else got.numpy(),
                            idx)
            c["messages"] += 1
            nbytes = out.numel() * out.element_size()
            c["bytes_sent"] += nbytes
            c["bytes_received"] += nbytes
        else:
            rule.advance(state, t)
            rec.record(idx, t, time.time() - start, rule.params(state),
                       accuracy() if accuracy else np.nan)


def _allreduce_loop(cfg: RuntimeConfig, rank: int, x, oracle, dist, rec: _Recorder,
                    accuracy: Callable[[], float] | None, model=None) -> None:
    """Synchronous baseline: every round each worker computes a gradient, the gradients are
    averaged by all-reduce and every worker takes the same step. Rank 0 decides when the time
    is up; the decision travels in the all-reduced buffer, so all stop on the same round."""
    import torch

    n, compute, c = cfg.num_workers, cfg.grad_time * cfg.speed[rank], rec.counts
    next_ckpt, k = 0.0, 0
    params = (lambda: x) if model is None else (
        lambda: torch.nn.utils.parameters_to_vector(model.parameters()).detach().numpy())
    if model is not None:
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
        grads_of = list(model.parameters())
    start = _start_time(dist, rank)
    _wait_until(start)
    while True:
        now = (time.time() - start) / cfg.time_unit
        if now >= next_ckpt:
            rec.record(k, now, time.time() - start, params(), accuracy() if accuracy else np.nan)
            k += 1
            next_ckpt = k * cfg.checkpoint_every
        if compute:
            time.sleep(compute)
        if model is None:
            g = torch.from_numpy(oracle.grad(x))
        else:
            opt.zero_grad(set_to_none=False)
            oracle.backward(model)
            g = torch.nn.utils.parameters_to_vector([p.grad for p in grads_of])
        buf = torch.cat([g.to(torch.float64), torch.tensor(
            [1.0 if rank == 0 and now >= cfg.horizon else 0.0], dtype=torch.float64)])
        dist.all_reduce(buf)
        c["grads"] += 1
        c["messages"] += 1
        # Ring all-reduce: each worker sends 2 (n - 1) / n of the vector.
        nbytes = int(2 * (n - 1) / n * g.numel() * g.element_size())
        c["bytes_sent"] += nbytes
        c["bytes_received"] += nbytes
        avg = buf[:-1] / n
        if model is None:
            x -= cfg.lr * avg.numpy()
        else:
            offset = 0
            for p in grads_of:
                p.grad.copy_(avg[offset:offset + p.numel()].view_as(p).to(p.dtype))
                offset += p.numel()
            opt.step()
        if buf[-1] > 0:
            now = (time.time() - start) / cfg.time_unit
            rec.record(k, now, time.time() - start, params(),
                       accuracy() if accuracy else np.nan)
            return


def run_worker(cfg: RuntimeConfig, rank: int, shard: Any, x0: np.ndarray | None = None,
               init_method: str | None = None) -> None:
    """One worker's whole life: join the group, play its schedule, write its snapshots.

    ``shard`` is the worker's own function (``problem.local(rank)``) or, for a
    :class:`ModuleTask`, ``task.restrict(rank)``. Failures are written to
    the snapshot before the exception propagates (the launcher turns them into
    :class:`WorkerFailure`).
    """
    is_module = isinstance(shard, ModuleTask)
    rec = _Recorder(cfg, rank, keep_params=not is_module)
    rec.write("starting")
    try:
        dist = _init_group(cfg, rank, init_method)
        accuracy = None
        if is_module:
            import torch

            torch.manual_seed(cfg.seed)  # the same initial weights on every worker
            model = shard.model_fn()
            oracle = _ModuleOracle(shard, rank, cfg.seed)
            if shard.test is not None:
                accuracy = lambda: oracle.accuracy(model)  # noqa: E731
            if cfg.method == "allreduce":
                _allreduce_loop(cfg, rank, None, oracle, dist, rec, accuracy, model=model)
            else:
                rule = TorchGossipSGDRule(cfg.lr)
                _gossip_loop(cfg, rank, rule, rule.init(model), oracle, dist, rec, accuracy)
        else:
            oracle = _ArrayOracle(shard, rank, cfg.seed, cfg.batch_size)
            x0 = np.zeros(shard.dim) if x0 is None else np.asarray(x0, dtype=np.float64)
            if cfg.method == "allreduce":
                _allreduce_loop(cfg, rank, x0.copy(), oracle, dist, rec, None)
            else:
                if cfg.method == "dadao":
                    from graphopt.gossip.dadao import DadaoRule

                    rule = DadaoRule(cfg.constants)
                else:
                    rule = GossipSGDRule(cfg.lr)
                _gossip_loop(cfg, rank, rule, rule.init(x0), oracle, dist, rec, None)
    except BaseException as e:
        # No teardown of a broken group: it can block on the dead peer.
        rec.write("failed", f"{type(e).__name__}: {e}"[:2000])
        raise
    dist.destroy_process_group()
    rec.write("done")


def _spawned_worker(cfg: RuntimeConfig, rank: int, shard: Any, x0, init_method: str) -> None:
    try:
        run_worker(cfg, rank, shard, x0, init_method)
    except BaseException:
        os._exit(1)  # the failure is in the snapshot; skip interpreter teardown
    os._exit(0)


# ---------------------------------------------------------------------- launcher and collection
def _read_snapshot(path: Path) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return dict(rows=z["rows"], params=z["params"], meta=json.loads(str(z["meta"])))
    except (OSError, ValueError, KeyError):
        return None


def collect(cfg: RuntimeConfig, task: Any, status: str = "done", error: str | None = None,
            csv_path: str | None = None, png_path: str | None = None,
            json_path: str | None = None, title: str = "") -> RuntimeResult:
    """Read every worker's snapshot and write the run's CSV, PNG and JSON (atomically).

    Rows are the checkpoints every worker completed: ``wall`` (seconds since the common start,
    the slowest worker's), ``time`` (method units), ``grads``, ``comms`` (edge activations, or
    all-reduce rounds), ``bytes`` (sent, all workers), and ``error``/``relative_error``
    (``(1/n) sum_i ||x_i - x*||^2``) for a convex problem or ``accuracy`` (mean test accuracy
    of the workers) for a :class:`ModuleTask`.
    """
    n = cfg.num_workers
    snaps = [_read_snapshot(_snapshot_path(cfg.out, r)) for r in range(n)]
    workers = []
    for r, s in enumerate(snaps):
        meta = s["meta"] if s else dict(rank=r, status="missing", counts={})
        workers.append(dict(rank=r, status=meta.get("status"), error=meta.get("error", ""),
                            speed=cfg.speed[r], **meta.get("counts", {})))
    rows = []
    if cfg.method == "allreduce":
        s = snaps[0]
        k_rows = s["rows"] if s else np.zeros((0, 8))
        for idx, row in enumerate(k_rows):
            d = dict(zip(_ROW_FIELDS, row.tolist()))
            rows.append(dict(time=d["time"], wall=d["wall"], grads=int(d["grads"]) * n,
                             comms=int(d["messages"]), bytes=int(d["bytes_sent"]) * n,
                             accuracy=d["accuracy"],
                             params=s["params"][idx] if len(s["params"]) else None))
    else:
        done = min((len(s["rows"]) if s else 0) for s in snaps)
        for k in range(done):
            rk = [s["rows"][k] for s in snaps]
            rows.append(dict(time=float(rk[0][1]), wall=float(max(r[2] for r in rk)),
                             grads=int(sum(r[3] for r in rk)),
                             comms=int(sum(r[5] for r in rk)) // 2,
                             bytes=int(sum(r[6] for r in rk)),
                             accuracy=float(np.mean([r[7] for r in rk])),
                             params=np.stack([s["params"][k] for s in snaps])
                             if len(snaps[0]["params"]) else None))
    metric = "accuracy" if isinstance(task, ModuleTask) else "error"
    for r in rows:
        P = r.pop("params")
        if metric == "error":
            x_star = task.x_star
            r["error"] = (float(np.sum((P - x_star) ** 2)) if P.ndim == 1
                          else float(np.mean(np.sum((P - x_star) ** 2, axis=1))))
            r.pop("accuracy")
    if metric == "error" and rows:
        e0 = rows[0]["error"]
        for r in rows:
            r["relative_error"] = r["error"] / e0 if e0 > 0 else r["error"]
    files: dict[str, str] = {}
    result = RuntimeResult(cfg.method, status, rows, workers, files, metric, error)
    from graphopt.gossip.report import save_runtime_csv, save_runtime_plot

    if csv_path and rows:
        files["csv"] = str(save_runtime_csv([result], csv_path))
    if png_path and rows:
        files["png"] = str(save_runtime_plot([result], png_path, title=title))
    if json_path:
        summary = dict(method=cfg.method, status=status, error=error, metric=metric,
                       num_workers=n, time_unit=cfg.time_unit, time_limit=cfg.time_limit,
                       seed=cfg.seed, grad_time=cfg.grad_time, edges=cfg.edges.tolist(),
                       rates=cfg.rates.tolist(), workers=workers,
                       final=rows[-1] if rows else None, files=files)
        files["json"] = str(write_atomic(json_path, lambda f: json.dump(summary, f, indent=1),
                                         mode="w"))
    return result


def _warm_up_optimizer() -> None:
    """The first optimizer step imports torch's compiler stack (seconds of CPU); pay it once
    in the launcher so that forked workers start their clocks warm."""
    import torch

    p = torch.nn.Parameter(torch.zeros(1))
    p.grad = torch.zeros(1)
    torch.optim.SGD([p], lr=0.1).step()


def _stop(procs: list) -> None:
    """Terminate the workers still alive (by their own process ids), then kill stragglers."""
    for p in procs:
        if p.is_alive():
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.time() + 3.0
    for p in procs:
        p.join(max(0.0, deadline - time.time()))
    for p in procs:
        if p.is_alive():
            os.kill(p.pid, signal.SIGKILL)
            p.join(1.0)


def train(task: Any, graph: Graph, *, method: str = "dadao", rates: Any = "uniform",
          workers: int | None = None, out: str | os.PathLike = "gossip_train",
          time_unit: float = 0.05, time_limit: float = 10.0, seed: int = 0,
          speed: Sequence[float] | None = None, grad_time: float = 0.0, max_lag: float = 2.0,
          checkpoint_every: float = 1.0, timeout: float = 30.0, lr: float | None = None,
          batch_size: int | None = None, x0: np.ndarray | None = None, force: bool = False,
          csv: str | None = None, png: str | None = None, json_path: str | None = None,
          title: str = "", start_method: str = "fork", progress: bool = True,
          on_start: Callable[[list], None] | None = None) -> RuntimeResult:
    """Run ``method`` on ``task`` with one process per node of ``graph`` (127.0.0.1, a free port).

    Every input is checked by :func:`prepare` before any process starts. The call returns when
    every worker has played its schedule up to ``time_limit`` seconds (plus start-up); a worker
    that fails stops the run with :class:`WorkerFailure` within ``timeout`` seconds, after the
    completed checkpoints are written. ``on_start(processes)`` is called once the workers are
    started (tests use it to kill one).
    """
    import multiprocessing as mp

    import torch.distributed  # noqa: F401  (imported once here, inherited by forked workers)

    if isinstance(task, ModuleTask):
        _warm_up_optimizer()

    cfg = prepare(task, graph, method=method, rates=rates, workers=workers, out=out,
                  time_unit=time_unit, time_limit=time_limit, seed=seed, speed=speed,
                  grad_time=grad_time, max_lag=max_lag, checkpoint_every=checkpoint_every,
                  timeout=timeout, lr=lr, batch_size=batch_size, force=force)
    out = _make_out(cfg, csv, png, json_path)
    for r in range(cfg.num_workers):
        _snapshot_path(cfg.out, r).unlink(missing_ok=True)
    init_method = f"tcp://127.0.0.1:{_free_port()}"
    ctx = mp.get_context(start_method)
    shards = ([task.restrict(r) for r in range(cfg.num_workers)] if isinstance(task, ModuleTask)
              else [task.local(r) for r in range(cfg.num_workers)])
    procs = [ctx.Process(target=_spawned_worker, args=(cfg, r, shards[r], x0, init_method),
                         name=f"graphopt-gossip-{r}", daemon=True)
             for r in range(cfg.num_workers)]
    started = time.time()
    for p in procs:
        p.start()
    if on_start is not None:
        on_start(procs)
    # Start-up (imports, rendezvous) is allowed the timeout on top of the run itself.
    deadline = started + cfg.time_limit + 2 * cfg.timeout + 10
    failure, last_print = None, 0.0
    try:
        while True:
            codes = [p.exitcode for p in procs]
            bad = [r for r, c in enumerate(codes) if c not in (None, 0)]
            if bad:
                failure = _describe_failure(cfg, procs, bad)
                break
            if all(c == 0 for c in codes):
                break
            if time.time() > deadline:
                failure = (f"the run did not finish within {deadline - started:.0f} s "
                           f"(time limit {cfg.time_limit} s + start-up); workers stopped")
                break
            if progress and time.time() - last_print > max(1.0, cfg.time_limit / 10):
                last_print = time.time()
                _print_progress(cfg, started)
            time.sleep(0.05)
    finally:
        _stop(procs)
    if failure is not None:
        # Neighbours may still be writing their own failure; let their snapshots settle.
        failure = _describe_failure(cfg, procs, [r for r, p in enumerate(procs)
                                                if p.exitcode not in (0,)]) or failure
    result = collect(cfg, task, "failed" if failure else "done", failure,
                     csv or str(out / "progress.csv"), png or str(out / "progress.png"),
                     json_path, title)
    if failure:
        raise WorkerFailure(failure)
    return result


def _describe_failure(cfg: RuntimeConfig, procs: list, bad: list[int]) -> str | None:
    if not bad:
        return None
    parts = []
    for r in bad:
        snap = _read_snapshot(_snapshot_path(cfg.out, r))
        meta = snap["meta"] if snap else {}
        code = procs[r].exitcode
        how = (f"killed by signal {-code}" if code is not None and code < 0
               else f"exit code {code}")
        err = meta.get("error") or ""
        parts.append(f"worker {r} ({how}{': ' + err.splitlines()[0][:300] if err else ''})")
    return "worker failure: " + "; ".join(parts)


def _print_progress(cfg: RuntimeConfig, started: float) -> None:
    snaps = [_read_snapshot(_snapshot_path(cfg.out, r)) for r in range(cfg.num_workers)]
    ready = [s for s in snaps if s is not None and len(s["rows"])]
    if len(ready) < cfg.num_workers:
        print(f"[{time.time() - started:6.1f} s] starting ({len(ready)}/{cfg.num_workers} "
              "workers running)", flush=True)
        return
    t = min(float(s["rows"][-1][1]) for s in ready)
    grads = sum(int(s["rows"][-1][3]) for s in ready)
    msgs = sum(int(s["rows"][-1][5]) for s in ready)
    print(f"[{time.time() - started:6.1f} s] t = {t:.1f} units  gradients {grads}  "
          f"messages {msgs}", flush=True)


def under_torchrun() -> bool:
    """True in a process started by ``torchrun`` (``RANK``, ``WORLD_SIZE`` and
    ``MASTER_ADDR`` set)."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR"))


def train_torchrun(task: Any, cfg: RuntimeConfig, *, x0: np.ndarray | None = None,
                   csv: str | None = None, png: str | None = None,
                   json_path: str | None = None, title: str = "") -> RuntimeResult | None:
    """This process's part of a ``torchrun`` launch (single host: ``cfg.out`` is shared).

    Every rank has built the same ``task`` and ``cfg``; rank 0's rates are broadcast so that both
    ends of every edge draw the same schedule even if a rate design differed in the last bit.
    Rank 0 then waits (up to ``cfg.timeout``) for every worker's final snapshot and writes the
    CSV, PNG and JSON; it returns the result, other ranks return None.
    """
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if world != cfg.num_workers:
        raise ValueError(f"torchrun started {world} processes for a graph of "
                         f"{cfg.num_workers} nodes")
    _make_out(cfg, csv, png, json_path)
    dist = _init_group(cfg, rank, "env://")
    shared = [cfg.rates if rank == 0 else None]
    dist.broadcast_object_list(shared, 0)
    cfg.rates = np.asarray(shared[0])
    shard = task.restrict(rank) if isinstance(task, ModuleTask) else task.local(rank)
    failure = None
    try:
        run_worker(cfg, rank, shard, x0, "env://")
    except Exception as e:  # rank 0 still writes what the others completed
        failure = f"worker {rank}: {type(e).__name__}: {e}"
        if rank != 0:
            raise
    if rank != 0:
        return None
    deadline = time.time() + cfg.timeout
    while time.time() < deadline:
        metas = [_read_snapshot(_snapshot_path(cfg.out, r)) for r in range(world)]
        states = [m["meta"]["status"] if m else "missing" for m in metas]
        if all(st in ("done", "failed") for st in states):
            break
        time.sleep(0.1)
    failed = [r for r, st in enumerate(states) if st != "done"]
    if failed and failure is None:
        failure = f"worker failure: workers {failed} did not finish ({[states[r] for r in failed]})"
    result = collect(cfg, task, "failed" if failure else "done", failure,
                     csv or str(Path(cfg.out) / "progress.csv"),
                     png or str(Path(cfg.out) / "progress.png"), json_path, title)
    if failure:
        raise WorkerFailure(failure)
    return result
