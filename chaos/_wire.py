"""JSON the way Toxiproxy's Go server reads and writes it (`encoding/json`).

Decoding keeps what Go keeps: the first JSON value of the body (trailing bytes are ignored),
object keys in order with duplicates (the last one wins, objects merge), number literals as
written (an `int64` field rejects `1.0` and `1e3`), and case-insensitive field names. Encoding
is compact and HTML-safe (`<`, `>`, `&` escaped), as `json.Marshal` does.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
FLOAT32_MAX = 3.4028234663852886e38

Kind = Literal["string", "bool", "int64", "float32", "struct"]


class BodyError(Exception):
    """The body cannot be decoded; the message is Go's error text (without the API prefix)."""


@dataclass(frozen=True, slots=True)
class Number:
    """A JSON number, kept as its literal so integer fields can refuse `1.0` as Go does."""

    literal: str


@dataclass(frozen=True, slots=True)
class Obj:
    """A JSON object as ordered (key, value) pairs; duplicate keys are kept."""

    pairs: tuple[tuple[str, Any], ...]


_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean_str(text: str) -> str:
    # Go replaces invalid UTF-16 escapes (lone surrogates) with U+FFFD; so must we, or
    # encoding the name back to UTF-8 would fail.
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def _pairs(pairs: list[tuple[str, Any]]) -> Obj:
    return Obj(tuple((_clean_str(k), _clean_str(v) if isinstance(v, str) else v) for k, v in pairs))


def _array(values: list[Any]) -> list[Any]:
    return [_clean_str(v) if isinstance(v, str) else v for v in values]


_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs,
    parse_int=Number,
    parse_float=Number,
    parse_constant=_reject_constant,
)


def parse(raw: bytes) -> Any:
    """Decode the first JSON value of `raw`; raise `BodyError` with Go's wording on failure."""
    text = raw.decode("utf-8", errors="replace").lstrip(" \t\r\n")
    if not text:
        raise BodyError("EOF")
    try:
        value, _ = _DECODER.raw_decode(text)
    except json.JSONDecodeError as exc:
        raise BodyError(_syntax_message(exc, text)) from None
    except RecursionError:
        raise BodyError("exceeded max depth") from None
    except ValueError as exc:  # NaN / Infinity, rejected by _reject_constant
        raise BodyError(str(exc)) from None
    if isinstance(value, str):
        return _clean_str(value)
    return _array(value) if isinstance(value, list) else value


def _syntax_message(exc: json.JSONDecodeError, text: str) -> str:
    if exc.pos >= len(text.rstrip(" \t\r\n")):
        return "unexpected EOF"
    return f"invalid character {text[exc.pos]!r} looking for beginning of value"


def type_name(value: Any) -> str:
    """Go's name for a JSON value in an `UnmarshalTypeError`."""
    if isinstance(value, Obj):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Number):
        return "number"
    return "null"


def as_int64(value: Number) -> int | None:
    """The literal as an int64, or None when Go would refuse it (fraction, exponent, range)."""
    literal = value.literal
    if not re.fullmatch(r"-?\d+", literal) or len(literal) > 21:
        return None
    number = int(literal)
    return number if INT64_MIN <= number <= INT64_MAX else None


def as_float32(value: Number) -> float | None:
    """The literal rounded to float32, or None when it overflows float32 (Go refuses it)."""
    number = float(value.literal)
    if math.isinf(number) or abs(number) > FLOAT32_MAX:
        return None
    return float(struct.unpack("f", struct.pack("f", number))[0])


def _convert(value: Any, kind: Kind) -> Any:
    """Convert one field value, or raise `LookupError` with the offending JSON type."""
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "struct" and isinstance(value, Obj):
        return value
    if isinstance(value, Number) and kind in ("int64", "float32"):
        converted = as_int64(value) if kind == "int64" else as_float32(value)
        if converted is None:
            raise LookupError(f"number {value.literal}")
        return converted
    raise LookupError(type_name(value))


_GO_TYPES: Mapping[Kind, str] = {
    "string": "string",
    "bool": "bool",
    "int64": "int64",
    "float32": "float32",
    "struct": "struct",
}


def decode_struct(
    value: Any, fields: Mapping[str, Kind], struct_name: str, into: dict[str, Any]
) -> None:
    """Decode a JSON object into `into` as Go decodes it into a struct with `fields`.

    `null` leaves everything as it is; unknown keys are ignored; keys match case-insensitively;
    the last duplicate wins. Raises `BodyError` naming the first bad field.
    """
    if value is None:
        return
    if not isinstance(value, Obj):
        raise BodyError(
            f"json: cannot unmarshal {type_name(value)} into Go value of type {struct_name}"
        )
    first_error: str | None = None
    for key, item in value.pairs:
        field = match_field(key, fields)
        if field is None or item is None:
            continue
        try:
            into[field] = _convert(item, fields[field])
        except LookupError as exc:
            first_error = first_error or (
                f"json: cannot unmarshal {exc.args[0]} into Go struct field "
                f"{struct_name.rpartition('.')[2]}.{field} of type {_GO_TYPES[fields[field]]}"
            )
    if first_error is not None:
        raise BodyError(first_error)


def match_field(key: str, fields: Mapping[str, Any]) -> str | None:
    """The field a JSON key sets: an exact match first, else a case-insensitive one (as Go)."""
    if key in fields:
        return key
    lowered = key.lower()
    for field in fields:
        if field.lower() == lowered:
            return field
    return None


def values_of(value: Obj, field: str) -> list[Any]:
    """Every value given for `field` (case-insensitive), in order."""
    return [item for key, item in value.pairs if match_field(key, {field: None}) == field]


def format_float32(number: float) -> str:
    """Format a float32 value as Go's `json.Marshal` does (shortest form, `1` for 1.0)."""
    if number == int(number) and abs(number) < 1e6:
        return str(int(number))
    text = repr(number)
    for digits in range(1, 10):
        candidate = f"{number:.{digits}g}"
        if struct.pack("f", float(candidate)) == struct.pack("f", number):
            text = candidate
            break
    mantissa, _, exponent = text.partition("e")
    if not exponent:
        return mantissa
    if 1e-6 <= abs(number) < 1e21:
        return format(Decimal(text), "f")
    # Go writes e+21 and e-7 (it trims one leading zero of a negative exponent only).
    digits_ = exponent.lstrip("+-").lstrip("0") or "0"
    return f"{mantissa}e-{digits_}" if exponent[0] == "-" else f"{mantissa}e+{digits_.zfill(2)}"


class Raw(str):
    """A preformatted JSON fragment that `dumps` inserts as is."""


def dumps(value: Any) -> str:
    """Compact, HTML-safe JSON; `Raw` values are inserted verbatim."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, Mapping):
        items = (f"{_string(str(k))}:{dumps(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, str):
        return _string(value)
    return json.dumps(value)


def _string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    for char, escape in _HTML_ESCAPES:
        if char in encoded:
            encoded = encoded.replace(char, escape)
    return encoded


_HTML_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)
