"""Routing by world: the request header a proxy hashes on (torch-free; the servicer checks it).

Every call that concerns a world carries its id in ``x-latentstage-world`` so that a proxy
(nginx ``hash $http_x_latentstage_world consistent``) sends all of a world's calls to the one
worker that holds it (docs/scale-out.md).
"""

from __future__ import annotations

from latentstage.runtime.errors import InvalidInput

#: Request header naming the world a call concerns (gRPC metadata keys are lower case).
WORLD_HEADER = "x-latentstage-world"


def header_world(metadata) -> str:
    """The world id in the call's ``x-latentstage-world`` header, "" when absent (checked like
    any world id before it is echoed)."""
    from latentstage.runtime.translate import check_world_id

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
