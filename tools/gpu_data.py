"""Carry image-folder datasets to a machine that only receives a small working tree (the lent GPU).

``pack`` stores every file of the named datasets, byte for byte, in numbered shards of at most
``--shard-mb`` MB (``shard_00.npz``...) plus ``manifest.json``; ``unpack`` rebuilds the folders from them
and refuses to start when a shard is missing or damaged, naming it.

python -m tools.gpu_data pack --data ../shared/data --datasets fer2013 expw --out .gpu_data
python -m tools.gpu_data unpack .gpu_data --out /tmp/ferkit_data
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".csv", ".txt"}  # .txt: the WIDER FACE ground truth


def pack(data: Path, datasets: list[str], out: Path, shard_mb: float) -> list[Path]:
    """Write the shards and the manifest; returns the shard paths."""
    found = (p for name in datasets for p in (data / name).rglob("*") if p.is_file())
    files = sorted(p for p in found if p.suffix.lower() in SUFFIXES)
    if not files:
        raise SystemExit(f"no image or CSV files under {data} for {', '.join(datasets)}")
    out.mkdir(parents=True, exist_ok=True)
    limit, shards, batch, size = shard_mb * 1e6, [], [], 0
    for f in [*files, None]:
        blob = f.read_bytes() if f is not None else b""
        cost = len(blob) + (len(str(f.relative_to(data))) + 9 if f is not None else 0)  # + name, offset
        if batch and (f is None or size + cost > limit):
            shards.append(_write_shard(out / f"shard_{len(shards):02d}.npz", batch, data))
            batch, size = [], 0
        if f is not None:
            batch.append((f, blob))
            size += cost
    manifest = {
        "datasets": datasets,
        "files": len(files),
        "shards": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in shards},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return shards


def _write_shard(path: Path, batch: list[tuple[Path, bytes]], root: Path) -> Path:
    offsets = np.cumsum([0, *(len(b) for _, b in batch)])
    names = np.frombuffer("\n".join(str(f.relative_to(root)) for f, _ in batch).encode(), dtype=np.uint8)
    blobs = np.frombuffer(b"".join(b for _, b in batch), dtype=np.uint8)
    np.savez(path, names=names, offsets=offsets, blobs=blobs)
    print(f"{path}: {len(batch)} files, {path.stat().st_size / 1e6:.1f} MB")
    return path


def unpack(src: Path, out: Path) -> int:
    """Rebuild the dataset folders under ``out``; returns the number of files written."""
    manifest_path = src / "manifest.json"
    if not manifest_path.is_file():
        raise SystemExit(f"{manifest_path} is missing: pack the data first (python -m tools.gpu_data pack)")
    manifest = json.loads(manifest_path.read_text())
    written = 0
    for name, digest in manifest["shards"].items():
        path = src / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise SystemExit(f"{path} is missing or damaged: carry it to this machine and run again")
        with np.load(path, allow_pickle=False) as z:
            names, offsets, blobs = z["names"].tobytes().decode().split("\n"), z["offsets"], z["blobs"]
        for i, rel in enumerate(names):
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blobs[offsets[i] : offsets[i + 1]].tobytes())
            written += 1
    if written != manifest["files"]:
        raise SystemExit(f"{src}: {written} files unpacked, the manifest lists {manifest['files']}")
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--data", type=Path, required=True, help="folder holding the datasets")
    p.add_argument("--datasets", nargs="+", default=["fer2013", "expw"])
    p.add_argument("--out", type=Path, default=Path(".gpu_data"))
    p.add_argument("--shard-mb", type=float, default=36.0, help="with the checkout: under 64 MiB a call")
    u = sub.add_parser("unpack")
    u.add_argument("src", type=Path)
    u.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.verb == "pack":
        shards = pack(args.data, args.datasets, args.out, args.shard_mb)
        print(f"{len(shards)} shard(s) in {args.out}: carry one per call to the GPU machine")
    else:
        print(f"{unpack(args.src, args.out)} files unpacked into {args.out}")


if __name__ == "__main__":
    sys.exit(main())
