"""Controlled interleaving: run several client operations in threads, one at a time, switching
only at I/O points (each Redis command, each database call), in an order chosen by Hypothesis.

Races such as the stale-set (a fill computed from an old read lands after an invalidation)
then replay exactly and shrink, instead of depending on thread timing. Threads the interleaver
does not manage (a subject's background workers) pass through I/O points untouched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis

#: Called before every I/O operation: (component, operation), e.g. ("redis", "GET"). The
#: component "wait" marks a task waiting for another (a lock poll): the turn passes on.
IoHook = Callable[[str, str], None]
T = TypeVar("T")


class IoPoints:
    """The switch instrumented clients consult before each I/O; a no-op when nobody listens."""

    def __init__(self) -> None:
        self.hook: IoHook | None = None
        #: While the stateful model drives the world, a subject's background work runs inline
        #: in the thread that starts it (see `BackgroundExecutor`).
        self.inline_background = False

    def __call__(self, component: str, operation: str) -> None:
        hook = self.hook
        if hook is not None:
            hook(component, operation)


class BackgroundExecutor(Executor):
    """A thread pool for a subject's background work (refresh-ahead reloads, …) that runs the
    work inline, in the thread that submits it, while the stateful model drives the world.

    Work on a pool thread would race the model's next steps and the operations of a burst at
    whatever pace the machine allows, so a failure would not replay. Inline, its Redis and
    database calls are I/O points of the task that started it: the interleaver schedules
    them, and a counterexample replays. Outside the model (scenarios, the concurrent runner)
    the pool runs it as usual.
    """

    def __init__(self, points: IoPoints, workers: int, *, name: str = "cachecheck-bg") -> None:
        self._points = points
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=name)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if not self._points.inline_background:
            return self._pool.submit(fn, *args, **kwargs)
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered through the future, as a pool would
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def instrument(client: redis.Redis, points: IoPoints) -> redis.Redis:
    """Make `client` call `points` before every command and every pipeline execution."""
    execute_command: Callable[..., Any] = client.execute_command
    make_pipeline: Callable[..., Any] = client.pipeline

    # A script the server has not cached yet fails with NOSCRIPT; redis-py then loads it and
    # retries. That is one logical command: if its reload made I/O points of their own, the
    # same schedule would preempt at a different place the first time a script runs.
    reloading = threading.local()

    def instrumented_command(*args: Any, **options: Any) -> Any:
        name = str(args[0]) if args else "?"
        if getattr(reloading, "active", False):
            reloading.active = name != "EVALSHA"  # the retry ends the reload
        else:
            points("redis", name)
        try:
            return execute_command(*args, **options)
        except redis.exceptions.NoScriptError:
            reloading.active = True
            raise

    def instrumented_pipeline(transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = make_pipeline(transaction, shard_hint)
        execute = pipe.execute

        def instrumented_execute(raise_on_error: bool = True) -> Any:
            points("redis", "PIPELINE")
            return execute(raise_on_error)

        setattr(pipe, "execute", instrumented_execute)  # noqa: B010 - patching one instance
        return pipe

    setattr(client, "execute_command", instrumented_command)  # noqa: B010
    setattr(client, "pipeline", instrumented_pipeline)  # noqa: B010
    return client


@dataclass
class TaskResult:
    value: Any = None
    error: BaseException | None = None
    trace: list[str] = field(default_factory=list)


class Interleaver:
    """Serialize `tasks` and preempt them at I/O points, PCT-style.

    Task `first` runs first. It performs `switches[0]` I/O calls, then at its next I/O point it
    is preempted and the next live task (round robin) runs `switches[1]` calls, and so on; when
    the switches are used up, the running task continues to completion, then the next. Most
    cache races need one or two preemptions, so short schedules find them and shrink well.

    If the running task does not reach an I/O point within `step_timeout` seconds (it waits on
    something that is not I/O), the interleaver stops controlling and lets every task run
    freely, and says so in `degraded`.
    """

    def __init__(
        self, first: int = 0, switches: Sequence[int] = (), *, step_timeout: float = 2.0
    ) -> None:
        self._first = first
        self._switches = list(switches)
        self._next_switch = 0
        self._budget: int | None = None
        self._step_timeout = step_timeout
        self._cond = threading.Condition()
        self._turn: int | None = None
        self._live: list[int] = []
        self._ids: dict[int, int] = {}  # thread ident -> task index
        self.degraded = False
        self.switches: list[tuple[int, str]] = []

    def io_point(self, component: str, operation: str) -> None:
        """The I/O hook: preempt the calling task if its budget of I/O calls is spent."""
        me = self._ids.get(threading.get_ident())
        if me is None:
            return
        with self._cond:
            if self.degraded:
                return
            self.switches.append((me, f"{component}.{operation}"))
            if component == "wait":
                self._yield_turn(me)
                return
            if self._budget is None or self._budget > 0:
                if self._budget is not None:
                    self._budget -= 1
                return
            self._turn = self._after(me)
            self._take_budget()
            self._cond.notify_all()
            self._wait_for_turn(me)

    def run(self, tasks: Sequence[Callable[[], Any]], *, timeout: float = 30.0) -> list[TaskResult]:
        results = [TaskResult() for _ in tasks]
        threads = [
            threading.Thread(target=self._run_task, args=(i, task, results[i]), daemon=True,
                             name=f"cachecheck-interleave-{i}")
            for i, task in enumerate(tasks)
        ]  # fmt: skip
        with self._cond:
            self._live = list(range(len(tasks)))
            self._turn = self._live[self._first % len(self._live)] if self._live else None
            self._take_budget()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout)
            if thread.is_alive():
                self._release_all()
                thread.join(timeout)
        return results

    def _run_task(self, index: int, task: Callable[[], Any], result: TaskResult) -> None:
        self._ids[threading.get_ident()] = index
        with self._cond:
            self._wait_for_turn(index)
        try:
            result.value = task()
        except BaseException as exc:  # reported to the caller, who decides what it means
            result.error = exc
        finally:
            with self._cond:
                following = self._after(index)
                self._live.remove(index)
                if not self.degraded:
                    self._turn = following if self._live else None
                self._cond.notify_all()

    def _yield_turn(self, me: int) -> None:
        """A task that waits for another (polls a lock, sleeps in a backoff) lets the next
        live task run; otherwise a waiter preempted nobody and would starve the holder."""
        following = self._after(me)
        if following is None or following == me:
            return
        self._turn = following
        self._budget = None
        self._cond.notify_all()
        self._wait_for_turn(me)

    def _after(self, current: int) -> int | None:
        """The next live task after `current`, round robin (current itself if alone)."""
        later = [i for i in self._live if i > current and i != current]
        earlier = [i for i in self._live if i < current]
        order = later + earlier
        return order[0] if order else (current if current in self._live else None)

    def _take_budget(self) -> None:
        if self._next_switch < len(self._switches):
            self._budget = self._switches[self._next_switch]
            self._next_switch += 1
        else:
            self._budget = None  # run to completion

    def _wait_for_turn(self, me: int) -> None:
        while self._turn != me and not self.degraded:
            if not self._cond.wait(self._step_timeout):
                # The task holding the turn is blocked on something that is not I/O.
                self.degraded = True
                self._cond.notify_all()

    def _release_all(self) -> None:
        with self._cond:
            self.degraded = True
            self._cond.notify_all()
