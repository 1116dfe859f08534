"""Detector training: a config dataclass and ``train_detector`` over ultralytics, writing a run folder."""

from __future__ import annotations

from pathlib import Path

from ferkit.atomic import write_text
from ferkit.datasets.coco import mirror_yolo_data
from ferkit.datasets.yolo import check_yolo_dataset
from ferkit.detector import yolo
from ferkit.detector.architectures import ARCHITECTURES, resolve_model_spec
from ferkit.detector.config import DEFAULT_ARCH, DetectorTrainConfig
from ferkit.device import select_device
from ferkit.errors import ConfigError, DataError, UnsafeWeightsError, WeightsError
from ferkit.runs import RunFolder

__all__ = ["DEFAULT_ARCH", "DetectorTrainConfig", "resume_detector", "train_detector"]


def _check_options(config: DetectorTrainConfig) -> None:
    timing_ok = min(config.hours, config.session_hours) >= 0
    if config.epochs < 1 or config.imgsz < 32 or config.batch < 1 or not timing_ok:
        raise ConfigError("epochs and batch must be >= 1, imgsz >= 32, hours and session_hours >= 0")
    if config.freeze < 0 or config.warmup_epochs < 0 or config.lr0 <= 0:
        raise ConfigError("freeze and warmup_epochs must be >= 0 and lr0 > 0")
    if not 0.0 <= config.multi_scale < 1.0:
        raise ConfigError(f"multi_scale must be in [0, 1), got {config.multi_scale}")


def train_detector(config: DetectorTrainConfig, log=print) -> Path:
    """Train a face detector from a model YAML / registered architecture (from scratch) or a .pt (fine-tune).

    Returns the run folder (``weights/best.pt`` inside). With ``config.skip_bad``, images whose label file
    is malformed are counted and left out (ultralytics drops them itself); otherwise they are an error.
    """
    _check_options(config)
    data_yaml = Path(config.data)
    if data_yaml.suffix not in (".yaml", ".yml"):
        raise DataError(
            f"must be a YOLO data.yaml (make one with 'fer datasets wider-to-yolo'), got {data_yaml}",
            option="data",
        )
    bad: list[str] = []
    check_yolo_dataset(data_yaml, bad if config.skip_bad else None)
    if bad:
        log(f"skipping {len(bad)} malformed label file(s) (listed in skipped_labels.txt), e.g. {bad[0]}")
    device = select_device(config.device)
    run_dir = RunFolder.numbered(config.project, config.name).path.resolve()
    if config.model not in ARCHITECTURES:  # a .pt or .yaml: checked before the run folder exists
        given = resolve_model_spec(config.model, run_dir)
        if given.endswith(".pt"):
            yolo.checked(given)
    with RunFolder(run_dir).hold():  # one run per folder, as every writer of a run folder
        RunFolder(run_dir).save_config(config)
        if bad:
            write_text(run_dir / "skipped_labels.txt", "".join(f"{b}\n" for b in bad))
        spec = resolve_model_spec(config.model, run_dir)
        # ultralytics writes label caches beside the labels: into the run's own mirror, not the user's folder
        mirrored = mirror_yolo_data(data_yaml, run_dir / "data")
        run, stopped = yolo.train(
            spec,
            dict(
                data=str(mirrored),
                imgsz=config.imgsz,
                epochs=config.epochs,
                time=config.hours or None,
                batch=config.batch,
                workers=config.workers,
                patience=config.patience,
                seed=config.seed,
                cache="ram" if config.cache else False,
                # RAM caching is not bit-reproducible (ultralytics warns on every run when both are on)
                deterministic=not config.cache,
                project=str(run_dir.parent),
                name=run_dir.name,
                exist_ok=True,
                close_mosaic=config.close_mosaic,
                multi_scale=config.multi_scale,
                lr0=config.lr0,
                warmup_epochs=config.warmup_epochs,
                freeze=config.freeze or None,
                optimizer=config.optimizer,
                # a .pt is fine-tuned from its weights; a YAML starts from scratch (nothing to download)
                pretrained=spec.endswith(".pt"),
                plots=True,
            ),
            device,
            config.session_hours,
            config.amp,
        )
    return _said_if_stopped(run, stopped, config.session_hours, log)


def finished_epochs(run_dir: Path) -> tuple[int, int]:
    """(epochs finished, epochs planned) of an ultralytics run folder, from its results.csv (one row per
    finished epoch) and args.yaml; (0, 0) where they cannot be read. Runs given an --hours budget are not
    judged (their end is not the epoch count)."""
    import yaml

    try:
        args = yaml.safe_load((run_dir / "args.yaml").read_text(encoding="utf-8")) or {}
        rows = (run_dir / "results.csv").read_text(encoding="utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return 0, 0
    if not isinstance(args, dict) or args.get("time") or not isinstance(args.get("epochs"), int):
        return 0, 0
    return max(len(rows) - 1, 0), int(args["epochs"])


def _said_if_stopped(run: Path, stopped: bool, session_hours: float, log) -> Path:
    """``run``, after saying how to go on when ``session_hours`` stopped it before its end."""
    if stopped:
        done, planned = finished_epochs(run)
        where = f" after epoch {done} of {planned}" if planned else ""
        log(f"session budget of {session_hours:g} h reached{where}: continue with --resume {run}")
    return run


def resume_detector(
    run_dir: str | Path, device: str = "auto", session_hours: float = 0.0, log=print, amp: bool | None = None
) -> Path:
    """Resume an interrupted run from its ``weights/last.pt`` (``session_hours``: as in training; ``amp``:
    None keeps the run's recorded setting, the default where it recorded none)."""
    if session_hours < 0:
        raise ConfigError("session_hours must be >= 0")
    last = RunFolder(run_dir).last
    if not last.is_file():
        raise DataError(f"cannot resume: {last} not found (is {run_dir} a ferkit detector run folder?)")
    done, planned = finished_epochs(Path(run_dir))
    if planned and done >= planned:  # ultralytics would fall back to a data set it downloads
        raise ConfigError(
            f"cannot resume {run_dir}: it already finished at epoch {done} of {planned}; to train it "
            f"further, fine-tune from it with --model {RunFolder(run_dir).best} --epochs N"
        )
    try:
        yolo.checked(last)
    except UnsafeWeightsError:
        raise
    except WeightsError as exc:
        best = RunFolder(run_dir).best
        try:
            yolo.checked(best)
            hint = f"fine-tune from its last good weights with --model {best}"
        except WeightsError:
            hint = "no other checkpoint in it can be used: start the run afresh"
        raise WeightsError(f"cannot resume {run_dir}: {exc}; {hint}") from None
    if amp is None:
        amp = _recorded(Path(run_dir)).get("amp", DetectorTrainConfig.amp) is not False
    with RunFolder(run_dir).hold():  # a second resume of the same run is refused
        run, stopped = yolo.resume(last, select_device(device), session_hours, amp)
    return _said_if_stopped(run, stopped, session_hours, log)


def _recorded(run_dir: Path) -> dict:
    """The run's ferkit options (``config.yaml``); empty where it has none (a plain ultralytics run)."""
    import yaml

    try:
        data = RunFolder(run_dir).load_config()
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}
