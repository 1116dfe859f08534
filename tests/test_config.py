"""PipelineConfig: the pipeline's options defined once, validated before anything loads, read by every
entry point (the CLI, fer serve, Ray) and by Pipeline.from_config."""

from __future__ import annotations

import inspect

import pytest

from ferkit.config import PIPELINE, DrawStyle, PipelineConfig
from ferkit.errors import ConfigError
from ferkit.pipeline import Pipeline
from ferkit.serve.config import ServeConfig
from tests.helpers import fer


@pytest.mark.parametrize(
    ("options", "message"),
    [({"conf": 1.5}, "conf must be in"), ({"iou": 0}, "iou must be in"), ({"max_faces": 0}, "max_faces"),
     ({"margin": 3.0}, "margin must be between"), ({"batch_size": 0}, "batch_size"),
     ({"imgsz": "auto:900-400"}, "empty range"), ({"backend": "tensorrt"}, "unknown backend"),
     ({"precision": "int4"}, "unknown precision"), ({"classifier_weights": ()}, "at least one"),
     ({"min_face": -2}, "min_face"), ({"prior": "flat"}, "unknown prior")],
)  # fmt: skip
def test_bad_values_are_refused_before_anything_loads(options, message):
    with pytest.raises(ConfigError, match=message):
        PipelineConfig(**options)


def test_values_are_normalised_once():
    c = PipelineConfig(classifier_weights="a.pt", detector_weights=None, imgsz="640")
    assert c.classifier_weights == ("a.pt",) and c.detector_weights == "default" and c.imgsz == 640
    assert c.models() == [("classifier", "a.pt"), ("detector", "default")]
    assert PipelineConfig(detect=False).models() == [("classifier", "default")]
    assert PipelineConfig(**c.to_dict()) == c
    assert PipelineConfig(emotions="Happy, sad,happy").emotions == ("happy", "sad")


def test_from_config_builds_what_it_says():
    config = PipelineConfig(device="cpu", conf=0.6, imgsz="auto", max_faces=1, backend="onnx")
    pipe = Pipeline.from_config(config)
    assert pipe.config is config
    settings = pipe.settings()
    assert (settings["conf"], settings["imgsz"], settings["max_faces"]) == (0.6, "auto", 1)
    assert settings["detector_backend"] == "onnx"
    assert len(pipe.run("docs/example.jpg").faces) == 1


def test_every_entry_point_reads_the_one_set_of_defaults():
    """The CLI's option defaults, fer serve's config and from_pretrained all come from PIPELINE."""
    from ferkit.cli.pipeline import detect_and_classify

    params = inspect.signature(detect_and_classify).parameters
    for name in ("conf", "iou", "batch_size", "backend", "precision", "device", "detector_weights"):
        assert params[name].default == getattr(PIPELINE, name), name
    assert params["imgsz"].default == str(PIPELINE.imgsz)
    assert ServeConfig().pipeline == PIPELINE
    assert inspect.signature(Pipeline.from_pretrained).parameters["device"].default == PIPELINE.device


def test_cli_refuses_bad_values_in_one_line():
    r = fer("detect-and-classify", "docs/example.jpg", "--batch-size", "0")
    assert r.exit_code == 1 and r.stderr.strip() == "error: --batch-size must be >= 1, got 0"


def test_the_pipeline_frames_faces_with_one_recipe():
    """--margin replaces only the margin of the classifier's crop recipe; the rest travels with it."""
    own = Pipeline.from_config(PipelineConfig(device="cpu"))
    pipe = Pipeline.from_config(PipelineConfig(device="cpu", margin=0.3))
    assert pipe.crop.margin == 0.3 and pipe.settings()["margin"] == 0.3
    assert pipe.crop.interpolation == own.crop.interpolation == own.classifier.crop.interpolation
    assert own.crop == own.classifier.crop


def test_option_errors_name_the_setting_in_python_and_the_flag_on_the_command_line():
    with pytest.raises(ConfigError) as err:
        DrawStyle(line_width=99)
    assert str(err.value) == "line_width must be between 1 and 50 pixels, got 99"
    assert err.value.option == "line_width"
    assert err.value.for_cli() == "--line-width must be between 1 and 50 pixels, got 99"
    assert ConfigError("plain words").for_cli() == "plain words"  # no setting named: as it is
