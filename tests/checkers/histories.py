"""A small builder for hand-written histories. Times are given in milliseconds."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from cachecheck._history import Commit, Event, Op, OpKind, Outcome

#: Commit a write at the midpoint of its interval (the default).
MID = -1.0


class H:
    """Ops, commits and events, appended in order; op indexes follow insertion order."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.commits: list[Commit] = []
        self.events: list[Event] = []
        self._versions: dict[str, int] = defaultdict(int)

    def _op(
        self,
        client: str,
        kind: OpKind,
        key: str,
        value: str | None,
        start: float,
        end: float | None,
        outcome: Outcome,
    ) -> Op:
        op = Op(
            len(self.ops),
            client,
            kind,
            key,
            value,
            start / 1000,
            None if end is None else end / 1000,
            outcome,
            None if outcome is Outcome.OK else "boom",
        )
        self.ops.append(op)
        return op

    def commit(self, key: str, value: str | None, at: float) -> Commit:
        self._versions[key] += 1
        c = Commit(key, self._versions[key], value, at / 1000)
        self.commits.append(c)
        return c

    def write(
        self,
        client: str,
        key: str,
        value: str,
        start: float,
        end: float | None,
        *,
        commit: float | None = MID,
        outcome: Outcome = Outcome.OK,
    ) -> Op:
        """A write; `commit` is its commit time (MID: midpoint; None: never committed)."""
        op = self._op(client, OpKind.WRITE, key, value, start, end, outcome)
        if commit is not None:
            self.commit(key, value, (start + (end or start)) / 2 if commit == MID else commit)
        return op

    def delete(
        self,
        client: str,
        key: str,
        start: float,
        end: float | None,
        *,
        commit: float | None = MID,
        outcome: Outcome = Outcome.OK,
    ) -> Op:
        op = self._op(client, OpKind.DELETE, key, None, start, end, outcome)
        if commit is not None:
            self.commit(key, None, (start + (end or start)) / 2 if commit == MID else commit)
        return op

    def read(
        self,
        client: str,
        key: str,
        value: str | None,
        start: float,
        end: float,
        *,
        outcome: Outcome = Outcome.OK,
    ) -> Op:
        return self._op(client, OpKind.READ, key, value, start, end, outcome)

    def event(self, name: str, at: float, **detail: Any) -> Event:
        e = Event(at / 1000, name, detail)
        self.events.append(e)
        return e
