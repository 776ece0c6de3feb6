"""Routing by world: the request header a proxy hashes on (torch-free; the servicer checks it).

Every call that concerns a world carries its id in ``x-latentstage-world`` so that a proxy
(nginx ``hash $http_x_latentstage_world consistent``) sends all of a world's calls to the one
worker that holds it (docs/scale-out.md).
"""

from __future__ import annotations

import re

from latentstage.runtime.errors import InvalidInput

#: Request header naming the world a call concerns (gRPC metadata keys are lower case).
WORLD_HEADER = "x-latentstage-world"
MAX_WORLD_ID = 64  # characters of a world id
_WORLD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def is_world_id(value: str) -> bool:
    """Whether ``value`` is a well-formed world id (what :func:`check_world_id` accepts)."""
    return 0 < len(value) <= MAX_WORLD_ID and bool(_WORLD_ID.fullmatch(value))


def check_world_id(value: str, field: str = "world_id") -> str:
    """A world id as the client sent it: 1..MAX_WORLD_ID characters of A-Z a-z 0-9 . _ -
    (checked before it is looked up, logged or echoed)."""
    if not value:
        raise InvalidInput(field, "", "the id of a world (see ListWorlds)")
    if len(value) > MAX_WORLD_ID:
        raise InvalidInput(field, f"<{len(value)} characters>",
                           f"a world id of at most {MAX_WORLD_ID} characters (see ListWorlds)")
    if not _WORLD_ID.fullmatch(value):
        raise InvalidInput(field, value, "a world id: A-Z a-z 0-9 . _ - (see ListWorlds)")
    return value


def header_world(metadata) -> str:
    """The world id in the call's ``x-latentstage-world`` header, "" when absent (checked like
    any world id before it is echoed)."""
    for key, value in metadata or ():
        if key == WORLD_HEADER:
            return check_world_id(value if isinstance(value, str) else "", f"metadata "
                                  f"{WORLD_HEADER}")
    return ""


def check_header(metadata, world_id: str, field: str) -> None:
    """Raise :class:`InvalidInput` when the header names another world than ``field``.
    A call without the header is fine (a single server, no proxy)."""
    header = header_world(metadata)
    if header and header != world_id:
        raise InvalidInput(field, world_id, f"the world named by request header {WORLD_HEADER} "
                           f"({header!r}): the proxy routes a call by that header, so both "
                           "must name the same world")
