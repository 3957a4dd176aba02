"""The embedded server's API errors: Toxiproxy's catalogue, with its exact messages."""

from __future__ import annotations

from dataclasses import dataclass


class ApiError(Exception):
    """An error the API answers with `{"error": message, "status": status}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class ErrorKind:
    """One entry of Toxiproxy's error catalogue. Raise `kind.error()`: a fresh exception each
    time (re-raising one shared instance would grow its traceback forever)."""

    status: int
    message: str

    def error(self) -> ApiError:
        return ApiError(self.status, self.message)

    def joined(self, detail: str) -> ApiError:
        """The error with `: detail` appended, as Toxiproxy's `joinError` does."""
        return ApiError(self.status, f"{self.message}: {detail}")


BAD_REQUEST_BODY = ErrorKind(400, "bad request body")
MISSING_FIELD = ErrorKind(400, "missing required field")
PROXY_NOT_FOUND = ErrorKind(404, "proxy not found")
PROXY_ALREADY_EXISTS = ErrorKind(409, "proxy already exists")
INVALID_STREAM = ErrorKind(400, "stream was invalid, can be either upstream or downstream")
INVALID_TOXIC_TYPE = ErrorKind(400, "invalid toxic type")
TOXIC_ALREADY_EXISTS = ErrorKind(409, "toxic already exists")
TOXIC_NOT_FOUND = ErrorKind(404, "toxic not found")


def server_error(message: str) -> ApiError:
    """A 500, as Toxiproxy answers any error without a status (bind failures, lookups)."""
    return ApiError(500, message)
