"""The product wheel carries inkbridge and nothing of the vendor emulators, which are a
distribution of their own (``emulators/``) that only tests, benches and local runs install."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def build_wheel(into: Path) -> Path:
    """``pip wheel --no-deps .`` on a copy of the project files, so the build leaves nothing
    (``build/``, ``*.egg-info``) in the checkout."""
    project = into / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(
        ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            ".",
            "-w",
            str(into / "dist"),
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"the wheel could not be built here (no package index?): {done.stderr[-500:]}")
    (wheel,) = (into / "dist").glob("inkbridge-*.whl")
    return wheel


def test_the_product_wheel_carries_no_vendor_emulator(tmp_path: Path) -> None:
    names = zipfile.ZipFile(build_wheel(tmp_path)).namelist()

    top_level = {name.split("/")[0] for name in names}
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"inkbridge"}
    assert [n for n in names if "emulator" in n.lower()] == []
    # The built-in sandbox is product: it ships, as one package.
    assert "inkbridge/sandbox/provider.py" in names
    assert "inkbridge/sandbox/crm.py" in names
    assert not [n for n in names if n.startswith("inkbridge/web/sandbox")]
