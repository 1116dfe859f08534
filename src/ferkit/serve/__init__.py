"""``fer serve``: the pipeline behind a FastAPI app (JSON API, a browser page, health and model info)."""
