"""Inference on face crops: ``EmotionClassifier``, preprocessing matched to the checkpoint, optional TTA."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ferkit.backends import ExportedModel, load_exported, resolve_runtime
from ferkit.classifier.meta import ClassifierMeta, meta_from_dict
from ferkit.classifier.onnx import classifier_onnx
from ferkit.classifier.preprocess import Preprocess
from ferkit.classifier.priors import apply_prior
from ferkit.config import DEFAULT_BACKEND, DEFAULT_PRECISION, DEFAULT_PRIOR, check_prior_name
from ferkit.device import as_device, torch_device
from ferkit.errors import DataError, WeightsError
from ferkit.imaging.crop import CropRecipe
from ferkit.imaging.images import decode_image, read_image
from ferkit.weights import resolve


def as_crops(crops) -> list[np.ndarray]:
    """Face crops as a list of arrays: one crop (a 2-D gray or (H, W, C) colour array, a ``PIL.Image``, an
    image file's path or bytes) or many (a list or tuple of those, or an (N, H, W, C) batch)."""
    if isinstance(crops, np.ndarray):
        if crops.ndim == 2 or (crops.ndim == 3 and crops.shape[-1] in (1, 3, 4)):
            return [crops]
        if crops.ndim == 4:
            return list(crops)
        raise DataError(
            f"an array of shape {crops.shape} is neither one crop ((H, W) or (H, W, C) with 1, 3 or 4 "
            "channels) nor a batch (N, H, W, C): give a list of crops"
        )
    if isinstance(crops, (list, tuple)):
        return [_one_crop(c, i) for i, c in enumerate(crops)]
    return [_one_crop(crops, None)]


def as_predictions(probs: np.ndarray, names: Sequence[str], one: bool):
    """(label, {class name: probability}) per row of ``probs``; the first alone when ``one``."""
    pairs = [(names[int(p.argmax())], {n: float(v) for n, v in zip(names, p, strict=True)}) for p in probs]
    return pairs[0] if one else pairs


def is_one_crop(crops) -> bool:
    """Whether ``crops`` is a single crop rather than a list, tuple or (N, H, W, C) batch of them."""
    if isinstance(crops, np.ndarray):
        return crops.ndim in (2, 3)
    return not isinstance(crops, (list, tuple))


def _one_crop(crop, index: int | None) -> np.ndarray:
    """One crop as an array (BGR or gray): arrays as they are, PIL images, paths and file bytes decoded."""
    where = "the crop" if index is None else f"crop {index}"
    if isinstance(crop, np.ndarray):
        if crop.ndim == 2 or (crop.ndim == 3 and crop.shape[-1] in (1, 3, 4)):
            return crop
        raise DataError(
            f"{where} has shape {crop.shape}: expected (H, W), or (H, W, C) with 1, 3 or 4 channels"
        )
    if isinstance(crop, (str, Path)):
        return read_image(crop)
    if isinstance(crop, (bytes, bytearray)):
        return decode_image(bytes(crop), where)
    if type(crop).__module__.startswith("PIL."):
        return np.asarray(crop.convert("L"))  # PIL holds RGB: straight to gray, no channel-order guess
    raise DataError(f"{where} is a {type(crop).__name__}: give an array, a PIL image, a path or image bytes")


def _exported_meta(run: ExportedModel, info: dict, path: Path) -> ClassifierMeta:
    """The classifier metadata of an exported model, checked against the network it travels with."""
    try:
        meta = meta_from_dict(info["meta"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WeightsError(
            f"{path}: its ferkit metadata is incomplete or malformed ({type(exc).__name__}: {exc}): "
            "re-export it with fer export"
        ) from None
    size = meta.input_size
    out = run.probe((1, 1, size, size), path, f"the {size}x{size} gray crops its metadata names")[0]
    if out.ndim != 2 or out.shape[-1] != len(meta.class_names):
        raise WeightsError(
            f"{path}: its metadata names {len(meta.class_names)} classes but the network gives "
            f"{out.shape[-1] if out.ndim else 0} outputs per face: re-export it with fer export"
        )
    return meta


def _resize_axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of a bilinear resize along one axis (half-pixel centres, as PyTorch's
    ``interpolate(..., align_corners=False)``)."""
    src = np.maximum((np.arange(n_out, dtype=np.float32) + 0.5) * np.float32(n_in / n_out) - 0.5, 0)
    i0 = np.minimum(src.astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (src - i0).astype(np.float32)


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    """A (N, C, H, W) float32 batch resized bilinearly to (size, size)."""
    r0, r1, wr = _resize_axis(x.shape[-2], size)
    c0, c1, wc = _resize_axis(x.shape[-1], size)
    rows = x[..., r0, :] * (1 - wr)[:, None] + x[..., r1, :] * wr[:, None]
    return rows[..., c0] * (1 - wc) + rows[..., c1] * wc


def tta_views(x: np.ndarray, shift: int = 3) -> list[np.ndarray]:
    """Test-time views of a (N, 1, S, S) batch: the image, its mirror, and four corner crops (by ``shift``
    pixels, resized back to S) with their mirrors."""
    s = x.shape[-1]
    views = [x]
    for dy, dx in ((0, 0), (0, shift), (shift, 0), (shift, shift)):
        views.append(_resize(x[..., dy : s - shift + dy, dx : s - shift + dx], s))
    return views + [np.ascontiguousarray(v[..., ::-1]) for v in views]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) logits, in float32."""
    z = np.asarray(logits, dtype=np.float32)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def torch_forward(module: Any, device: Any) -> Callable[[np.ndarray], np.ndarray]:
    """A torch module as the classifier's network: a (N, 1, S, S) float32 array in, logits out."""
    import torch

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = module(torch.from_numpy(np.ascontiguousarray(x)).to(device))
        return out.float().cpu().numpy()

    return run


class EmotionClassifier:
    """A trained emotion classifier: crops in, probabilities per class name out."""

    def __init__(
        self,
        model: Any,
        meta: ClassifierMeta,
        device: Any,
        weights: Path | None = None,
        backend: str = "torch",
        precision: str = "fp32",
        prior: str = DEFAULT_PRIOR,
    ):
        self.model, self.meta, self.device, self.backend = model, meta, device, backend
        # the network on arrays: the torch module wrapped, or the exported model as it is
        self._forward = torch_forward(model, device) if backend == "torch" else (lambda x: model(x)[0])
        self.precision = precision
        self.weights = weights  # the checkpoint (or exported) file it was loaded from, when known
        if check_prior_name(prior) == "balanced" and meta.prior is None:
            raise WeightsError(
                f"{weights or 'these classifier weights'} store no prior correction, which --prior balanced "
                "needs: fit one on val with fer calibrate-classifier, or use --prior natural"
            )
        self.prior = prior
        self._correction = meta.prior if prior == "balanced" else None

    @classmethod
    def from_pretrained(
        cls,
        weights: str | Path | None = "default",
        device: str | Any = "auto",
        backend: str = DEFAULT_BACKEND,
        precision: str = DEFAULT_PRECISION,
        prior: str = DEFAULT_PRIOR,
    ):
        """Load shipped ('default') or user weights onto ``device`` (auto/cpu/cuda or a torch.device), run by
        ``backend`` (torch, onnx, openvino or auto: see :func:`ferkit.backends.resolve_backend`), with the
        class ``prior`` (:mod:`ferkit.classifier.priors`)."""
        dev = as_device(device)
        ref = resolve("classifier", weights)
        rt = resolve_runtime(ref, backend, precision, dev)
        if rt.backend == "torch":
            from ferkit.classifier.checkpoint import load_checkpoint

            dev = torch_device(dev)
            model, meta = load_checkpoint(ref.path, dev)
            return cls(model, meta, dev, ref.path, precision=rt.precision, prior=prior)
        model_src, info, path = load_exported(ref, rt.backend, classifier_onnx)
        size = int((info.get("meta") or {}).get("input_size") or 48)
        run = ExportedModel(model_src, rt.backend, dev, rt.precision, probe_shape=(16, 1, size, size))
        meta = _exported_meta(run, info, path)
        return cls(run, meta, dev, path, rt.backend, run.precision, prior)  # auto: as measured here

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.meta.class_names

    @property
    def crop(self) -> CropRecipe:
        """How this model wants faces cut out of photos (stored in its checkpoint)."""
        return self.meta.crop

    @property
    def preprocessor(self) -> Preprocess:
        """What turns crops into this model's input (from its checkpoint's metadata)."""
        return Preprocess(self.meta)

    @property
    def input_sizes(self) -> set[int]:
        return {self.meta.input_size}

    def preprocess(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Gray, resized to the checkpoint's input size, blur-matched and normalised: (N, 1, S, S)."""
        return self.preprocessor(crops)

    def predict_images(self, images: dict[int, np.ndarray], tta: bool = False) -> np.ndarray:
        """Probabilities (N, K) of uint8 images already at each input size (``{size: (N, S, S)}``)."""
        return self.predict_array(self.preprocessor.array(images[self.meta.input_size]), tta=tta)

    def predict_array(self, x: np.ndarray, tta: bool = False, batch_size: int = 256) -> np.ndarray:
        """Class probabilities (N, K) of a preprocessed (N, 1, S, S) batch; TTA averages the softmax of all
        views; the prior correction, under ``prior="balanced"``, comes last."""
        out = []
        for i in range(0, len(x), batch_size):
            xb = np.asarray(x[i : i + batch_size], dtype=np.float32)
            views = tta_views(xb) if tta else [xb]
            out.append(np.mean([softmax(self._forward(v)) for v in views], axis=0))
        k = len(self.class_names)
        return apply_prior(np.concatenate(out), self._correction) if out else np.zeros((0, k), np.float32)

    def predict_proba(self, crops: Sequence[np.ndarray], tta: bool = False) -> np.ndarray:
        """Class probabilities (N, K), columns in the order of :attr:`class_names`; ``crops`` as
        :func:`as_crops` takes them (one crop gives one row)."""
        return self.predict_array(self.preprocess(as_crops(crops)), tta=tta)

    def predict(self, crops, tta: bool = False):
        """One crop (an array, a ``PIL.Image``, a path or image bytes) gives one (label, {class name:
        probability}) pair; a list, tuple or (N, H, W, C) batch gives a list of them."""
        return as_predictions(self.predict_proba(crops, tta=tta), self.class_names, is_one_crop(crops))
