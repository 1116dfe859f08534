"""fer serve: the pipeline behind a local web service (FastAPI, run by uvicorn)."""

from __future__ import annotations

import os
import socket
from typing import Annotated

import typer

from ferkit.cli.app import (
    BackendOpt,
    DeviceOpt,
    PrecisionOpt,
    PriorOpt,
    app,
    check_backend_options,
    fer_errors,
)
from ferkit.config import PIPELINE, PipelineConfig
from ferkit.detector.sizing import IMGSZ_HELP
from ferkit.errors import ConfigError
from ferkit.serve.config import ServeConfig

SERVE = ServeConfig()  # the defaults the CLI shows
LIMITS = "Limits"


def check_port_free(host: str, port: int) -> None:
    """Refuse a port another program holds, before the models load."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


@app.command("serve")
@fer_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = SERVE.host,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = SERVE.port,
    workers: Annotated[int, typer.Option(help="Worker processes, each with its own models.")] = SERVE.workers,
    device: DeviceOpt = PIPELINE.device,
    backend: BackendOpt = PIPELINE.backend,
    precision: PrecisionOpt = PIPELINE.precision,
    prior: PriorOpt = PIPELINE.prior,
    detector_weights: Annotated[
        str, typer.Option(help="Detector .pt, or 'default'.")
    ] = PIPELINE.detector_weights,
    classifier_weights: Annotated[
        list[str] | None, typer.Option(help="Classifier .pt, or 'default'; repeat for an ensemble.")
    ] = None,
    conf: Annotated[
        float, typer.Option(help="Default detector confidence (a request may set its own).")
    ] = PIPELINE.conf,
    imgsz: Annotated[str, typer.Option(help=IMGSZ_HELP)] = str(PIPELINE.imgsz),
    max_upload_mb: Annotated[
        float, typer.Option(help="Largest request body (MB).", rich_help_panel=LIMITS)
    ] = SERVE.max_upload_mb,
    max_pixels: Annotated[
        int,
        typer.Option(help="Largest image (width x height), checked before decoding.", rich_help_panel=LIMITS),
    ] = SERVE.max_pixels,
    timeout: Annotated[
        float, typer.Option(help="Longest wait for a result, in seconds (504 after).", rich_help_panel=LIMITS)
    ] = SERVE.timeout_s,
    queue_size: Annotated[
        int, typer.Option(help="Images that may wait for the model (503 beyond).", rich_help_panel=LIMITS)
    ] = SERVE.queue_size,
    max_batch: Annotated[
        int,
        typer.Option(
            help="Requests that arrive together run as one batch of up to N.", rich_help_panel=LIMITS
        ),
    ] = SERVE.max_batch,
    header_timeout: Annotated[
        float,
        typer.Option(
            help="Longest a client may take to send a request's headers (s).", rich_help_panel=LIMITS
        ),
    ] = SERVE.header_timeout_s,
    body_timeout: Annotated[
        float,
        typer.Option(
            help="Longest a client may take to send a request's body (s; 408 after).", rich_help_panel=LIMITS
        ),
    ] = SERVE.body_timeout_s,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            help="A Host header value to answer (repeat; default: what --host implies: loopback names for "
            "127.0.0.1, any host for 0.0.0.0).",
            rich_help_panel=LIMITS,
        ),
    ] = None,
) -> None:
    """Serve the pipeline: POST /v1/detect (JSON), GET / (a page to try it with an image or the webcam),
    GET /healthz, GET /v1/models, and the API docs at /docs."""
    import uvicorn

    pipeline = PipelineConfig(
        device=device,
        backend=backend,
        precision=precision,
        prior=prior,
        detector_weights=detector_weights,
        classifier_weights=tuple(classifier_weights or PIPELINE.classifier_weights),
        conf=conf,
        imgsz=imgsz,
    )
    config = ServeConfig(
        host=host,
        port=port,
        workers=workers,
        pipeline=pipeline,
        max_upload_mb=max_upload_mb,
        max_pixels=max_pixels,
        timeout_s=timeout,
        queue_size=queue_size,
        max_batch=max_batch,
        header_timeout_s=header_timeout,
        body_timeout_s=body_timeout,
        allowed_hosts=tuple(allowed_host or ()),
    )
    # bad options fail before anything loads: the port, then each model's weights and runtime
    check_port_free(host, port)
    check_backend_options(backend, precision, device, pipeline.models())
    from ferkit.serve.app import create_app, load_pipeline
    from ferkit.serve.config import CONFIG_ENV
    from ferkit.serve.protocol import HeaderDeadlineProtocol

    os.environ[CONFIG_ENV] = config.to_json()  # the CLI owns its process: workers and the protocol read it
    run = {"host": host, "port": port, "http": HeaderDeadlineProtocol, "timeout_keep_alive": 5}
    if workers > 1:
        uvicorn.run("ferkit.serve.app:app_from_env", factory=True, workers=workers, **run)
        return
    pipeline = load_pipeline(config)  # bad weights fail here, as one red line, before listening
    typer.secho(
        f"ferkit serving on http://{host}:{port}/ (API docs at /docs)", err=True, fg=typer.colors.GREEN
    )
    uvicorn.run(create_app(pipeline, config), **run)
