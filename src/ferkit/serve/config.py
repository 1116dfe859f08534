"""Every default and limit of ``fer serve``, defined once (the CLI reads these)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from ferkit.config import PIPELINE, PipelineConfig
from ferkit.errors import ConfigError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
CONFIG_ENV = "FERKIT_SERVE_CONFIG"  # how `fer serve` hands its settings to its uvicorn workers


@dataclass(frozen=True)
class ServeConfig:
    """Where the server listens, what it loads (``pipeline``), and its limits.

    ``max_upload_mb``: largest request body; ``max_pixels``: largest image, checked from its header before
    decoding (decompression bombs); ``timeout_s``: longest wait for a result (queue plus inference);
    ``queue_size``: images waiting for the model beyond which requests are refused (503); ``max_batch``
    and ``batch_wait_ms``: requests that arrive together are run as one batch of up to ``max_batch``
    images, waiting at most ``batch_wait_ms`` for company. ``header_timeout_s``: longest a connection may
    take to send a request's headers, ``body_timeout_s``: its body (slow clients are cut off);
    ``allowed_hosts``: the ``Host`` header values answered (empty: what ``host`` implies, see
    :meth:`hosts`).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    pipeline: PipelineConfig = PIPELINE  # what the server loads, validated where it is defined
    max_upload_mb: float = 10.0
    max_pixels: int = 40_000_000
    timeout_s: float = 30.0
    queue_size: int = 32
    max_batch: int = 8
    batch_wait_ms: float = 5.0
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    allowed_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"must be in 0-65535, got {self.port}", option="port")
        for opt, v, ok, rule in (
            ("workers", self.workers, self.workers >= 1, ">= 1"),
            ("queue_size", self.queue_size, self.queue_size >= 1, ">= 1"),
            ("max_batch", self.max_batch, self.max_batch >= 1, ">= 1"),
            ("max_upload_mb", self.max_upload_mb, self.max_upload_mb > 0, "> 0"),
            ("max_pixels", self.max_pixels, self.max_pixels >= 1, ">= 1"),
            ("timeout", self.timeout_s, self.timeout_s > 0, "> 0 seconds"),
            ("batch_wait_ms", self.batch_wait_ms, self.batch_wait_ms >= 0, ">= 0"),
            ("header_timeout", self.header_timeout_s, self.header_timeout_s > 0, "> 0 seconds"),
            ("body_timeout", self.body_timeout_s, self.body_timeout_s > 0, "> 0 seconds"),
        ):
            if not ok:
                raise ConfigError(f"must be {rule}, got {v}", option=opt)
        if not isinstance(self.pipeline, PipelineConfig):
            raise ConfigError(
                f"must be a PipelineConfig, got {type(self.pipeline).__name__}", option="pipeline"
            )
        if any(not h or "/" in h for h in self.allowed_hosts):
            raise ConfigError(
                f"takes host names or addresses, got {list(self.allowed_hosts)}", option="allowed_host"
            )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)

    def limits(self) -> dict:
        keys = (
            "max_upload_mb", "max_pixels", "timeout_s", "queue_size", "max_batch", "batch_wait_ms",
            "header_timeout_s", "body_timeout_s",
        )  # fmt: skip
        return {k: getattr(self, k) for k in keys}

    def hosts(self) -> tuple[str, ...]:
        """The ``Host`` names answered: ``allowed_hosts``, or by default what the bind address implies (a
        loopback bind: the loopback names; a wildcard bind: any host, "*"; another address: that one)."""
        if self.allowed_hosts:
            return self.allowed_hosts
        if self.host in ("0.0.0.0", "::", ""):
            return ("*",)
        if self.host in LOOPBACK:
            return LOOPBACK
        return (self.host,)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        d = json.loads(text)
        d["allowed_hosts"] = tuple(d.get("allowed_hosts") or ())
        d["pipeline"] = PipelineConfig(**d["pipeline"])  # lists become tuples there
        return cls(**d)
