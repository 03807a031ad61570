"""What the project's two distributions hold, seen from outside the checkout: no tracked
file names a path of the machine it was made on (so the README's commands work from a
clone anywhere), and the gateway's distribution installs into a fresh environment with
httpx alone, bringing nothing of the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

FILE_URL = "file" + "://"  # spelt in two parts, so that this file does not name one
SERVER_PACKAGES = {"core", "models", "features", "training", "simulator", "selector"}
SERVER_STACK = {"fastapi", "mlflow", "lightgbm", "pandas", "pyarrow", "uvicorn", "starlette"}


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    return [ROOT / name.decode() for name in listed if name]


def machine_paths() -> list[str]:
    """Absolute paths of this machine that a generated file could carry: the checkout,
    the folder it sits in, the home folder, the Python and the environment in use."""
    found = {str(ROOT), str(ROOT.parent), str(Path.home()), sys.prefix, sys.base_prefix}
    return [*sorted(p.rstrip("/") + "/" for p in found if len(p) > 1), str(ROOT)]


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_no_tracked_file_names_a_path_of_this_machine_or_a_file_url() -> None:
    needles = [FILE_URL, *machine_paths()]
    found = []
    for path in tracked_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary files: data, images
        found += [f"{path.relative_to(ROOT)}: {needle}" for needle in needles if needle in text]
    assert found == []


def test_the_lock_pins_neither_distribution_of_the_project() -> None:
    names = {
        tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]["name"]
        for folder in (".", "gateway")
    }
    assert names == {"model-selector-server", "model-selector-gateway"}
    pinned = {
        line.split("==")[0].split(" @ ")[0].strip()
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line and not line.startswith((" ", "#"))
    }
    assert pinned & names == set()


@pytest.mark.integration
def test_the_gateway_distribution_installs_alone_with_httpx(tmp_path: Path) -> None:
    venv = tmp_path / "gateway-env"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(ROOT / "gateway")],
        check=True,
        env=env,
        cwd=tmp_path,
    )
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        check=True,
        env=env,
        cwd=tmp_path,
    ).stdout
    installed = {p["name"].lower() for p in json.loads(listed)}
    assert "model-selector-gateway" in installed
    assert "httpx" in installed
    assert installed & SERVER_STACK == set()
    tops = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, json; print(json.dumps(sorted({f.parts[0] "
            "for d in m.distributions() for f in (d.files or ()) if len(f.parts) > 1 "
            "or f.suffix == '.py'})))",
        ],
        capture_output=True,
        check=True,
        env=env,
        cwd=tmp_path,
    ).stdout
    top_level = {name.removesuffix(".py") for name in json.loads(tops)}
    assert "model_selector_gateway" in top_level
    assert top_level & SERVER_PACKAGES == set()
    ran = subprocess.run(
        [str(python), "-c", "import model_selector_gateway as g; print(g.SelectorClient)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
