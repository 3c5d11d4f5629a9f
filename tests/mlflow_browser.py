"""Look at the MLflow UI in a real browser: serve a store with `mlflow ui`, open the experiments page
and each source's runs page in headless Chromium, save screenshots and return each page's DOM.

    python tests/mlflow_browser.py .demo/mlflow.db /tmp/shots   # after `make demo`

Used by tests/test_mlflow_view.py (skipped where Chromium is missing: `apt-get install chromium`).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

WINDOW = "1600,1000"


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mlflow_ui(store: Path, timeout: float = 180.0):
    """`mlflow ui` on ``store`` (one worker) at a free port; yields its base URL, stops it after."""
    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", f"sqlite:///{Path(store).resolve()}"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow ui did not start on {url}") from None
                time.sleep(1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def browse(url: str, screenshot: Path | None = None, budget_ms: int = 20000) -> str:
    """The page's DOM after its scripts ran (and a screenshot when asked), in headless Chromium."""
    base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    base += [f"--window-size={WINDOW}", f"--virtual-time-budget={budget_ms}"]
    if screenshot is not None:
        subprocess.run([*base, f"--screenshot={screenshot}", url], capture_output=True, timeout=300, check=True)
    out = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=300, check=True)
    return out.stdout


def look(store: Path, out_dir: Path) -> dict[str, str]:
    """Screenshots of the experiments page and of each experiment's runs page into ``out_dir``;
    returns {page: DOM}."""
    from mlflow.tracking import MlflowClient

    out_dir.mkdir(parents=True, exist_ok=True)
    experiments = MlflowClient(f"sqlite:///{Path(store).resolve()}").search_experiments()
    pages = {"experiments": "#/experiments"}
    pages |= {f"runs-{e.name}": f"#/experiments/{e.experiment_id}/runs" for e in experiments if e.name != "Default"}
    with mlflow_ui(store) as url:
        return {name: browse(f"{url}/{path}", out_dir / f"{name}.png") for name, path in pages.items()}


if __name__ == "__main__":
    if len(sys.argv) != 3 or chromium() is None:
        sys.exit("usage: python tests/mlflow_browser.py STORE.db OUT_DIR  (needs chromium: apt-get install chromium)")
    for page in look(Path(sys.argv[1]), Path(sys.argv[2])):
        print(Path(sys.argv[2]) / f"{page}.png")
