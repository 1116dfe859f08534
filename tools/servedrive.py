"""Driving a running ``fer serve`` from outside, as a user or a browser would: start it as a subprocess,
post images over HTTP, open its page in headless Chromium (Debian's ``chromium`` and ``chromium-driver``).
Shared by the serve tests and the serve benchmarks; traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "example.jpg"  # a photo with two faces


def browser_available() -> bool:
    return Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()


@contextmanager
def running_server(app) -> Iterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1 in a background thread; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="ferkit-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def headless_chromium(width: int = 1100, height: int = 950):
    """A Selenium driver for Debian's headless Chromium, with a fresh profile and no background traffic."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="ferkit-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        # a synthetic camera (a moving test pattern) answers getUserMedia, without asking
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def try_page(driver, url: str, image: Path, screenshot: Path | None = None, timeout: float = 60) -> dict:
    """Open the page, choose ``image``, wait for the result; the labels shown, the status line, and the
    canvas size."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url + "/")
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return Object.keys(colours).length > 0"))
    driver.find_element(By.ID, "file").send_keys(str(Path(image).resolve()))
    WebDriverWait(driver, timeout).until(lambda d: " in " in d.find_element(By.ID, "status").text)
    faces = driver.find_elements(By.CSS_SELECTOR, "#faces li.face")
    result = {
        "status": driver.find_element(By.ID, "status").text,
        "emotions": [f.get_attribute("data-emotion") for f in faces],
        "labels": [f.find_element(By.CSS_SELECTOR, ".label").text for f in faces],
        "canvas": driver.execute_script(
            "const c = document.getElementById('view'); return [c.width, c.height];"
        ),
    }
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot))
    return result


def try_webcam(driver, url: str, frames: int = 3, timeout: float = 60) -> list[str]:
    """Start the page's webcam (Chromium's synthetic camera) and collect the status lines of the first
    ``frames`` answered frames."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url + "/")
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return Object.keys(colours).length > 0"))
    driver.find_element(By.ID, "camera").click()
    seen: list[str] = []

    def answered(d) -> bool:
        text = d.find_element(By.ID, "status").text
        if " in " in text and (not seen or seen[-1] != text):
            seen.append(text)
        return len(seen) >= frames

    WebDriverWait(driver, timeout, poll_frequency=0.05).until(answered)
    driver.find_element(By.ID, "camera").click()  # stop
    return seen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def fer_serve_process(*args: str, timeout: float = 120) -> Iterator[tuple[subprocess.Popen, str]]:
    """``fer serve --port P ARGS`` in a subprocess; yields (process, base URL) once /healthz answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "ferkit", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"fer serve exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("fer serve did not answer /healthz in time")
            time.sleep(0.2)
        yield proc, url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def post_image(url: str, data: bytes, name: str = "photo.jpg", timeout: float = 60) -> tuple[int, dict]:
    """POST an image file to /v1/detect as multipart form data; (status, JSON body)."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    req = urllib.request.Request(
        url + "/v1/detect", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
