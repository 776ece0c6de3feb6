"""Errors raised on bad input. Each one names the field, the value and what was expected.

The gRPC layer maps :class:`InvalidInput` to ``INVALID_ARGUMENT``, :class:`NotFound` to
``NOT_FOUND`` and :class:`Incompatible` to ``FAILED_PRECONDITION``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _short(value: Any, limit: int = 80) -> str:
    """A printable, bounded rendering of a value for an error message."""
    if isinstance(value, np.ndarray):
        if value.size <= 16:
            text = np.array2string(value, precision=6, separator=", ")
        else:
            text = f"array(shape={value.shape}, dtype={value.dtype})"
    else:
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class InvalidInput(ValueError):
    """A value failed validation.

    Attributes:
        field: dotted name of the offending field, e.g. ``"pose.rotation"``.
        value: the value that was rejected.
        expected: what would have been accepted, in words.
    """

    def __init__(self, field: str, value: Any, expected: str):
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"{field}: got {_short(value)}, expected {expected}")


class NotFound(LookupError):
    """A named object (world, file, checkpoint) does not exist."""


class Incompatible(ValueError):
    """Stored data (snapshot, checkpoint, bundle) does not match what is in use.

    The message names the mismatching field with both values.
    """


class CorruptFile(ValueError):
    """A file is truncated, corrupt or not of the expected format."""


def require_finite(field: str, value: Any) -> np.ndarray:
    """Return ``value`` as a float64 array, raising :class:`InvalidInput` on NaN or inf."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(field, value, "numbers") from exc
    if not np.all(np.isfinite(arr)):
        raise InvalidInput(field, value, "finite numbers (no NaN or infinity)")
    return arr


def require_shape(field: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Return ``value`` as a finite float64 array of exactly ``shape``."""
    arr = require_finite(field, value)
    if arr.shape != shape:
        raise InvalidInput(field, value, f"shape {shape}, got shape {arr.shape}")
    return arr
