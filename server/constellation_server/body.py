"""Request bodies: JSON parsed under the service's limits, and typed access to its fields;
answers encoded.

Nothing a client sends may become a 500: malformed JSON, nesting deeper than the limit
(checked without recursion), numbers too long for Python's int conversion, NaN or Infinity,
fields of the wrong type, unknown fields. Each becomes a 400 whose message names the field.

JSON goes through orjson, several times faster than the standard library on the small
bodies of this service, with the standard library behind it: it parses a body that orjson
refuses, to say exactly what is wrong, and one with a run of 19 digits or more, which
orjson would read as a float when it is an integer beyond 64 bits; it encodes the few values
orjson refuses (such integers, lone surrogates, non-string keys).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping

import orjson

from constellation_server.errors import ApiError, bad_request

JSON_TYPES = ("application/json",)


def is_json_content_type(header: str | None) -> bool:
    """``application/json`` (any parameters, any case) or a ``+json`` media type."""
    if not header:
        return False
    media = header.split(";", 1)[0].strip().lower()
    return media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is too large for a float")
    return value


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


#: Made once: ``json.loads`` with options builds a decoder (and its scanner) on every call.
_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_reject_constant)
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


#: A number orjson could get wrong: an integer beyond 64 bits would come back a float.
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def parse_json(raw: bytes, max_depth: int) -> object:
    """The JSON value of ``raw``; ApiError 400 on anything that is not JSON within the limits."""
    if _LONG_DIGITS.search(raw) is None:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = _parse_standard(raw, max_depth)  # it says exactly what is wrong
    else:
        value = _parse_standard(raw, max_depth)
    # Fewer brackets than the limit cannot nest deeper than it: skip the walk (the usual case).
    if raw.count(b"[") + raw.count(b"{") > max_depth and _depth(value) > max_depth:
        raise _too_deep(max_depth)
    return value


def _parse_standard(raw: bytes, max_depth: int) -> object:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise bad_request(f"The body is not UTF-8 (byte {err.start}); send UTF-8 JSON") from None
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except json.JSONDecodeError as err:
        raise bad_request(
            f"The body is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
        ) from None
    except ValueError as err:  # int digit limit, float overflow, NaN
        raise bad_request(f"The body has a number JSON cannot carry here: {err}") from None
    # JSON may spell a lone surrogate (\\ud800), which is no character: nothing downstream
    # can encode it (orjson refuses it; this parser does not). Only bodies with escapes pay
    # for the walk.
    if b"\\u" in raw and _has_lone_surrogate(value):
        raise bad_request(
            "The body has a string with a lone surrogate escape (such as \\ud800), "
            "which is not a Unicode character; send valid UTF-16 pairs or UTF-8"
        )
    return value


def _has_lone_surrogate(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _too_deep(max_depth: int) -> ApiError:
    return bad_request(f"The body nests JSON deeper than {max_depth} levels; flatten it")


def _depth(value: object) -> int:
    """The nesting depth of a parsed JSON value, walked with an explicit stack."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item)
    return deepest


class Fields:
    """The members of a JSON object body, checked against the fields an endpoint knows."""

    __slots__ = ("_doc",)

    def __init__(self, value: object, known: Collection[str]) -> None:
        if not isinstance(value, dict):
            raise bad_request(f"The body must be a JSON object, not {_json_kind(value)}")
        unknown = [k for k in value if k not in known]
        if unknown:
            expected = ", ".join(known) or "none"
            raise bad_request(f"Unknown field '{unknown[0]}' in the body; expected: {expected}")
        self._doc: dict[str, object] = value

    def string(self, name: str, *, required: bool = False) -> str | None:
        value = self._doc.get(name)
        if value is None:
            if required:
                raise bad_request(f"The field '{name}' is required (a string)")
            return None
        if not isinstance(value, str):
            raise bad_request(f"The field '{name}' must be a string, not {_json_kind(value)}")
        return value

    def integer(self, name: str) -> int | None:
        value = self._doc.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(f"The field '{name}' must be an integer, not {_json_kind(value)}")
        return value

    def object(self, name: str, max_items: int) -> Mapping[str, object]:
        value = self._doc.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise bad_request(f"The field '{name}' must be an object, not {_json_kind(value)}")
        if len(value) > max_items:
            raise bad_request(
                f"The field '{name}' has {len(value)} entries; at most {max_items} are accepted"
            )
        return value


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def encode(body: object) -> bytes:
    """Compact UTF-8 JSON. Non-finite floats (a computed NaN) become null rather than a 500."""
    try:
        return orjson.dumps(body)  # NaN and infinities are null already
    except TypeError:
        pass
    try:
        return _ENCODER.encode(body).encode()
    except ValueError:
        return _ENCODER.encode(_finite(body)).encode()


def _finite(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
