"""The page of ``fer serve`` in a real browser: headless Chromium uploads docs/example.jpg."""

import os

import pytest
from tools.servedrive import (
    EXAMPLE,
    browser_available,
    headless_chromium,
    running_server,
    try_page,
    try_webcam,
)

from ferkit.serve.app import create_app
from ferkit.serve.config import ServeConfig

if not browser_available():
    if os.environ.get("CI"):  # .ci/run installs Chromium: there, a missing browser is a failure
        pytest.fail("Debian's chromium and chromium-driver are not installed", pytrace=False)
    pytest.skip("needs Debian's chromium and chromium-driver", allow_module_level=True)


def test_page_shows_labels_for_an_uploaded_photo(default_pipeline, tmp_path):
    with running_server(create_app(default_pipeline, ServeConfig())) as url, headless_chromium() as driver:
        shown = try_page(driver, url, EXAMPLE, tmp_path / "page.png")
    expected = default_pipeline.run(EXAMPLE)
    assert shown["status"].startswith("2 faces in 786x420")
    assert shown["emotions"] == [f.emotion for f in expected.faces]
    assert all(label.startswith(f"face {i}: ") for i, label in enumerate(shown["labels"]))
    assert shown["canvas"] == [786, 420]  # the photo was drawn, with the boxes over it
    assert (tmp_path / "page.png").read_bytes()[:4] == b"\x89PNG"


def test_webcam_sends_frames_and_shows_each_answer(default_pipeline):
    """Chromium's synthetic camera stands in for a webcam: frames go to /v1/detect and each answer shows."""
    with running_server(create_app(default_pipeline, ServeConfig())) as url, headless_chromium() as driver:
        statuses = try_webcam(driver, url, frames=3)
    assert len(statuses) == 3
    assert all(" in 640x480 (" in s for s in statuses), statuses


def test_a_failed_upload_clears_the_last_results_and_several_files_are_shown(default_pipeline, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with running_server(create_app(default_pipeline, ServeConfig())) as url, headless_chromium() as driver:
        shown = try_page(driver, url, EXAMPLE)
        assert shown["status"].startswith("2 faces")
        status, chooser = driver.find_element(By.ID, "status"), driver.find_element(By.ID, "file")
        driver.execute_script("arguments[0].value = ''", chooser)  # a new choice, not added to the last
        chooser.send_keys(str(bad))
        WebDriverWait(driver, 60).until(
            lambda d: "not an image" in status.text or "unrecognised" in status.text
        )
        assert driver.find_elements(By.CSS_SELECTOR, "#faces li") == []  # no stale results under the error
        assert driver.execute_script("return document.getElementById('view').width") == 0
        driver.execute_script("arguments[0].value = ''", chooser)
        chooser.send_keys(f"{EXAMPLE}\n{bad}")
        WebDriverWait(driver, 60).until(lambda d: "in 2 images" in status.text)
        assert status.text.startswith("2 faces in 2 images")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#faces li.face")) == 2
        assert "bad.jpg" in driver.find_element(By.CSS_SELECTOR, "#more .image").text  # its error, in place
