"""Bearer-token authentication: a gRPC asyncio server interceptor.

With a token file configured, every call must carry the metadata
``authorization: Bearer <token>`` with one of the file's tokens, else it fails with
UNAUTHENTICATED. Health checks stay open so that load balancers and orchestrators can probe
the server without a secret. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Iterable
from pathlib import Path

import grpc

from latentstage.runtime.errors import InvalidInput

log = logging.getLogger(__name__)

#: Methods that need no token (standard health checking).
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)


#: What a token may hold: visible ASCII (gRPC metadata values are ASCII), no spaces.
_TOKEN = re.compile(r"[\x21-\x7e]+")
MAX_TOKEN_FILE_BYTES = 1 << 20  # a token file is a handful of lines


def read_tokens(path: str | Path) -> list[str]:
    """Tokens from a file: one per line, surrounding whitespace ignored; blank lines and lines
    whose first visible character is ``#`` are comments. A token is visible ASCII without
    spaces; any other line is an error naming its line number (the line itself is a secret and
    is never echoed)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_TOKEN_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidInput("token_file", str(path), f"a readable file ({exc.strerror})") from None
    if len(raw) > MAX_TOKEN_FILE_BYTES:
        raise InvalidInput("token_file", str(path), f"at most {MAX_TOKEN_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("token_file", str(path), f"UTF-8 text (bad byte at offset "
                           f"{exc.start})") from None
    tokens = []
    for number, line in enumerate(text.splitlines(), 1):
        token = line.strip()
        if not token or token.startswith("#"):
            continue
        if not _TOKEN.fullmatch(token):
            raise InvalidInput(f"token_file line {number}", "<hidden>", "one token of visible "
                               "ASCII characters without spaces, or a # comment")
        tokens.append(token)
    if not tokens:
        raise InvalidInput("token_file", str(path), "at least one token (one per line)")
    return tokens


def _deny(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same shape as ``handler`` that fails with UNAUTHENTICATED."""

    async def unary(request, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    async def streaming(request, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        yield  # pragma: no cover (makes this an async generator)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(streaming)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(unary)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(streaming)
    return grpc.unary_unary_rpc_method_handler(unary)


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Rejects calls without a valid ``authorization: Bearer <token>`` header."""

    def __init__(self, tokens: Iterable[str]):
        self._tokens = [t.encode() for t in tokens]

    def _valid(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        given = header[len("Bearer "):].strip().encode()
        return any(hmac.compare_digest(given, token) for token in self._tokens)

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        metadata = dict(handler_call_details.invocation_metadata or ())
        header = metadata.get("authorization")
        if self._valid(header):
            return handler
        why = "missing" if not header else "invalid"
        log.warning("event=unauthenticated method=%s reason=%s", method, why)
        return _deny(handler, f"authorization: {why} bearer token; send the metadata "
                              "'authorization: Bearer <token>' with a token from the server's "
                              "--token-file")
