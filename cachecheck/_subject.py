"""The Subject protocol: the cache under test, as cachecheck drives it.

A subject has a read path (`get`), a write path (`set`) and `delete`. Everything else is an
optional capability, detected with `isinstance` on the runtime-checkable protocols below; the
suite skips what a subject does not offer, with a reason.

Teams whose cache is a decorator around a loader function use `FunctionSubject`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable


@runtime_checkable
class Subject(Protocol):
    """A cache layer in front of the source of truth.

    - `get(key)` is the application's read path: it returns the current value (from the cache
      or, on a miss, from the source of truth) or None when the key does not exist.
    - `set(key, value)` is the write path: the value becomes the key's new value.
    - `delete(key)` removes the key from the source of truth (and whatever the cache must do).
    """

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    def delete(self, key: str) -> None: ...


@runtime_checkable
class Drainable(Protocol):
    """The subject does work in the background (write-behind flush, refresh, invalidation
    delivery); `drain` waits until all of it is done and says whether it finished in time."""

    def drain(self, timeout: float) -> bool: ...


@runtime_checkable
class Taggable(Protocol):
    """The subject groups entries under tags and can invalidate a whole tag."""

    def invalidate_tag(self, tag: str) -> None: ...


@runtime_checkable
class Warmable(Protocol):
    """The subject can preload keys; returns how many entries it filled."""

    def warm(self, keys: Iterable[str]) -> int: ...


@runtime_checkable
class Worker(Protocol):
    """A background worker of a subject that chaos tests may crash and restart."""

    def crash(self) -> None:
        """Stop abruptly, as a SIGKILL would: no flush, no acknowledgement, no cleanup."""
        ...

    def start(self) -> None: ...

    def is_alive(self) -> bool: ...


@runtime_checkable
class HasWorker(Protocol):
    """The subject exposes its background worker."""

    @property
    def worker(self) -> Worker: ...


@runtime_checkable
class Closeable(Protocol):
    """The subject holds resources (threads, connections) that must be released."""

    def close(self) -> None: ...


class FunctionSubject:
    """Adapt a cache written as functions (e.g. a `@cached` loader) to the `Subject` protocol.

    ```python
    subject = FunctionSubject(
        read=get_user_cached,           # the decorated loader: key -> value or None
        write=update_user,              # writes the source of truth and invalidates
        delete=delete_user,             # optional
        drain=None,                     # optional: wait for background work
    )
    ```
    """

    def __init__(
        self,
        read: Callable[[str], str | None],
        write: Callable[[str, str], None],
        delete: Callable[[str], None] | None = None,
        *,
        name: str | None = None,
    ) -> None:
        if not callable(read) or not callable(write):
            raise TypeError("FunctionSubject needs callables for read= and write=")
        if delete is not None and not callable(delete):
            raise TypeError("FunctionSubject delete= must be callable or None")
        self._read = read
        self._write = write
        self._delete = delete
        self.name = name or getattr(read, "__qualname__", "function-cache")

    def get(self, key: str) -> str | None:
        return self._read(key)

    def set(self, key: str, value: str) -> None:
        self._write(key, value)

    def delete(self, key: str) -> None:
        if self._delete is None:
            raise NotImplementedError(
                f"{self.name} has no delete path; pass delete= to FunctionSubject to test deletes"
            )
        self._delete(key)

    @property
    def supports_delete(self) -> bool:
        return self._delete is not None

    def __repr__(self) -> str:
        return f"FunctionSubject(name={self.name!r})"


def capabilities(subject: object) -> frozenset[str]:
    """Names of the optional capabilities `subject` offers, for reports and skip reasons."""
    found = set()
    for name, proto in (
        ("drain", Drainable),
        ("tags", Taggable),
        ("warm", Warmable),
        ("worker", HasWorker),
        ("close", Closeable),
    ):
        if isinstance(subject, proto):
            found.add(name)
    if getattr(subject, "supports_delete", True):
        found.add("delete")
    return frozenset(found)
