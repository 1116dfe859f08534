"""Try ``fer serve``'s page in a real browser (headless Chromium through Selenium), as a person would:
open it, choose ``docs/example.jpg``, wait for the faces, read their labels and take a screenshot.

    python -m benchmarks.serve_browser [--out docs/serve.png]

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them). The tests use the same
helpers on a server started on 127.0.0.1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.servedrive import (
    EXAMPLE,
    headless_chromium,
    running_server,
    try_page,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=EXAMPLE.parent / "serve.png")
    ap.add_argument("--image", type=Path, default=EXAMPLE)
    args = ap.parse_args()
    from ferkit.config import PipelineConfig
    from ferkit.serve.app import create_app, load_pipeline
    from ferkit.serve.config import ServeConfig

    config = ServeConfig(pipeline=PipelineConfig(device="cpu"))
    with running_server(create_app(load_pipeline(config), config)) as url, headless_chromium() as driver:
        print(try_page(driver, url, args.image, args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
