"""The wheel installs `cachecheck` (with `cachecheck.strategies` and `cachecheck.chaos`) and no
bare top-level `strategies` or `chaos` package."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("src")
    # Build from a copy so the checkout gets no build/ or egg-info litter.
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_file():
            target.write_bytes((ROOT / name).read_bytes())
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("pytest_cachecheck-*.whl")
    return built


@pytest.mark.slow
def test_wheel_has_only_the_cachecheck_top_level_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"cachecheck"}
    assert "cachecheck/strategies/__init__.py" in names
    assert "cachecheck/chaos/__init__.py" in names
    assert "cachecheck/py.typed" in names
    for package in ROOT.joinpath("cachecheck").rglob("__init__.py"):
        relative = package.relative_to(ROOT).as_posix()
        assert relative in names, f"{relative} is missing from the wheel (pyproject packages)"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[pytest11]" in text and "cachecheck = cachecheck.plugin" in text


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    installed = {p.name for p in Path(site).iterdir()}
    assert "cachecheck" in installed
    assert "strategies" not in installed and "chaos" not in installed
    # Dependencies come from this environment (appended after the fresh site-packages).
    env = dict(os.environ, PYTHONPATH="")
    code = (
        f"import sys; sys.path.append({sysconfig.get_paths()['purelib']!r});"
        "import cachecheck, cachecheck.strategies, cachecheck.chaos;"
        "print(cachecheck.__file__); print(cachecheck.strategies.__file__)"
    )
    result = subprocess.run(
        [str(python), "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path, env=env
    )
    for line in result.stdout.split():
        assert line.startswith(site), line
