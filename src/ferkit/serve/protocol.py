"""uvicorn's HTTP/1.1 protocol with a deadline for a request's headers (uvicorn itself has none).

A client that opens a connection and sends its headers byte by byte would hold it for ever; with this
protocol the connection is closed when a request's headers are not complete ``header_timeout_s`` after the
connection opened or the previous response ended. The ``fer serve`` command runs uvicorn with it; the
deadline comes from the serve settings the command hands its workers (``FERKIT_SERVE_CONFIG``).
"""

from __future__ import annotations

import asyncio
import os

from uvicorn.protocols.http.h11_impl import H11Protocol

from ferkit.serve.config import CONFIG_ENV, ServeConfig


def header_timeout() -> float:
    """The header deadline of the settings ``fer serve`` handed over (the default without them)."""
    text = os.environ.get(CONFIG_ENV)
    return (ServeConfig.from_json(text) if text else ServeConfig()).header_timeout_s


class HeaderDeadlineProtocol(H11Protocol):
    """:class:`H11Protocol` that closes connections whose request headers are not complete in time."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._seconds = header_timeout()
        self._deadline: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(self._seconds, self._expire)

    def _waiting_for_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _expire(self) -> None:
        self._deadline = None
        if self._waiting_for_headers() and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._deadline is not None and not self._waiting_for_headers():
            self._deadline.cancel()  # a request is running: its body has its own deadline
            self._deadline = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)
