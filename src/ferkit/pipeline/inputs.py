"""Expanding command-line inputs (files, folders, globs) into a list of images, with per-input errors."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from ferkit.imaging.images import is_image_file, is_pattern, unread_format, walk_files


@dataclass(frozen=True)
class InputItem:
    """An image to process and the name its outputs get under --out (unique within a run)."""

    path: Path
    name: str


@dataclass(frozen=True)
class SkippedInput:
    """An input (as given) that yielded no image to process, and why."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass(frozen=True)
class UnsearchedSubfolders:
    """Subfolders of a folder given without ``recursive``: how many, and how many images they hold."""

    folder: str
    subfolders: int
    images: int

    def __str__(self) -> str:
        s = "s" if self.subfolders != 1 else ""
        n = f"{self.images} image{'s' if self.images != 1 else ''}"
        return f"{self.folder}: {self.subfolders} subfolder{s} ({n}) not searched: add --recursive for them"


@dataclass
class Inputs:
    items: list[InputItem] = field(default_factory=list)
    errors: list[SkippedInput] = field(default_factory=list)  # inputs that yielded nothing
    unsearched: list[UnsearchedSubfolders] = field(default_factory=list)  # folders given without recursive


def _unsearched(folder: Path, subfolders: list[str]) -> UnsearchedSubfolders | None:
    """What the subfolders of ``folder`` hold (images, counted through every level)."""
    if not subfolders:
        return None
    images = 0
    for sub in subfolders:
        for dirpath, dirnames, filenames in os.walk(folder / sub):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            images += sum(1 for f in filenames if not f.startswith(".") and is_image_file(Path(dirpath) / f))
    return UnsearchedSubfolders(str(folder), len(subfolders), images)


def _folder_images(folder: Path, recursive: bool, out: Inputs) -> list[Path]:
    """The images of ``folder``; subfolders that cannot be listed and files in formats ferkit does not read
    are added to ``out.errors``, one each, instead of being dropped; without ``recursive``, what the
    subfolders hold goes to ``out.unsearched``."""
    errors = out.errors

    def unlistable(exc: OSError) -> None:
        if Path(exc.filename or "") != folder:  # the folder itself is checked by the caller
            errors.append(SkippedInput(str(exc.filename), f"cannot list this folder ({exc.strerror or exc})"))

    found = []
    for where, subs, files in walk_files(folder, recursive, unlistable):
        for path in files:
            if is_image_file(path):
                found.append(path)
            elif (why := unread_format(path)) is not None:
                errors.append(SkippedInput(str(path), why))
        if not recursive and (unsearched := _unsearched(where, subs)) is not None:
            out.unsearched.append(unsearched)
    return found


def _resolved(path: Path) -> str | None:
    """The absolute real path of ``path``; None for a link that loops or cannot be followed."""
    try:
        return str(path.resolve())
    except (RuntimeError, OSError):  # RuntimeError: "Symlink loop" (Python < 3.13)
        return None


def collect_inputs(paths: list[str], recursive: bool = False) -> Inputs:
    """Files are taken as given (a non-image fails later, with its reason); folders give their images
    (``recursive`` for subfolders); anything with ``*?[`` is a glob. A missing path, an empty or unreadable
    folder or a glob that matches nothing is an error line, and the other inputs still run."""
    out = Inputs()
    taken: set[str] = set()
    names: set[str] = set()
    for raw in paths:
        p = Path(raw).expanduser()
        if is_pattern(raw):
            matches = sorted(Path(m) for m in glob.glob(raw, recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                out.errors.append(SkippedInput(raw, "no files match this pattern"))
            pairs = [(f, f.name) for f in files]
        elif p.is_dir():
            if not os.access(p, os.R_OK | os.X_OK):
                out.errors.append(SkippedInput(raw, "permission denied (cannot list this folder)"))
                continue
            files = _folder_images(p, recursive, out)
            if not files:
                hint = "" if recursive else " (use --recursive for subfolders)"
                out.errors.append(SkippedInput(raw, f"no images in this folder{hint}"))
            pairs = [(f, f.relative_to(p).as_posix()) for f in files]
        elif p.exists():
            pairs = [(p, p.name)]
        else:
            out.errors.append(SkippedInput(raw, "no such file or folder"))
            continue
        for f, name in pairs:
            key = _resolved(f)
            if key is None:
                out.errors.append(SkippedInput(str(f), "a symbolic link that loops or cannot be followed"))
                continue
            if key in taken:
                continue
            taken.add(key)
            unique, n = name, 2
            while unique in names:
                stem, dot, suffix = name.rpartition(".")
                unique = f"{stem}_{n}.{suffix}" if dot else f"{name}_{n}"
                n += 1
            names.add(unique)
            out.items.append(InputItem(f, unique))
    return out
