"""report.html in a real headless browser (Debian chromium): it renders, with every plot,
offline. Skips when chromium is not installed (CI installs it: see .ci/run).

To look at it yourself: `CACHECHECK_SCREENSHOT_DIR=/tmp/shots pytest tests/report -k browser`
keeps the screenshot.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from sample_report import sample_report

from cachecheck._report import write_report

CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None
)
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--window-size=1280,2000",
)  # fmt: skip


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install -y chromium) - the HTML check needs "
    "a real browser",
)
def test_report_html_renders_in_headless_chromium(tmp_path: Path) -> None:
    """Chromium loads the page from disk with networking disabled and draws a full-size
    screenshot (a blank or failed page would be tiny)."""
    assert CHROMIUM is not None
    paths = write_report(sample_report(), tmp_path / "report")
    shot = tmp_path / "report.png"
    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={shot}", paths.html.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert shot.exists(), result.stderr[-2000:]
    width, height = _png_size(shot)
    assert (width, height) == (1280, 2000)
    assert shot.stat().st_size > 50_000, "the screenshot looks blank"
    keep = os.environ.get("CACHECHECK_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report.png")


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return int(width), int(height)
