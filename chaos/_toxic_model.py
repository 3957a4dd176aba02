"""Toxic definitions as the embedded server stores them, and how request bodies become them.

The checks run in Toxiproxy's order (`toxic_collection.go:AddToxicJson`): body, stream, type,
duplicate name, attributes. Inputs that would crash the real server (a negative bandwidth
rate, slicer sizes that recurse forever or slice out of range) get a 400 here instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ._apierror import (
    BAD_REQUEST_BODY,
    INVALID_STREAM,
    INVALID_TOXIC_TYPE,
    TOXIC_ALREADY_EXISTS,
)
from ._wire import BodyError, Kind, Obj, Raw, decode_struct, format_float32, parse, values_of

UPSTREAM = 0
DOWNSTREAM = 1

#: Attribute names of every toxic type, in the order Go's structs declare (and emit) them.
TOXIC_FIELDS: Mapping[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
    "noop": (),
}

_GO_STRUCTS: Mapping[str, str] = {
    "latency": "toxics.LatencyToxic",
    "bandwidth": "toxics.BandwidthToxic",
    "slow_close": "toxics.SlowCloseToxic",
    "timeout": "toxics.TimeoutToxic",
    "reset_peer": "toxics.ResetToxic",
    "slicer": "toxics.SlicerToxic",
    "limit_data": "toxics.LimitDataToxic",
    "noop": "toxics.NoopToxic",
}

_WRAPPER_FIELDS: Mapping[str, Kind] = {
    "attributes": "struct",
    "name": "string",
    "type": "string",
    "stream": "string",
    "toxicity": "float32",
}
_UPDATE_FIELDS: Mapping[str, Kind] = {"attributes": "struct", "toxicity": "float32"}


@dataclass(frozen=True, slots=True, eq=False)
class ToxicDef:
    """One toxic of a proxy. Immutable: an update makes a new one."""

    name: str
    type: str
    stream: str  # as the client sent it, e.g. "UpStream"
    direction: int  # UPSTREAM or DOWNSTREAM
    toxicity: float
    attributes: Mapping[str, int] = field(default_factory=dict)

    def attr(self, name: str) -> int:
        return self.attributes.get(name, 0)

    def to_json(self) -> dict[str, Any]:
        """The toxic's JSON, field order and float formatting as Toxiproxy's."""
        return {
            "attributes": {name: self.attr(name) for name in TOXIC_FIELDS[self.type]},
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": Raw(format_float32(self.toxicity)),
        }


def parse_direction(stream: str) -> int:
    lowered = stream.lower()
    if lowered == "upstream":
        return UPSTREAM
    if lowered == "downstream":
        return DOWNSTREAM
    raise INVALID_STREAM.error()


def toxic_from_create(raw: bytes, name_taken: Callable[[str], bool]) -> ToxicDef:
    """Build a toxic from a `POST /proxies/{p}/toxics` body."""
    value = _parse(raw)
    wrapper: dict[str, Any] = {"stream": "downstream", "toxicity": 1.0, "name": "", "type": ""}
    _decode(value, _WRAPPER_FIELDS, "toxics.ToxicWrapper", wrapper)
    direction = parse_direction(wrapper["stream"])
    name = wrapper["name"] or f"{wrapper['type']}_{wrapper['stream']}"
    toxic_type = wrapper["type"]
    if toxic_type not in TOXIC_FIELDS:
        raise INVALID_TOXIC_TYPE.error()
    if name_taken(name):
        raise TOXIC_ALREADY_EXISTS.error()
    attributes = _decode_attributes(value, toxic_type, {})
    return ToxicDef(name, toxic_type, wrapper["stream"], direction, wrapper["toxicity"], attributes)


def toxic_from_update(raw: bytes, current: ToxicDef) -> ToxicDef:
    """Apply a `POST/PATCH /proxies/{p}/toxics/{t}` body: attributes merge, toxicity replaces.

    `type`, `stream` and `name` in the body are ignored, as in Toxiproxy.
    """
    value = _parse(raw)
    fields: dict[str, Any] = {"toxicity": current.toxicity}
    _decode(value, _UPDATE_FIELDS, "struct", fields)
    attributes = _decode_attributes(value, current.type, dict(current.attributes))
    return replace(current, toxicity=fields["toxicity"], attributes=attributes)


def _parse(raw: bytes) -> Any:
    try:
        return parse(raw)
    except BodyError as exc:
        raise BAD_REQUEST_BODY.joined(str(exc)) from None


def _decode(value: Any, fields: Mapping[str, Kind], struct: str, into: dict[str, Any]) -> None:
    try:
        decode_struct(value, fields, struct, into)
    except BodyError as exc:
        raise BAD_REQUEST_BODY.joined(str(exc)) from None


def _decode_attributes(value: Any, toxic_type: str, into: dict[str, Any]) -> dict[str, int]:
    """Decode every `attributes` object of the body into `into` (they merge, as in Go)."""
    fields: dict[str, Kind] = dict.fromkeys(TOXIC_FIELDS[toxic_type], "int64")
    if isinstance(value, Obj):
        for attributes in values_of(value, "attributes"):
            _decode(attributes, fields, _GO_STRUCTS[toxic_type], into)
    _validate(toxic_type, into)
    return into


def _validate(toxic_type: str, attributes: Mapping[str, int]) -> None:
    """Refuse what would crash real Toxiproxy (a documented divergence: it answers 400)."""
    message = None
    if toxic_type == "bandwidth" and attributes.get("rate", 0) < 0:
        message = "bandwidth rate must not be negative"
    elif toxic_type == "slicer":
        average = attributes.get("average_size", 0)
        variation = attributes.get("size_variation", 0)
        if average <= 0:
            message = "slicer average_size must be greater than 0"
        elif not 0 <= variation < average:
            message = "slicer size_variation must be at least 0 and less than average_size"
    if message is not None:
        raise BAD_REQUEST_BODY.joined(message)
