"""The data of a training run: one or more datasets read, grouped, cleaned, split and joined."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferkit.classifier.config import ClassifierTrainConfig
from ferkit.classifier.softlabels import apply_soft_labels, read_votes
from ferkit.classifier.splits import EncodedSplit, encode, load_split, stratified_holdout
from ferkit.datasets.fer2013 import FaceSet, load_faces, near_constant_mask
from ferkit.datasets.grouping import AUTO, IDENTITY, LabelGrouping, get_grouping
from ferkit.errors import DataError, SplitNotFoundError
from ferkit.imaging.sharpness import MISMATCH_RATIO, fit_blur_sigma

MIN_TO_SPLIT = 2  # faces a class needs for one to be held out as val


@dataclass
class TrainSplit:
    """The joined training images with hard targets, target distributions and the dataset of each image."""

    images: np.ndarray  # (N, S, S) uint8
    targets: np.ndarray  # (N,) class index
    soft: np.ndarray  # (N, K) float32 target distribution (one-hot unless soft labels were given)
    dataset: np.ndarray  # (N,) index into PreparedData.names
    sources: list[str]

    def subset(self, keep: np.ndarray) -> TrainSplit:
        """The images where the boolean mask ``keep`` is true."""
        sources = [s for s, k in zip(self.sources, keep, strict=True) if k]
        return TrainSplit(self.images[keep], self.targets[keep], self.soft[keep], self.dataset[keep], sources)


@dataclass
class PreparedData:
    train: TrainSplit
    vals: dict[str, EncodedSplit]  # dataset name -> its val split
    names: list[str]
    class_names: tuple[str, ...]
    grouping: LabelGrouping
    mean: float
    std: float
    blur_sigma: float
    blur_skip_below: float
    report: dict[str, Any] = field(default_factory=dict)


def dataset_names(paths: list[str]) -> list[str]:
    """A short, unique name per dataset: the folder name (or CSV stem), numbered when two are alike."""
    names: list[str] = []
    for p in paths:
        path = Path(p)
        base = (path.stem if path.suffix.lower() == ".csv" else path.resolve().name) or "data"
        name, k = base, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.append(name)
    return names


def _read_train(paths: list[str], config: ClassifierTrainConfig, size: int) -> list[FaceSet]:
    sets = []
    for p in paths:
        if not Path(p).exists():
            raise DataError(
                f"dataset not found: {p} (expected a FER2013 .csv or a folder ROOT/<split>/<class>/)"
            )
        sets.append(load_faces(p, config.train_split, size, config.skip_bad))
    return sets


def _encode_train(
    name: str, faces: FaceSet, grouping: LabelGrouping, config: ClassifierTrainConfig, report: dict, log
) -> EncodedSplit:
    try:
        split = encode(faces, grouping, config.drop_unmapped)
    except DataError as exc:
        raise DataError(f"dataset {name}: {exc}") from None
    report["dropped_unmapped"] = split.dropped_unmapped
    report["skipped_bad"] = list(faces.skipped)
    if faces.skipped:
        n = len(faces.skipped)
        log(f"{name}: skipped {n} bad file(s) or row(s) (--skip-bad), the first: {faces.skipped[0]}")
    if config.clean:
        blank = near_constant_mask(split.images, config.clean_threshold)
        report["dropped_blank"] = int(blank.sum())
        log(f"{name}: cleaning dropped {int(blank.sum())} blank/near-constant images of {len(blank)}")
        split = split.subset(~blank)
    return split


def _val_split(
    path: str,
    name: str,
    train: EncodedSplit,
    grouping: LabelGrouping,
    config: ClassifierTrainConfig,
    size: int,
    log,
) -> tuple[EncodedSplit, EncodedSplit, bool]:
    """(train, val, held out) of one dataset: its own val split, or a stratified hold-out of train when it
    has none."""
    try:
        val = load_split(path, config.val_split, grouping, size, config.drop_unmapped, config.skip_bad)
        if val.skipped:
            log(f"{name}: skipped {val.skipped} bad file(s) or row(s) of {config.val_split} (--skip-bad)")
        return train, val, False
    except SplitNotFoundError:
        pass
    counts = np.bincount(train.targets, minlength=len(grouping.classes))
    few = [f"{grouping.classes[c]} ({n})" for c, n in enumerate(counts) if 0 < n < MIN_TO_SPLIT]
    if few:
        raise DataError(
            f"dataset {name}: too few faces to hold some out for val in class(es) {', '.join(few)}: give at "
            f"least {MIN_TO_SPLIT} per class, or a '{config.val_split}' split of your own"
        )
    log(
        f"{name}: no '{config.val_split}' split: holding out {config.val_fraction:.0%} of each class as val "
        f"(stratified, seed {config.seed}; recorded in data_report.json)"
    )
    hold = stratified_holdout(train.targets, config.val_fraction, config.seed)
    return train.subset(~hold), train.subset(hold), True


def prepare_data(config: ClassifierTrainConfig, input_size: int, log=print) -> PreparedData:
    """Read every dataset of a run, map its labels onto one grouping, clean, split and join them."""
    names = dataset_names(config.data)
    faces = _read_train(config.data, config, input_size)
    grouping = get_grouping(config.grouping, labels=[x for f in faces for x in f.labels])
    if config.grouping == AUTO and grouping.name == IDENTITY:
        log(f"classes: {', '.join(grouping.classes)} (the data's own labels; --grouping maps them otherwise)")
    report: dict[str, Any] = {"datasets": {}}
    trains, vals = [], {}
    for path, name, fs in zip(config.data, names, faces, strict=True):
        rep: dict[str, Any] = {"path": path}
        tr = _encode_train(name, fs, grouping, config, rep, log)
        tr, va, held_out = _val_split(path, name, tr, grouping, config, input_size, log)
        rep.update(train=len(tr.targets), val=len(va.targets))
        if held_out:
            rep["val_held_out_of_train"] = list(va.sources)  # the split, reproducible from the seed
        report["datasets"][name] = rep
        trains.append(tr)
        vals[name] = va
    k = len(grouping.classes)
    targets = np.concatenate([t.targets for t in trains])
    train = TrainSplit(
        images=np.concatenate([t.images for t in trains]),
        targets=targets,
        soft=np.eye(k, dtype=np.float32)[targets],
        dataset=np.concatenate([np.full(len(t.targets), i) for i, t in enumerate(trains)]),
        sources=[s for t in trains for s in t.sources],
    )
    if config.soft_labels:
        train = _with_soft_labels(train, config, grouping, report, log)
    missing = sorted(set(range(k)) - set(np.unique(train.targets).tolist()))
    if missing:
        names_ = ", ".join(grouping.classes[i] for i in missing)
        raise DataError(f"no training images for class(es) {names_} of grouping {grouping.name!r}")
    mean = float(train.images.mean() / 255.0)
    std = float(train.images.std() / 255.0) or 1.0
    all_val = np.concatenate([v.images for v in vals.values()])
    sigma, sharp = fit_blur_sigma(train.images, all_val)
    if config.input_blur == "none":
        sigma = 0.0
    elif config.input_blur != "auto":
        sigma = float(config.input_blur)
    log(
        f"sharpness (median Laplacian variance): train {sharp['train_sharpness']:.1f}, "
        f"val {sharp['reference_sharpness']:.1f}: "
        + (
            f"inputs get a Gaussian blur of sigma {sigma:g} px (stored in the checkpoint)"
            if sigma
            else "no mismatch, no input blur"
        )
    )
    skip_below = MISMATCH_RATIO * sharp["train_sharpness"]
    report["sharpness"] = {**sharp, "sigma": sigma, "skip_below": skip_below}
    report.update(
        train=len(train.targets),
        val=int(sum(len(v.targets) for v in vals.values())),
        train_counts=np.bincount(train.targets, minlength=k).tolist(),
    )
    return PreparedData(train, vals, names, grouping.classes, grouping, mean, std, sigma, skip_below, report)


def _with_soft_labels(
    train: TrainSplit, config: ClassifierTrainConfig, grouping: LabelGrouping, report: dict, log
) -> TrainSplit:
    rules = {
        "contempt": config.soft_contempt,
        "unknown": config.soft_unknown,
        "not_face": config.soft_not_face,
    }
    votes = read_votes(config.soft_labels, grouping, rules)
    soft, keep, matched = apply_soft_labels(train.sources, train.soft, votes, config.soft_mix)
    if matched == 0:
        raise DataError(
            f"{config.soft_labels}: no file name matches a training image (names are relative to the vote "
            f"file's folder, e.g. train/<class>/<name>.jpg)"
        )
    report["soft_labels"] = {"matched": matched, "dropped": votes.dropped, "kept": int(keep.sum())}
    log(
        f"soft labels: {matched} of {len(keep)} training images have votes; dropped "
        + (", ".join(f"{n} {lab}" for lab, n in votes.dropped.items()) or "none")
    )
    return dataclasses.replace(train, soft=soft).subset(keep)
