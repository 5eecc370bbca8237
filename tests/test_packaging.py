"""The package `--setup_file` ships (Beam runs `python setup.py sdist`) builds, installs and finds its configs.

The sdist is built the way Beam's stager builds it, the wheel from that sdist (so the sdist is complete), and each
is installed with `--no-deps` into a fresh venv that sees this venv's site-packages through a `.pth` line (its
dependencies, but not its own editable seqlab: that venv's `.pth` files are not processed). Then `seqlab configs`
and `seqlab config quickstart` run from a folder outside the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("setup.py", "README.md", "pipeline", "components", "serving", "models", "configs")
CONFIG_NAMES = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))

pytestmark = pytest.mark.slow  # ~8-10 s: two builds, two venvs, two installs, four seqlab calls


def _run(args: list[str | Path], cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _fresh_venv(path: Path) -> Path:
    """A venv without pip whose site-packages also sees this venv's (dependencies only); returns its python."""
    venv.create(path, with_pip=False)
    python = path / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], path).strip())
    ours = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "seqlab_test_deps.pth").write_text("".join(f"{p}\n" for p in ours))
    return python


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    """{"sdist": seqlab-*.tar.gz, "wheel": seqlab-*.whl}, built from a copy of the source tree."""
    work = tmp_path_factory.mktemp("packaging")
    src = work / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    _run([sys.executable, "setup.py", "-q", "sdist", "--dist-dir", work / "dist"], src)
    (sdist,) = (work / "dist").glob("seqlab-*.tar.gz")
    with tarfile.open(sdist) as tar:
        tar.extractall(work / "unpacked")
    (unpacked,) = (work / "unpacked").iterdir()
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
          "--wheel-dir", work / "dist", unpacked], work)
    (wheel,) = (work / "dist").glob("seqlab-*.whl")
    return {"sdist": sdist, "wheel": wheel}


def test_the_wheel_holds_every_package_and_config(dists):
    names = set(zipfile.ZipFile(dists["wheel"]).namelist())
    packages = {str(p.relative_to(ROOT)) for layer in SOURCES[2:6] for p in (ROOT / layer).rglob("__init__.py")}
    assert packages - names == set()
    assert {f"pipeline/configs/{name}.yaml" for name in CONFIG_NAMES} <= names


@pytest.mark.parametrize("kind", ["sdist", "wheel"])
def test_an_installed_package_lists_and_loads_every_config(dists, kind, tmp_path):
    python = _fresh_venv(tmp_path / "venv")
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
          "--ignore-installed", dists[kind]], tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run([python, "-c", "import pipeline.config as c; print(c.__file__); print(c.CONFIG_DIR)"], elsewhere)
    assert all(line.startswith(str(tmp_path / "venv")) for line in where.split()), where
    seqlab = tmp_path / "venv" / "bin" / "seqlab"
    assert _run([seqlab, "configs"], elsewhere).split() == CONFIG_NAMES
    assert "model:" in _run([seqlab, "config", "quickstart"], elsewhere)
