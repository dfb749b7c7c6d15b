import os
import subprocess
import sys

from pxprofile import __version__
from pxprofile.cli import app


def test_version(runner):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"pxprofile {__version__}\n"


def test_python_dash_m(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "pxprofile", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"pxprofile {__version__}"


def test_path_honours_pxprofile_home(runner, env_setup):
    result = runner.invoke(app, ["path"])
    assert result.exit_code == 0
    assert result.stdout.strip() == str(env_setup)
    result = runner.invoke(app, ["path", "db"])
    assert result.stdout.strip() == str(env_setup / "pxprofile.db")
    result = runner.invoke(app, ["path", "profile", "--profile", "work"])
    assert result.stdout.strip() == str(env_setup / "profile-work.md")


def test_path_unknown_is_usage_error(runner):
    result = runner.invoke(app, ["path", "nope"])
    assert result.exit_code == 2
    assert "'nope' is not one of 'home'" in " ".join(result.stderr.replace("│", " ").split())


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys\n"
        "from pxprofile.cli import app\n"
        "try:\n    app(['--help'], prog_name='pxprofile')\nexcept SystemExit:\n    pass\n"
        "slow = ('llama_cpp', 'huggingface_hub', 'prompt_toolkit', 'numpy', 'sqlite_utils',\n"
        "        'pydantic')\n"
        "heavy = [m for m in slow if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stderr


def test_store_skips_numpy_but_leaves_it_importable(tmp_path):
    # store.py hides numpy from sqlite-utils (~0.1 s of start-up); numpy and llama_cpp, which
    # needs it, must still import afterwards in the same process
    code = (
        "import importlib.util, sys\n"
        "from pxprofile.store import open_db\n"
        "db = open_db(sys.argv[1])\n"
        "print('numpy' in sys.modules, 'pandas' in sys.modules)\n"
        "import numpy\n"
        "assert int(numpy.arange(4).sum()) == 6\n"
        "if importlib.util.find_spec('llama_cpp'):\n"
        "    import llama_cpp\n"
        "    assert llama_cpp.llama_cpp is not None\n"
        "db['t'].insert({'x': 1})\n"
        "print(db['t'].count)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "x.db")], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "False False\n1\n"


def test_error_is_one_line_without_traceback(tmp_path):
    not_a_db = tmp_path / "x.db"
    not_a_db.write_text("hello, not sqlite")
    env = {**os.environ, "PXPROFILE_HOME": str(tmp_path / "home")}
    out = subprocess.run(
        [sys.executable, "-m", "pxprofile", "stats", "--db", str(not_a_db)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 1
    assert out.stderr.startswith("Error: ")
    assert out.stderr.count("\n") == 1
    assert "Traceback" not in out.stderr
