"""Apply any fault value to the part of the world it targets, and play fault schedules.

```python
injector = Injector(proxy=world.proxy, server=world.server, history=world.history)
with injector.active(Latency(ms=50), Crash()):
    ...
play(schedule, injector)  # blocking; run it in a thread next to the clients
```
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cachecheck._history import History
from cachecheck._subject import HasWorker

from ._client import Proxy

if TYPE_CHECKING:
    from cachecheck._world import World
from ._faults import Fault, flatten
from ._process import (
    PROCESS_FAULTS,
    ControllableServer,
    Crash,
    Pause,
    WorkerCrash,
    redis_crashed,
    redis_paused,
    worker_crashed,
)


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    """`fault` is active from `start_ms` to `start_ms + duration_ms` after the schedule starts."""

    start_ms: int
    duration_ms: int
    fault: Fault

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms


@dataclass(frozen=True, slots=True)
class FaultSchedule:
    """Faults one after another (never overlapping), in start order."""

    entries: tuple[ScheduledFault, ...] = ()

    @property
    def duration_ms(self) -> int:
        return self.entries[-1].end_ms if self.entries else 0

    def __iter__(self) -> Iterator[ScheduledFault]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


class Injector:
    """Applies faults: network ones through `proxy`, `Crash`/`Pause` to `server`,
    `WorkerCrash` to `subject`'s worker. Every start and end goes to `history`."""

    def __init__(
        self,
        *,
        proxy: Proxy | None = None,
        server: ControllableServer | None = None,
        subject: HasWorker | None = None,
        history: History | None = None,
    ) -> None:
        self.proxy = proxy
        self.server = server
        self.subject = subject
        self.history = history

    def supports(self, fault: Fault) -> bool:
        """Whether this injector has the target `fault` needs."""
        if isinstance(fault, Crash | Pause):
            return self.server is not None
        if isinstance(fault, WorkerCrash):
            return self.subject is not None
        return self.proxy is not None

    @contextlib.contextmanager
    def active(self, *faults: Fault | Iterable[Fault]) -> Iterator[None]:
        """Faults are active for the duration of the block (lifted in reverse order)."""
        flat = flatten(faults)
        missing = [fault for fault in flat if not self.supports(fault)]
        if missing:
            raise ValueError(f"{self!r} has no target for {missing}")
        network = [f for f in flat if not isinstance(f, PROCESS_FAULTS)]
        with contextlib.ExitStack() as stack:
            if network:
                assert self.proxy is not None
                stack.enter_context(self.proxy.fault(*network, history=self.history))
            for fault in flat:
                if isinstance(fault, PROCESS_FAULTS):
                    stack.enter_context(self._process_fault(fault))
            yield

    def _process_fault(self, fault: Fault) -> contextlib.AbstractContextManager[None]:
        if isinstance(fault, Crash):
            assert self.server is not None
            return redis_crashed(self.server, self.history)
        if isinstance(fault, Pause):
            assert self.server is not None
            return redis_paused(self.server, self.history)
        assert self.subject is not None
        return worker_crashed(self.subject, self.history)

    def __repr__(self) -> str:
        targets = [n for n in ("proxy", "server", "subject") if getattr(self, n) is not None]
        return f"Injector({', '.join(targets) or 'no targets'})"


def play(
    schedule: FaultSchedule,
    injector: Injector,
    *,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Apply each scheduled fault at its time for its duration; returns how many were applied.

    Blocks until the schedule ends or `stop` is set (an active fault is then lifted at once).
    Times are measured from the call; a late start shortens nothing (the fault still lasts
    its `duration_ms`).
    """
    stop = stop or threading.Event()
    origin = clock()
    applied = 0
    for entry in schedule:
        if stop.wait(max(0.0, origin + entry.start_ms / 1000 - clock())):
            break
        with injector.active(entry.fault):
            applied += 1
            stop.wait(entry.duration_ms / 1000)
        if stop.is_set():
            break
    return applied


@dataclass
class RunnerPlan:
    """A `FaultSchedule` as the concurrent runner's `RunnerConfig(faults=..., heal=...)`.

    Each fault becomes a start and a stop action on the world (`world.proxy` for network
    faults, the started server for `Crash`/`Pause`, `subject` for `WorkerCrash`); `heal` lifts
    whatever is still active when the runner stops early.
    """

    faults: tuple[Any, ...]
    _active: dict[int, contextlib.ExitStack] = field(default_factory=dict, repr=False)

    def heal(self, world: World) -> None:
        for index in sorted(self._active, reverse=True):
            self._active.pop(index).close()


def for_runner(schedule: FaultSchedule, *, subject: HasWorker | None = None) -> RunnerPlan:
    """Adapt `schedule` to `cachecheck._runner` (its entries take the World at run time)."""
    from cachecheck._runner import ScheduledFault as RunnerFault

    plan = RunnerPlan(())
    entries = []
    for index, entry in enumerate(schedule):
        label = f"{entry.fault!r}"
        entries.append(
            RunnerFault(
                entry.start_ms / 1000,
                f"fault.start {label}",
                _start_action(plan, index, entry.fault, subject),
            )
        )
        entries.append(
            RunnerFault(entry.end_ms / 1000, f"fault.stop {label}", _stop_action(plan, index))
        )
    plan.faults = tuple(entries)
    return plan


def _start_action(
    plan: RunnerPlan, index: int, fault: Fault, subject: HasWorker | None
) -> Callable[[World], None]:
    def start(world: World) -> None:
        from cachecheck._redis_server import RedisServer

        server = world.redis_server if isinstance(world.redis_server, RedisServer) else None
        injector = Injector(proxy=world.proxy, server=server, subject=subject)
        stack = contextlib.ExitStack()
        stack.enter_context(injector.active(fault))
        plan._active[index] = stack

    return start


def _stop_action(plan: RunnerPlan, index: int) -> Callable[[World], None]:
    def stop(world: World) -> None:
        stack = plan._active.pop(index, None)
        if stack is not None:
            stack.close()

    return stop
