"""The dashboard in a real headless Chromium: every page renders, dataset text stays text.

Starts ``audit dashboard`` on a free local port against a store made by two real
``audit run`` runs (its dataset contains ``<img src=x onerror=alert(1)>`` as a
misclassified text), then opens each page with selenium and the system
chromedriver (never selenium-manager).  Screenshots go to a temporary folder and,
when ``SCREENSHOT_DIR`` is set, there too.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.fixtures_runs import XSS
from tests.test_dashboard_app import real_store  # noqa: F401  (session fixture shared with the AppTest suite)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PAGES = {  # url path -> page title
    "": "Runs",
    "failures": "Failures",
    "drivers": "Driver words",
    "pos_patterns": "POS patterns",
    "variants": "Adversarial variants",
    "explain": "Explain",
}
START_TIMEOUT_S = 45
PAGE_TIMEOUT_S = 60  # first loads import torch & co.; generous for a busy CI box

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.is_file() or not CHROMEDRIVER.is_file(),
                       reason="needs /usr/bin/chromium and /usr/bin/chromedriver (apt-get install chromium chromium-driver)"),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install -e .[dev])")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dashboard exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"dashboard not healthy after {START_TIMEOUT_S}s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def server(real_store: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # noqa: F811
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "audit", "dashboard", "--store", str(real_store["root"]), "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"},
        )
    try:
        wait_healthy(url, proc, log)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the CLI and the streamlit child it started
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1100",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()


def wait_rendered(driver: Any, title: str) -> None:
    """Wait until the script run has finished (stApp's script state) and the page's title is shown."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def done(d: Any) -> bool:
        apps = d.find_elements(By.CSS_SELECTOR, '[data-testid="stApp"]')
        if not apps or apps[0].get_attribute("data-test-script-state") != "notRunning":
            return False
        return any(title in e.text for e in d.find_elements(By.CSS_SELECTOR, "h1"))

    WebDriverWait(driver, PAGE_TIMEOUT_S, poll_frequency=0.3).until(done)
    time.sleep(0.5)  # let charts settle for the screenshot; the checks below do not depend on it


def screenshot(driver: Any, folder: Path, name: str) -> None:
    path = folder / f"dashboard-{name or 'runs'}.png"
    driver.save_screenshot(str(path))
    if os.environ.get("SCREENSHOT_DIR"):
        target = Path(os.environ["SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / path.name)


def test_every_page_renders_in_chromium(server: str, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    for path, title in PAGES.items():
        browser.get(f"{server}/{path}")
        wait_rendered(browser, title)
        screenshot(browser, tmp_path, path)
        errors = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
        assert not errors, f"{title}: {errors[0].text[:500]}"
        assert not browser.find_elements(By.CSS_SELECTOR, "img[onerror]"), title
        if path == "failures":
            shown = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".audit-text")]
            assert XSS in shown, shown  # the raw text, visible as text
            tokens = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".reat-token")]
            assert "<" in tokens and "img" in tokens  # its heatmap tokens too
        if path == "explain":  # the newest run's model is preselected: REAT heatmap of the example text
            assert browser.find_elements(By.CSS_SELECTOR, ".reat-heatmap .reat-token")
    assert len(list(tmp_path.glob("dashboard-*.png"))) == len(PAGES)


def deep_links(store: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    """name -> (url path with query, page title, text the view must show) for the real store's newest run."""
    from audit.store import RunStore

    run_id = store["runs"][-1]
    preds = RunStore(store["root"]).get(run_id).table("predictions")
    wrong = preds[~preds["correct"].astype(bool)].iloc[0]
    word = str(wrong["text"]).split()[0]
    example = f"{wrong['dataset']}:{int(wrong['example_id'])}"
    return {
        "runs": (f"?run={run_id}", "Runs", f"Run {run_id}: gate"),
        "failures-word": (f"failures?run={run_id}&word={quote(word)}&level=phrase", "Failures", word),
        "drivers-word": (f"drivers?run={run_id}&word={quote(word)}", "Driver words", f"Failures containing '{word}'"),
        "explain-example": (f"explain?run={run_id}&example={quote(example)}&method=reat,grad_input", "Explain",
                            str(wrong["text"])),
        "variants-example": (f"variants?run={run_id}&example={quote(example)}", "Adversarial variants",
                             f"variants of {example.replace(':', ' #')} only"),
        "pos-run": (f"pos_patterns?run={run_id}", "POS patterns", "Min. occurrences of a tag"),
    }


def test_every_deep_link_opens_its_view_in_chromium(server: str, browser: Any, tmp_path: Path,
                                                    real_store: dict[str, Any]) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    for name, (path, title, shown) in deep_links(real_store).items():
        browser.get(f"{server}/{path}")
        wait_rendered(browser, title)
        screenshot(browser, tmp_path, f"link-{name}")
        errors = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
        assert not errors, f"{name}: {errors[0].text[:500]}"
        fields = " ".join(str(e.get_attribute("value") or "") for e in browser.find_elements(
            By.CSS_SELECTOR, "input, textarea"))
        body = browser.find_element(By.TAG_NAME, "body").text
        assert shown in body or shown in fields, (name, shown)
        assert "run=" in browser.current_url, name  # the URL keeps (or rewrites) the selection
    assert len(list(tmp_path.glob("dashboard-link-*.png"))) == len(deep_links(real_store))
