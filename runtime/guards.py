"""Protections against clients that hold resources: who a call comes from, per-client caps on
sessions and worlds, and the idle timeout. Torch-free (the servicer builds a :class:`ClientId`
for every call; the core enforces the caps).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_PORT = re.compile(r":\d+$")


@dataclass(frozen=True)
class ClientId:
    """Who a call comes from, for the per-peer and per-token caps."""

    peer: str = ""  # the peer's address without its port, e.g. "ipv4:127.0.0.1"; "" = unknown
    token: str = ""  # first 16 hex digits of SHA-256 of the bearer token; "" = none sent

    @classmethod
    def from_call(cls, peer: str | None, metadata) -> ClientId:
        """From ``context.peer()`` and the invocation metadata of a gRPC call."""
        address = _PORT.sub("", peer or "")
        token = ""
        for key, value in metadata or ():
            if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
                secret = value[len("Bearer "):].strip().encode()
                token = hashlib.sha256(secret).hexdigest()[:16]
        return cls(address, token)

    def __str__(self) -> str:
        return f"peer={self.peer or '?'} token={self.token or '-'}"


@dataclass(frozen=True)
class Guards:
    """Server-wide limits per client, and how long a silent session lives (0 = no limit)."""

    idle_timeout_s: float = 60.0  # a session with no Pose or Control for this long is closed
    sessions_per_peer: int = 4  # open sessions from one address
    sessions_per_token: int = 4  # open sessions with one bearer token (when auth is on)
    worlds_per_peer: int = 8  # worlds created (CreateWorld, LoadWorld, Open) by one address
    worlds_per_token: int = 8  # worlds created with one bearer token
    release_wait_s: float = 0.5  # an Open at a limit waits this long for a closing session

    @classmethod
    def off(cls) -> Guards:
        """No per-client caps and no idle timeout (benchmarks, trusted single clients)."""
        return cls(0.0, 0, 0, 0, 0)
