"""Exceptions raised by cachecheck. Every message says what was wrong and how to fix it."""

from __future__ import annotations


class CachecheckError(Exception):
    """Base class of every error cachecheck raises on purpose."""


class ConfigError(CachecheckError, ValueError):
    """An option, ini value or environment variable has a value cachecheck cannot use."""


class ProvisionError(CachecheckError, RuntimeError):
    """A real component (Redis, proxy, database) could not be started or reached."""


class UnsafeResetError(CachecheckError, RuntimeError):
    """Resetting would delete data that cachecheck did not write."""
