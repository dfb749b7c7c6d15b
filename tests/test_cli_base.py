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
    assert "choose one of" in result.stderr


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys\n"
        "from pxprofile.cli import app\n"
        "try:\n    app(['--help'], prog_name='pxprofile')\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('llama_cpp', 'huggingface_hub', 'prompt_toolkit') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stderr


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
