"""The ultralytics adapter: offline, leaves the user's folders and environment alone, logs to stderr."""

import json
import os
import subprocess
import sys

import pytest
import torch

from ferkit.detector.architectures import resolve_model_spec
from ferkit.detector.yolo import amp_works, local_checks, ultralytics_module
from ferkit.errors import ConfigError

# Runs CODE in a fresh interpreter with sockets refused and empty home/config folders; prints what it
# tried and what it left behind as the last line of stdout (JSON).
PROBE = """
import json, os, socket, sys
tried = []
def refuse(*args, **kwargs):
    tried.append(str(args[:1]))
    raise OSError("no network")
socket.getaddrinfo = refuse
socket.socket.connect = refuse
socket.create_connection = refuse
{code}
left = sorted(str(p) for p in __import__("pathlib").Path(os.environ["HOME"]).rglob("*"))
env = [k for k in ("YOLO_OFFLINE", "YOLO_AUTOINSTALL", "NO_ALBUMENTATIONS_UPDATE") if k in os.environ]
print(json.dumps({{"tried": tried, "left": left, "env": env}}))
"""


def probe(tmp_path, code: str) -> tuple[dict, str, str]:
    home = tmp_path / "home"
    home.mkdir()
    drop = ("YOLO_OFFLINE", "YOLO_AUTOINSTALL", "NO_ALBUMENTATIONS_UPDATE", "YOLO_CONFIG_DIR")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env |= {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "MPLCONFIGDIR": str(tmp_path / "mpl"),
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code)], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    *before, last = out.stdout.strip().splitlines()
    return json.loads(last), "\n".join(before), out.stderr


@pytest.mark.parametrize("name", ["yolo11n.yaml", "yolov8n.yaml", "yolo11.yaml", "yolov8s-p2.yaml"])
def test_bundled_model_configs_are_accepted(tmp_path, name):
    assert resolve_model_spec(name, tmp_path) == name


def test_unknown_model_config_names_where_it_looked(tmp_path):
    with pytest.raises(ConfigError, match=r"yolo99z\.yaml.*cfg/models"):
        resolve_model_spec("yolo99z.yaml", tmp_path)


def test_resolving_model_names_touches_neither_network_nor_home(tmp_path):
    code = (
        "from pathlib import Path\nfrom ferkit.detector.architectures import resolve_model_spec\n"
        "for n in ('yolo11n.yaml', 'yolov8n.yaml'): resolve_model_spec(n, Path(sys.argv[0]).parent)\n"
        "assert 'ultralytics' not in sys.modules"
    )
    result, stdout, _ = probe(tmp_path, code)
    assert result == {"tried": [], "left": [], "env": []}
    assert stdout == ""


def test_library_imports_ultralytics_offline_and_restores_the_environment(tmp_path):
    code = (
        "from ferkit.detector.yolo import ultralytics_module\nultralytics_module()\n"
        "from ultralytics import utils\nassert utils.ONLINE is False and utils.AUTOINSTALL is False"
    )
    result, _, _ = probe(tmp_path, code)
    assert result["tried"] == [] and result["env"] == []
    assert not [p for p in result["left"] if p.endswith(".ttf")]  # no fonts put in the user's config


def test_cli_sends_ultralytics_logs_to_stderr(tmp_path):
    code = (
        "from ferkit.detector.yolo import ultralytics_module\n"
        "from ferkit.offline import send_logs_to_stderr\n"
        "from ferkit.offline import set_process_env\n"
        "set_process_env()\nsend_logs_to_stderr()\nultralytics_module()\n"
        "from ultralytics.utils import LOGGER\nLOGGER.warning('probe-warning')"
    )
    result, stdout, stderr = probe(tmp_path, code)
    assert "probe-warning" in stderr and "probe-warning" not in stdout
    assert sorted(result["env"]) == ["NO_ALBUMENTATIONS_UPDATE", "YOLO_AUTOINSTALL", "YOLO_OFFLINE"]


@pytest.mark.parametrize("amp", [True, False])
def test_training_checks_answer_locally_and_are_put_back(amp, no_network):
    ultralytics_module()  # imported the way ferkit imports it (offline), before the test's own imports
    import ultralytics.data.utils as data_utils
    from ultralytics.engine import trainer

    originals = (trainer.check_amp, data_utils.check_font)
    with local_checks(amp):
        assert trainer.check_amp(None) is amp
        font = data_utils.check_font("Arial.ttf")
        assert font is not None and font.is_file()
    assert (trainer.check_amp, data_utils.check_font) == originals
    assert no_network == []


def test_amp_is_off_on_cpu():
    assert amp_works(torch.device("cpu")) is False


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_amp_check_on_cuda_needs_no_download(no_network):
    assert amp_works(torch.device("cuda")) in (True, False) and no_network == []


def test_eval_detector_json_stdout_is_exactly_json(tiny_detector_run, tiny_yolo):
    args = ["eval-detector", "--weights", str(tiny_detector_run), "--data", str(tiny_yolo)]
    args += ["--imgsz", "64", "--device", "cpu", "--json"]
    out = subprocess.run([sys.executable, "-m", "ferkit", *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert list(json.loads(out.stdout)["splits"]) == ["val"]


def test_library_use_keeps_ultralytics_logs_visible(tmp_path):
    """Imported by the library, ultralytics logs where it always does (stdout), not into a hidden buffer."""
    code = (
        "from ferkit.detector.yolo import ultralytics_module\nultralytics_module()\n"
        "from ultralytics.utils import LOGGER\nLOGGER.warning('probe-warning')"
    )
    _, stdout, _ = probe(tmp_path, code)
    assert "probe-warning" in stdout


def test_importing_ultralytics_says_nothing_of_its_settings_file(tmp_path):
    """ultralytics announces the settings file it creates (in ferkit's private folder): not ferkit's news."""
    code = "from ferkit.detector.yolo import ultralytics_module\nultralytics_module()"
    _, stdout, stderr = probe(tmp_path, code)
    assert "Ultralytics Settings" not in stdout + stderr and "yolo settings" not in stdout + stderr


def test_hidden_records_are_only_those_naming_the_text(caplog):
    import logging

    from ferkit.offline import hide_records_naming

    log = logging.getLogger("ferkit-test-hide")
    with caplog.at_level(logging.INFO, logger="ferkit-test-hide"):
        with hide_records_naming("ferkit-test-hide", "/tmp/private-x"):
            log.info("saved to /tmp/private-x/model.onnx")
            log.info("ONNX: export success")
        log.info("after /tmp/private-x")
    assert [r.getMessage() for r in caplog.records] == ["ONNX: export success", "after /tmp/private-x"]


def test_redirected_logs_carry_no_colour_codes(monkeypatch):
    import io
    import logging

    import ferkit.offline as offline

    stream = io.StringIO()  # not a terminal
    handler = logging.StreamHandler(stream)
    log = logging.getLogger("ultralytics")
    log.addHandler(handler)
    monkeypatch.setattr(offline, "LOGS_TO_STDERR", True)
    monkeypatch.setattr("sys.stderr", stream)
    try:
        offline.adopt_log_handlers()
        log.warning("\x1b[34m\x1b[1mONNX:\x1b[0m starting export")
    finally:
        log.removeHandler(handler)
    written = stream.getvalue()  # ultralytics may add its own level prefix, once it has set itself up
    assert written.endswith("ONNX: starting export\n") and "\x1b" not in written


def test_the_trainer_loses_only_the_ray_tune_reporter():
    from types import SimpleNamespace

    from ultralytics.utils.callbacks import raytune

    from ferkit.detector.yolo import _without_tune_report

    def ours(trainer):
        return None

    hooks = [h for h in (getattr(raytune, "on_fit_epoch_end", None), ours) if h is not None]
    trainer = SimpleNamespace(callbacks={"on_fit_epoch_end": hooks})
    _without_tune_report(trainer)
    assert trainer.callbacks["on_fit_epoch_end"] == [ours]
