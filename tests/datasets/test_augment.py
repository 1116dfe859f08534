import os
import subprocess
import sys

import numpy as np
import pytest

from ferkit.datasets.augment import train_transform

# Imports ferkit's augmentation in a fresh interpreter with sockets refused; prints the attempts.
PROBE = """
import socket
tried = []
def refuse(*args, **kwargs):
    tried.append(args[:1])
    raise OSError("no network")
socket.getaddrinfo = refuse
socket.socket.connect = refuse
import os
import ferkit.datasets.augment
print(len(tried), "NO_ALBUMENTATIONS_UPDATE" in os.environ)
"""


def test_importing_augmentation_never_touches_the_network_nor_the_environment():
    env = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0 False", out.stderr  # no look-up, and the environment left as it was


@pytest.mark.parametrize(("size", "strength"), [(48, 1.0), (32, 0.6), (48, 0.0)])
def test_transform_keeps_size_and_dtype(size, strength):
    img = np.random.default_rng(0).integers(0, 256, (size, size), dtype=np.uint8)
    out = train_transform(size, strength)(image=img)["image"]
    assert out.shape == (size, size) and out.dtype == np.uint8
    if strength == 0.0:
        assert np.array_equal(out, img)
