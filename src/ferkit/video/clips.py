"""Several video files in one command (a folder, a glob or a list of clips), one run folder each.

``--out DIR`` gets ``DIR/run.json`` (the settings every clip shares) and one subfolder per clip, named after
the file (``DIR/<stem>/``, the layout of :mod:`ferkit.video.run`). A rerun skips the clips already finished,
redoes an interrupted one from its start, takes new clips in, and refuses other settings.
"""

from __future__ import annotations

import contextlib
import glob
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ferkit.errors import ConfigError, DataError
from ferkit.imaging.images import is_image_file, is_pattern, walk_files
from ferkit.runs import RunFolder
from ferkit.video.config import VIDEO_SUFFIXES, VideoOptions, is_video_input, source_kind
from ferkit.video.run import VideoSummary, run_video


def _is_clip(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES and not path.is_dir()


def _folder_clips(folder: Path, recursive: bool) -> tuple[list[Path], bool]:
    """The video files of ``folder`` (sorted) and whether it holds images too."""
    clips, images = [], False
    for _, _, files in walk_files(folder, recursive):
        clips += [p for p in files if _is_clip(p)]
        images = images or any(is_image_file(p) for p in files)
    return clips, images


def video_inputs(paths: Sequence[str], recursive: bool = False) -> list[str] | None:
    """The videos ``paths`` name: video files, stream URLs or camera indices as given, folders holding
    videos and no images, globs matching videos only. None when they name images (the image path takes
    them). Videos mixed with images, or a stream among other inputs, is one ConfigError."""
    videos: list[str] = []
    others: list[str] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            clips, images = _folder_clips(p, recursive)
            if clips and not images:
                videos.extend(map(str, clips))
            else:
                others.append(raw)
        elif is_pattern(raw):
            matches = [Path(m) for m in sorted(glob.glob(raw, recursive=True))]
            clips = [m for m in matches if _is_clip(m)]
            if clips and len(clips) == len(matches):
                videos.extend(map(str, clips))
            else:
                others.append(raw)
        elif is_video_input(raw):
            videos.append(raw)
        else:
            others.append(raw)
    if not videos:
        return None
    if others:
        raise ConfigError(
            f"videos and images in one command ({others[0]} is not a video): run the videos and the images "
            "as two commands"
        )
    live = [v for v in videos if source_kind(v) != "file"]
    if live and len(videos) > 1:
        raise ConfigError(f"a camera or stream ({live[0]}) runs alone: one command per camera or stream")
    return list(dict.fromkeys(videos))  # a clip named twice is run once


def clip_names(clips: Sequence[str]) -> list[str]:
    """A subfolder name per clip: its file stem, made unique with ``_2``, ``_3``... in order."""
    names: list[str] = []
    for clip in clips:
        stem = Path(clip).stem or "clip"
        name, n = stem, 2
        while name in names:
            name, n = f"{stem}_{n}", n + 1
        names.append(name)
    return names


def run_clips(
    pipeline,
    clips: Sequence[str],
    options: VideoOptions | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    on_clip: Callable[[VideoSummary], None] | None = None,
    **run_options,
) -> Iterator[VideoSummary]:
    """Run :func:`ferkit.video.run.run_video` on each clip in turn (with ``out``, each in its own subfolder);
    yields each clip's summary. A clip that cannot be opened is reported (its summary's ``error``) and the
    others still run; Ctrl-C ends the whole run after closing the current clip's files."""
    options = options or VideoOptions()
    folder = RunFolder(Path(out)) if out is not None else None
    with folder.hold() if folder is not None else contextlib.nullcontext():
        if folder is not None:  # (a file at ``out`` is refused by hold())
            folder.start({**pipeline.settings(), "video": options.to_dict()}, overwrite)
        for clip, name in zip(clips, clip_names(clips), strict=True):
            sub = folder.path / name if folder is not None else None
            try:
                summary = run_video(pipeline, clip, options, out=sub, overwrite=overwrite, **run_options)
            except (DataError, ConfigError) as exc:  # a clip that cannot run (unreadable, too short...)
                summary = VideoSummary(str(clip), out=sub, error=str(exc))
            if on_clip is not None:
                on_clip(summary)
            yield summary
            if summary.interrupted or summary.stopped:
                return
