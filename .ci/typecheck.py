"""Run mypy (strict, per pyproject) on the package as it is installed.

`strategies/` and `chaos/` are installed as `cachecheck.strategies` and `cachecheck.chaos` by a
setuptools package-dir mapping, which mypy cannot follow. Mirror the installed layout with
symlinks in a temporary directory and check `-p cachecheck` there; paths are mapped back.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"strategies": ROOT / "strategies", "chaos": ROOT / "chaos"}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="cachecheck-mypy-") as tmp:
        package = Path(tmp) / "cachecheck"
        package.mkdir()
        for entry in (ROOT / "cachecheck").iterdir():
            if entry.name != "__pycache__" and entry.name not in MAPPED:
                (package / entry.name).symlink_to(entry)
        for name, target in MAPPED.items():
            (package / name).symlink_to(target)
        result = subprocess.run(
            [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
             "--cache-dir", str(ROOT / ".mypy_cache"), "-p", "cachecheck"],
            cwd=tmp, capture_output=True, text=True,
        )  # fmt: skip
        output = result.stdout + result.stderr
        for name in MAPPED:
            output = output.replace(f"cachecheck/{name}/", f"{name}/")
        print(output, end="")
        return result.returncode


if __name__ == "__main__":
    sys.exit(main())
