"""What stands in front of every route of ``fer serve``: the Host check, the body deadline, one error shape.

Pure ASGI middleware (no framework types leave this module), so the page, the API and the docs are behind
the same limits. Every answer it gives is the API's JSON error ``{"error": {"code", "message", "limit"}}``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence

Scope = dict
Message = dict
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTimeoutError(Exception):
    """A request's body did not arrive within the body deadline."""


class BodyTooLargeError(Exception):
    """A request's body grew past the size limit while it arrived (whatever its framing: a declared
    Content-Length, or chunks with none)."""


async def send_error(
    send: Send, status: int, code: str, message: str, limit: str | None = None, close: bool = False
) -> None:
    """Answer with the API's JSON error (``close``: and ask the client to close the connection)."""
    body = json.dumps({"error": {"code": code, "message": message, "limit": limit}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def host_name(header: str) -> str:
    """The host of a ``Host`` header, without its port: ``example.org:8000`` -> ``example.org``,
    ``[::1]:8000`` -> ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guards:
    """Refuses requests whose ``Host`` is not in ``hosts`` ("*": any) with 400, and gives each request's
    body ``body_timeout_s`` to arrive, after which reading it raises :class:`BodyTimeoutError`; bytes are
    counted as they arrive, and reading past ``max_body_bytes`` raises :class:`BodyTooLargeError` (so no
    more than that is ever held or spooled to disk)."""

    def __init__(self, app: App, hosts: Sequence[str], body_timeout_s: float, max_body_bytes: int):
        self.app, self.body_timeout_s, self.max_body_bytes = app, body_timeout_s, max_body_bytes
        self.any_host = "*" in hosts
        self.hosts = {h.lower().strip("[]") for h in hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        host = host_name(headers.get(b"host", b"").decode("latin-1"))
        if not self.any_host and host not in self.hosts:
            await send_error(
                send, 400, "bad_host", f"this server does not answer for host {host or '(none)'!r}",
                "allowed_hosts",
            )  # fmt: skip
            return
        await self.app(scope, _guarded(receive, self.body_timeout_s, self.max_body_bytes), send)


def _guarded(receive: Receive, seconds: float, max_bytes: int) -> Receive:
    """``receive`` whose body messages must all arrive within ``seconds`` of the request's start, and add
    up to at most ``max_bytes``."""
    import asyncio

    deadline = time.monotonic() + seconds
    body_done, received = False, 0

    async def timed() -> Message:
        nonlocal body_done
        if body_done:
            return await receive()  # after the body: only the disconnect notice, whenever it comes
        left = deadline - time.monotonic()
        try:
            message = await asyncio.wait_for(receive(), max(left, 0.0))
        except asyncio.TimeoutError:
            raise BodyTimeoutError(f"the request body did not arrive within {seconds:g} s") from None
        nonlocal received
        received += len(message.get("body", b""))
        if received > max_bytes:
            body_done = True
            raise BodyTooLargeError(f"the request body exceeds {max_bytes} bytes")
        if message.get("type") != "http.request" or not message.get("more_body", False):
            body_done = True
        return message

    return timed
