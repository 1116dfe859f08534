"""The options of classifier training, defined once: ``fer train-classifier`` reads its defaults from here."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ferkit.errors import ConfigError
from ferkit.imaging.recipe import CropRecipe

BALANCE_CHOICES = ("none", "oversample", "weighted-loss")
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "step", "none")
SELECT_CHOICES = ("mean", "pooled", "min")  # or the name of one data set
EXTRA_VOTE_CHOICES = ("drop", "ignore")  # or "map:<class>"

# what an option left unset (None) becomes: training from scratch, or fine-tuning from --init weights
# (chosen on the few-shot curve, docs/benchmarks.md "Fine-tuning on your own classes")
RECIPES: dict[str, dict[str, Any]] = {
    "scratch": {"epochs": 60, "lr": 0.05, "patience": 20, "backbone_lr": 1.0},
    "finetune": {"epochs": 30, "lr": 0.01, "patience": 10, "backbone_lr": 0.1},
}


@dataclass
class ClassifierTrainConfig:
    """Options of ``fer train-classifier``; saved as ``config.yaml`` in the run folder."""

    data: list[str] = field(default_factory=list)  # one or more datasets (CSV or ROOT/<split>/<class>/)
    data_weights: list[float] = field(default_factory=list)  # sampling weight per dataset; empty: all 1
    select: str = "mean"  # model selection on val: mean / pooled / min accuracy, or one dataset's name
    arch: str = "alexnet_s"
    init: str = ""  # start from these classifier weights ('default' or a path): fine-tuning
    input_size: int = 0  # 0: the architecture's default (48)
    crop_margin: float = CropRecipe().margin  # stored in the checkpoint: how the pipeline frames faces
    input_blur: str = "auto"  # auto: measure train-vs-val blur mismatch; none; or a Gaussian sigma
    grouping: str = "auto"  # fer7 for FER2013's seven labels, else the data's own classes
    train_split: str = "train"
    val_split: str = "val"
    val_fraction: float = 0.1  # held out of train when a dataset has no val split
    soft_labels: str = ""  # FER+-style vote file: file + one count column per label
    soft_mix: float = 1.0  # weight of the vote distribution against the image's own label
    soft_contempt: str = "ignore"  # votes of labels the grouping lacks: drop / ignore / map:<class>
    soft_unknown: str = "ignore"
    soft_not_face: str = "drop"
    teachers: list[str] = field(default_factory=list)  # checkpoints whose ensemble the student imitates
    distill_alpha: float = 0.5  # weight of the teachers' term in the loss
    distill_temperature: float = 2.0
    distill_online: bool = False  # teachers scored on each augmented batch, not once on the plain images
    epochs: int | None = None  # None: the recipe's (RECIPES: scratch, or finetune with --init)
    hours: float = 0.0  # > 0: a time budget; after the first epoch, epochs is cut to what fits in it
    session_hours: float = 0.0  # > 0: stop this invocation in time, schedule unchanged (--resume goes on)
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float | None = None  # None: the recipe's
    backbone_lr: float | None = None  # the backbone's learning rate as a share of lr (None: the recipe's)
    freeze: str = "none"  # none, backbone (a linear probe: only the head trains) or N first blocks
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup_epochs: int = 1
    label_smoothing: float = 0.1
    save_epochs: bool = False  # keep each epoch's validated weights in epochs/ (for fer average-classifiers)
    ema: float = 0.0  # > 0: validate and keep an exponential moving average of the weights (decay per step)
    balance: str = "none"
    clean: bool = True
    clean_threshold: float = 0.3
    augment: float = 1.0
    mixup: float = 0.0  # > 0: blend pairs of images and their targets, weight ~ Beta(mixup, mixup)
    cutmix: float = 0.0  # > 0: paste a box of another image, its area ~ Beta(cutmix, cutmix)
    drop_unmapped: bool = False
    skip_bad: bool = False
    patience: int | None = None  # None: the recipe's
    device: str = "auto"
    threads: int = 0  # torch CPU threads; 0 leaves torch's default
    amp: bool = True  # mixed precision: bfloat16 where computed natively (GPU or CPU), else float16 on CUDA
    seed: int = 0
    project: str = "runs/classifier"
    name: str = "train"

    def __post_init__(self) -> None:
        if isinstance(self.data, str):  # configs of earlier versions held one dataset
            self.data = [self.data]
        self.data = [str(d) for d in self.data]
        self.data_weights = [float(w) for w in self.data_weights]
        self.teachers = [str(t) for t in self.teachers]

    @property
    def recipe(self) -> str:
        return "finetune" if self.init else "scratch"

    def resolved(self) -> ClassifierTrainConfig:
        """A copy with every unset option (None) filled in from its recipe (:data:`RECIPES`)."""
        defaults = RECIPES[self.recipe]
        return replace(self, **{k: v for k, v in defaults.items() if getattr(self, k) is None})

    def validate(self) -> None:
        """Every value checked, before anything is read or made (the architecture's name is checked against
        the model registry by :func:`ferkit.classifier.train.fit`, which imports torch). Unset options are
        filled in from the recipe first (:meth:`resolved`)."""
        for k, v in RECIPES[self.recipe].items():
            if getattr(self, k) is None:
                setattr(self, k, v)
        CropRecipe(margin=self.crop_margin)
        if parse_freeze(self.freeze) != "none" and not self.init:
            raise ConfigError("freezes parts of the --init weights: give --init as well", option="freeze")
        if not self.data:
            raise ConfigError("is empty: give one or more datasets", option="data")
        if self.data_weights and len(self.data_weights) != len(self.data):
            raise ConfigError(
                f"has {len(self.data_weights)} value(s) for {len(self.data)} dataset(s): one per dataset, "
                "in the same order",
                option="data_weight",
            )
        if any(w < 0 for w in self.data_weights) or (self.data_weights and not any(self.data_weights)):
            raise ConfigError("values must be >= 0 and not all 0", option="data_weight")
        _choice("balance", self.balance, BALANCE_CHOICES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        for opt, v in (
            ("soft_contempt", self.soft_contempt),
            ("soft_unknown", self.soft_unknown),
            ("soft_not_face", self.soft_not_face),
        ):
            if v not in EXTRA_VOTE_CHOICES and not (v.startswith("map:") and len(v) > 4):
                raise ConfigError(f"must be drop, ignore or map:<class>, got {v!r}", option=opt)
        for opt, v, ok, rule in (
            ("soft_mix", self.soft_mix, 0 <= self.soft_mix <= 1, "in [0, 1]"),
            ("distill_alpha", self.distill_alpha, 0 <= self.distill_alpha <= 1, "in [0, 1]"),
            ("distill_temperature", self.distill_temperature, self.distill_temperature > 0, "> 0"),
            ("epochs", self.epochs, self.epochs >= 1, ">= 1"),
            ("batch_size", self.batch_size, self.batch_size >= 2, ">= 2"),
            ("lr", self.lr, self.lr > 0, "> 0"),
            ("backbone_lr", self.backbone_lr, 0 <= self.backbone_lr <= 1, "a share of lr in [0, 1]"),
            ("patience", self.patience, self.patience >= 1, ">= 1"),
            ("hours", self.hours, self.hours >= 0, ">= 0"),
            ("session_hours", self.session_hours, self.session_hours >= 0, ">= 0"),
            ("ema", self.ema, 0 <= self.ema < 1, "a decay in [0, 1) (0 turns it off)"),
            ("mixup", self.mixup, self.mixup >= 0, ">= 0 (0 turns it off)"),
            ("cutmix", self.cutmix, self.cutmix >= 0, ">= 0 (0 turns it off)"),
            ("label_smoothing", self.label_smoothing, 0 <= self.label_smoothing < 1, "in [0, 1)"),
            ("input_size", self.input_size, not self.input_size or 8 <= self.input_size <= 512, "8 to 512"),
        ):
            if not ok:
                raise ConfigError(f"must be {rule}, got {v}", option=opt)
        if self.distill_online and not self.teachers:
            raise ConfigError("needs one or more --teacher checkpoints", option="distill_online")
        if self.input_blur not in ("auto", "none"):
            try:
                if float(self.input_blur) < 0:
                    raise ValueError
            except ValueError:
                raise ConfigError(
                    f"must be auto, none or a sigma >= 0, got {self.input_blur!r}", option="input_blur"
                ) from None

    def with_absolute_paths(self) -> ClassifierTrainConfig:
        """A copy whose file paths are absolute, so that ``--resume`` works from any working directory."""

        def absolute(p: str) -> str:
            return str(Path(p).expanduser().resolve()) if p and Path(p).expanduser().exists() else p

        return replace(
            self,
            data=[absolute(d) for d in self.data],
            soft_labels=absolute(self.soft_labels),
            teachers=[absolute(t) for t in self.teachers],
            init=absolute(self.init),
            project=str(Path(self.project).expanduser().resolve()),
        )

    def weights(self) -> list[float]:
        """The sampling weight of each dataset (1 where none was given)."""
        return self.data_weights or [1.0] * len(self.data)

    def plain(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassifierTrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def parse_freeze(freeze: str) -> str | int:
    """``none``, ``backbone`` (a linear probe: only the head trains) or a number of blocks (ConfigError
    else)."""
    value = str(freeze).strip().lower()
    if value in ("none", "backbone"):
        return value
    if value.isdigit():
        return int(value)
    raise ConfigError(f"must be none, backbone or a number of blocks, got {freeze!r}", option="freeze")


def _choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"must be one of {', '.join(choices)}, got {value!r}", option=option)


DEFAULTS = ClassifierTrainConfig()
