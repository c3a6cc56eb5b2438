"""Packaging: a wheel built from pyproject.toml installs the three commands.

Students get the checker without cloning: ``pip wheel .`` then
``pip install`` into a fresh virtual environment gives ``ktn-server``,
``ktn-client`` and ``ktn-check``, with no run-time dependency and without
the tests or the benchmark. The sources are copied to a temporary
directory first, so the build leaves nothing in the worktree.
"""

import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import venv
import zipfile

import pytest

from support import ROOT

pytestmark = pytest.mark.slow   # pip builds and installs a wheel

TIMEOUT = 180


def _run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, **kwargs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the venv's bin directory, the wheel's file names)."""
    tmp = tmp_path_factory.mktemp("wheel")
    target = tmp / "venv"
    try:
        # no pip inside: the outer pip installs into it (pip --python), which is fast
        venv.EnvBuilder(with_pip=False).create(target)
    except Exception as exc:   # e.g. no venv module on this Python
        pytest.skip("cannot create a virtual environment: %s" % exc)
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("chat", "reactor"):
        shutil.copytree(os.path.join(ROOT, name), src / name, ignore=ignore)
    shutil.copy(os.path.join(ROOT, "pyproject.toml"), src / "pyproject.toml")
    build = [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-w",
             str(tmp / "dist"), "--quiet"]
    if all(importlib.util.find_spec(m) is not None for m in ("setuptools", "wheel")):
        build.append("--no-build-isolation")   # else pip fetches setuptools from PyPI
    built = _run(build)
    assert built.returncode == 0, built.stderr
    wheel = glob.glob(str(tmp / "dist" / "ktn_chat-*.whl"))
    assert len(wheel) == 1, os.listdir(tmp / "dist")
    python = target / "bin" / "python"
    done = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                 "--no-index", "--quiet", wheel[0]])
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(wheel[0]) as archive:
        names = archive.namelist()
    return target / "bin", names


def test_ktn_check_help_runs_from_the_fresh_venv(installed, tmp_path):
    bindir, _ = installed
    proc = _run([str(bindir / "ktn-check"), "--help"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "usage: ktn-check" in proc.stdout
    assert "server" in proc.stdout and "client" in proc.stdout


def test_server_and_client_commands_are_installed(installed, tmp_path):
    bindir, _ = installed
    for command in ("ktn-server", "ktn-client"):
        proc = _run([str(bindir / command), "--help"], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "--port" in proc.stdout


def test_wheel_holds_the_runtime_packages_only(installed):
    _, names = installed
    tops = {name.split("/")[0] for name in names if not name.startswith("ktn_chat-")}
    assert tops == {"chat", "reactor"}, tops
    assert "chat/check/__main__.py" in names and "reactor/framing.py" in names
    for web_file in ("index.html", "app.js", "style.css"):   # the web client, no build step
        assert "chat/server/web/" + web_file in names
    metadata = [n for n in names if n.endswith("METADATA")]
    assert metadata
