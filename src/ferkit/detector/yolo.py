"""The one module that touches ultralytics: import, training, prediction, export, weight averaging.

Everything it returns is ferkit's own types (``Detection``) or plain Python values; the rest of ferkit never
sees an ultralytics object. What it changes, and for how long:

- ultralytics is imported with the offline variables of :mod:`ferkit.offline` set for the import only;
- training swaps two ultralytics checks for local ones while it runs: the AMP check (which downloads a
  model) becomes :func:`amp_works`, and the font look-up (which downloads Arial) uses a font that is
  already on the machine; both are put back afterwards, and nothing is written to the user's folders;
- training on a CPU gets :mod:`ferkit.detector.cpu_training`'s set-up through trainer callbacks;
- the ``fer`` command, and only it, sends ultralytics' log lines to stderr
  (:func:`ferkit.offline.send_logs_to_stderr`), so that its stdout holds just the results. Log levels
  stay ultralytics' own (``YOLO_VERBOSE``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from ferkit import offline
from ferkit.detector import cpu_training
from ferkit.detector.letterbox import LetterboxedDetector
from ferkit.detector.local_checks import amp_works, local_font
from ferkit.detector.safe_load import check_detector_checkpoint
from ferkit.device import autocast_dtype, torch_device
from ferkit.errors import UnsafeWeightsError, WeightsError
from ferkit.offline import import_albumentations, scoped_env


@cache
def ultralytics_module():
    """Import ultralytics with its network features off and its settings file outside the user's config
    folder (unless YOLO_CONFIG_DIR says where), both for the import only (see ferkit.offline)."""
    stream = contextlib.redirect_stdout(sys.stderr) if offline.LOGS_TO_STDERR else contextlib.nullcontext()
    private = offline.private_config_dir()
    env = {**offline.OFFLINE_ENV, "YOLO_CONFIG_DIR": private}
    # its "Creating new Ultralytics Settings" lines name ferkit's own temporary folder: not the user's news
    with scoped_env(env), stream, offline.hide_records_naming("ultralytics", private):
        import ultralytics  # its log handler binds to the sys.stdout of this moment
    offline.adopt_log_handlers()
    return ultralytics


def ultralytics_device(device: Any) -> str:
    """ultralytics' spelling of a torch device: 'cpu', 'mps' or a CUDA index."""
    text = str(device)
    if text in ("cpu", "mps"):
        return text
    return text.split(":", 1)[1] if ":" in text else "0"


@contextlib.contextmanager
def local_checks(amp: bool) -> Iterator[None]:
    """While training: ultralytics' AMP check answers ``amp``, its font look-up uses :func:`local_font`.

    Both originals would download files; they are restored when the block ends.
    """
    ultralytics_module()
    import ultralytics.data.utils as data_utils
    import ultralytics.utils.plotting as plotting
    from ultralytics.engine import trainer

    def font(name: str = "Arial.ttf") -> Path:
        return local_font(Path(name).name)

    swaps = [(trainer, "check_amp", lambda model: amp), (data_utils, "check_font", font)]
    swaps.append((plotting, "check_font", font))
    originals = [(m, attr, getattr(m, attr)) for m, attr, _ in swaps]
    for m, attr, new in swaps:
        setattr(m, attr, new)
    try:
        yield
    finally:
        for m, attr, old in originals:
            setattr(m, attr, old)


@contextlib.contextmanager
def _keep_torch_threads():
    """ultralytics' CPU device set-up drops the whole process to cpu_count - 1 torch threads; undo that."""
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def checked(weights: str | Path) -> str:
    """``weights`` once :func:`check_detector_checkpoint` found that unpickling it runs no code.

    Every ``.pt`` handed to ultralytics goes through here first: ultralytics unpickles with
    ``weights_only=False``.
    """
    ultralytics_module()  # the allow-list names ultralytics' layer classes
    check_detector_checkpoint(weights)
    return str(weights)


def train(
    model_spec: str,
    overrides: dict[str, Any],
    device: torch.device,
    session_hours: float = 0.0,
    amp: bool = True,
) -> tuple[Path, bool]:
    """Run ultralytics training on ``device``; with ``amp``, float16 AMP on CUDA where :func:`amp_works` and
    a bf16 forward pass on a CPU that computes it natively. Returns the run folder and whether
    ``session_hours`` (> 0) stopped it before its end (see :func:`_fit`)."""
    yolo = ultralytics_module().YOLO(checked(model_spec) if model_spec.endswith(".pt") else model_spec)
    return _fit(yolo, device, amp, session_hours, {**overrides, "device": ultralytics_device(device)})


def resume(
    last_pt: Path, device: torch.device, session_hours: float = 0.0, amp: bool = True
) -> tuple[Path, bool]:
    """Resume an interrupted ultralytics run from its ``last.pt``; ``amp`` and the result as :func:`train`."""
    args = {"resume": True, "device": ultralytics_device(device)}
    return _fit(ultralytics_module().YOLO(checked(last_pt)), device, amp, session_hours, args)


class _SessionOver(Exception):
    pass


def _fit(
    yolo, device: torch.device, amp: bool, session_hours: float, args: dict[str, Any]
) -> tuple[Path, bool]:
    """``yolo.train(**args)`` under :func:`local_checks`, on a CPU with :mod:`~ferkit.detector.cpu_training`'s
    set-up. With ``session_hours`` > 0 it stops after the last whole epoch that fits in them at the last
    epoch's pace (its last.pt saved, resumable), unless the run ends anyway."""
    import time

    import_albumentations()  # ultralytics imports it while training: without its update check
    start = last = time.time()
    threads, bf16 = torch.get_num_threads(), autocast_dtype(device, amp) if device.type == "cpu" else None

    def out_of_time(trainer) -> None:
        nonlocal last
        now = time.time()
        took, last = now - last, now
        if not trainer.stop and now - start + took > session_hours * 3600:
            for loader in (trainer.train_loader, trainer.test_loader):
                if hasattr(loader, "close"):
                    loader.close()  # as ultralytics does at a run's end: no loader process left
            raise _SessionOver

    if device.type == "cpu":
        yolo.add_callback("on_train_start", lambda t: cpu_training.start(t.model, threads))
    if bf16 is not None:  # the training batches' forward pass only: not validation, not the EMA copy
        yolo.add_callback(
            "on_train_epoch_start", lambda t: cpu_training.autocast_forward(t.model, "predict", bf16)
        )
        yolo.add_callback("on_train_epoch_end", lambda t: cpu_training.restore_forward(t.model))
    if session_hours > 0:
        yolo.add_callback("on_fit_epoch_end", out_of_time)
    stopped = False
    cuda_amp = amp and amp_works(device)
    if "resume" not in args:  # a resumed run: ultralytics ignores a new amp and keeps the recorded one
        args = {**args, "amp": cuda_amp}
    # ... set here, after its resume check (a run begun on a CPU recorded False); its AMP check answers it
    yolo.add_callback("on_pretrain_routine_start", lambda t: setattr(t.args, "amp", cuda_amp))
    yolo.add_callback("on_pretrain_routine_start", _without_tune_report)
    with local_checks(cuda_amp), _keep_torch_threads():
        try:
            yolo.train(**args)
        except _SessionOver:
            stopped = True
    return Path(yolo.trainer.save_dir), stopped


def _without_tune_report(trainer) -> None:
    """This trainer without ultralytics' Ray Tune reporter, which asks Ray for a trial id every epoch (a
    warning outside a tuning session); ferkit never trains inside one."""
    from ultralytics.utils.callbacks import raytune

    report = getattr(raytune, "on_fit_epoch_end", None)
    hooks = trainer.callbacks.get("on_fit_epoch_end", [])
    trainer.callbacks["on_fit_epoch_end"] = [h for h in hooks if h is not report]


def export_weights(src: str | Path, dst: str | Path) -> Path:
    """Write a deployable copy of a training checkpoint (EMA weights in float16, no optimizer state).

    When the training data.yaml recorded how WIDER photos were split (``ferkit_split``), the copy carries it
    under ``ferkit``, so that evaluation can hold out exactly the photos and events the weights never saw.
    """
    ultralytics_module()
    from ultralytics.utils.torch_utils import strip_optimizer

    from ferkit.datasets.wider_split import SPLIT_KEY

    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    try:
        checked(src)
    except UnsafeWeightsError:
        raise
    except WeightsError as exc:
        raise WeightsError(
            f"cannot export detector weights: {src} is not an ultralytics checkpoint ({exc})"
        ) from None
    try:
        ckpt = strip_optimizer(str(src), str(dst))
    except Exception as exc:  # ultralytics raises many types for a file that is not its checkpoint
        raise WeightsError(
            f"cannot export detector weights: {src} is not an ultralytics checkpoint ({exc})"
        ) from None
    if not ckpt:
        raise WeightsError(f"cannot export detector weights: {src} is not an ultralytics checkpoint")
    data = Path(str((ckpt.get("train_args") or {}).get("data", "")))
    if data.suffix in (".yaml", ".yml") and data.is_file():
        split = (yaml.safe_load(data.read_text()) or {}).get(SPLIT_KEY)
        if split:
            ckpt["ferkit"] = {"split": split}
            torch.save(ckpt, dst)
    return Path(dst)


def average_weights(sources: list[str | Path], dst: str | Path) -> Path:
    """Write the mean of several detectors' weights and batch-norm statistics (a "model soup" of fine-tunes
    of one model), each source taken as :func:`export_weights` deploys it, as a deployable copy.

    The copy records its sources under ``ferkit``, and the WIDER split only when every source recorded the
    same one (otherwise no photo is known to be unseen by all of them).
    """
    import tempfile
    from datetime import datetime, timezone

    from ferkit.atomic import atomic_path
    from ferkit.classifier.averaging import mean_state

    if len(sources) < 2:
        raise WeightsError("averaging detector weights needs at least two files")
    with tempfile.TemporaryDirectory(prefix="ferkit-average-") as tmp:
        ckpts = [
            torch.load(export_weights(s, Path(tmp) / f"{i}.pt"), map_location="cpu", weights_only=False)
            for i, s in enumerate(sources)
        ]
    states = [c["model"].float().state_dict() for c in ckpts]
    for src, ckpt, state in zip(sources, ckpts, states, strict=True):
        same = state.keys() == states[0].keys()
        same = same and all(v.shape == states[0][k].shape for k, v in state.items())
        if not same or dict(ckpt["model"].names) != dict(ckpts[0]["model"].names):
            raise WeightsError(f"cannot average {src} with {sources[0]}: another architecture or classes")
    out = dict(ckpts[0])
    out["model"].load_state_dict(mean_state(states))
    out["model"].half()
    splits = [(c.get("ferkit") or {}).get("split") for c in ckpts]
    out["date"] = datetime.now(timezone.utc).isoformat()
    out["ferkit"] = {"averaged_from": [str(s) for s in sources]}
    if splits[0] and all(s == splits[0] for s in splits):
        out["ferkit"]["split"] = splits[0]
    with atomic_path(dst) as part:
        torch.save(out, part)
    return Path(dst)


def export_onnx(weights: Path, imgsz: int) -> tuple[bytes, dict[str, Any]]:
    """A detector as ONNX (dynamic batch and size, simplified) by ultralytics' exporter, in a temporary
    folder; with what ferkit needs to run it: class names, stride, and the recorded WIDER split."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ferkit-export-") as tmp:
        src = Path(tmp) / "detector.pt"
        shutil.copyfile(weights, src)
        model = YoloModel(src, torch.device("cpu"))
        try:
            # its closing lines name files in ``tmp``, deleted when this returns
            with _keep_torch_threads(), offline.hide_records_naming("ultralytics", tmp):
                out = model._model.export(
                    format="onnx", imgsz=imgsz, dynamic=True, simplify=True, device="cpu"
                )
        except Exception as exc:  # ultralytics raises many types
            raise WeightsError(f"cannot export {weights} to ONNX: {exc}") from None
        data = Path(out).read_bytes()
    return data, {"names": model.names, "stride": model.stride, "split": model.ferkit_meta.get("split")}


class YoloModel(LetterboxedDetector):
    """A loaded ultralytics detector that returns ferkit Detections."""

    def __init__(self, weights: Path, device: Any):
        spec = checked(weights)
        try:
            self._model = ultralytics_module().YOLO(spec, task="detect")
        except Exception as exc:  # ultralytics raises many types for a bad file
            raise WeightsError(f"cannot load detector weights {weights}: {exc}") from None
        if getattr(self._model, "task", "detect") != "detect":
            raise WeightsError(f"{weights} is a {self._model.task} model, not a detector")
        self._device = ultralytics_device(device)
        self._torch_device = torch_device(device)
        self._net: torch.nn.Module | None = None
        self.stride = int(max(getattr(self._model.model, "stride", torch.tensor([32])).tolist()))
        self.names: dict[int, str] = dict(getattr(self._model, "names", {}) or {})
        # what ferkit's export recorded: the WIDER split of the training data (see export_weights)
        self.ferkit_meta: dict = dict((getattr(self._model, "ckpt", None) or {}).get("ferkit") or {})

    def forward(self, half: bool):
        """The fused network on the device, as every backend's ``predict`` calls it."""
        net = self._network(half)

        def run(batch: np.ndarray) -> np.ndarray:
            x = torch.from_numpy(batch).to(self._torch_device)
            with torch.inference_mode(), _keep_torch_threads():
                out = net(x.half() if half else x)
            out = out[0] if isinstance(out, (tuple, list)) else out
            return out.float().cpu().numpy()

        return run

    def _network(self, half: bool) -> torch.nn.Module:
        """The fused network in eval mode on the device (built once)."""
        if self._net is None:
            net = self._model.model
            with _keep_torch_threads():
                net = net.fuse(verbose=False) if hasattr(net, "fuse") else net
            self._net = net.to(self._torch_device).float().eval()
            if half:
                self._net = self._net.half()
        return self._net
