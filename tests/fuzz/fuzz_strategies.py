"""Hypothesis strategies for the fuzz suite: any protobuf message of the contract (from its
descriptor), hostile scalars, and helpers shared by the targets."""

from __future__ import annotations

import os

from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor as FD
from hypothesis import settings
from hypothesis import strategies as st

from latentstage.runtime.errors import InvalidInput

EXAMPLES = int(os.environ.get("LATENTSTAGE_FUZZ_EXAMPLES", "200"))


def fuzz_settings(weight: float = 1.0, **kwargs) -> settings:
    """The profile's budget scaled by ``weight`` (at least 3 examples)."""
    return settings(max_examples=max(3, int(EXAMPLES * weight)), **kwargs)


# Values that broke or nearly broke validation: subnormals, signed zeros, extremes.
HOSTILE_FLOATS = [0.0, -0.0, 5e-324, -5e-324, 2.2e-308, 1e-300, 1e-12, 1.0, -1.0, 45.0, 90.0,
                  179.9999, 180.0, 1e15, 1e300, 1.7976931348623157e308, float("inf"),
                  float("-inf"), float("nan")]
floats = st.one_of(st.sampled_from(HOSTILE_FLOATS), st.floats(), st.floats(-1e4, 1e4))


def _ints(bits: int, signed: bool):
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    edges = sorted({lo, hi, 0, 1, min(hi, 8), min(hi, 255), min(hi, 4096), max(lo, -1)})
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi), st.integers(max(lo, -10), 300))


texts = st.one_of(st.sampled_from(["", "a", "x" * 129, "../etc/passwd", "w\nevent=forged",
                                   "\u202e", "\x00", "snap.1", "-x", "world-1"]),
                  st.text(max_size=40))
binaries = st.one_of(st.binary(max_size=64), st.sampled_from([b"", b"\x89PNG\r\n\x1a\n",
                                                               b"\xff\xd8\xff\xe0"]))

_SCALARS = {
    FD.TYPE_DOUBLE: floats, FD.TYPE_FLOAT: floats,
    FD.TYPE_INT64: _ints(64, True), FD.TYPE_SINT64: _ints(64, True),
    FD.TYPE_SFIXED64: _ints(64, True), FD.TYPE_UINT64: _ints(64, False),
    FD.TYPE_FIXED64: _ints(64, False), FD.TYPE_INT32: _ints(32, True),
    FD.TYPE_SINT32: _ints(32, True), FD.TYPE_SFIXED32: _ints(32, True),
    FD.TYPE_UINT32: _ints(32, False), FD.TYPE_FIXED32: _ints(32, False),
    FD.TYPE_ENUM: _ints(32, True), FD.TYPE_BOOL: st.booleans(), FD.TYPE_STRING: texts,
    FD.TYPE_BYTES: binaries,
}


def _value(field, depth: int):
    if field.type == FD.TYPE_MESSAGE:
        return messages(message_factory.GetMessageClass(field.message_type), depth + 1)
    if field.type == FD.TYPE_ENUM:  # known values most of the time, any int32 sometimes
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), _SCALARS[FD.TYPE_ENUM])
    return _SCALARS[field.type]


@st.composite
def messages(draw, cls, depth: int = 0):
    """Any message of type ``cls``: each field set or not, at most one per oneof, hostile
    values, nested messages to a bounded depth."""
    msg = cls()
    desc = cls.DESCRIPTOR
    chosen = {o.name: draw(st.sampled_from([None, *o.fields])) for o in desc.oneofs
              if not o.name.startswith("_")}
    for field in desc.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            continue
        oneof = field.containing_oneof
        real_oneof = oneof is not None and not oneof.name.startswith("_")
        if real_oneof and chosen[oneof.name] is not field:
            continue
        if field.type == FD.TYPE_MESSAGE and depth >= 3:
            continue
        if oneof is None and not draw(st.booleans()):
            continue
        if field.is_repeated:
            n = draw(st.sampled_from([0, 1, 3, 9, 16]) if field.type != FD.TYPE_MESSAGE
                     else st.integers(0, 2))
            getattr(msg, field.name).extend([draw(_value(field, depth)) for _ in range(n)])
        elif field.type == FD.TYPE_MESSAGE:
            getattr(msg, field.name).CopyFrom(draw(_value(field, depth)))
        else:
            setattr(msg, field.name, draw(_value(field, depth)))
    return msg


def check_error(exc: InvalidInput) -> None:
    """An error a client can act on: a field, a bounded one-line message."""
    assert isinstance(exc.field, str) and exc.field, exc
    text = str(exc)
    assert len(text) < 2000 and "\n" not in text, text[:300]
