import subprocess
import sys

from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.errors import EXIT_CODES

HEAVY = ("prefect", "mlflow", "great_expectations", "evidently", "torch", "dvc", "pandas")


def test_help_explains_commands_and_exit_codes_without_importing_heavy_libraries():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from collapse_guard.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
        "print(result.output)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded, _, text = out.partition("\n")
    assert loaded == "[]"
    for command in ("init", "run", "ingest", "audit"):
        assert command in text
    assert "4 = gate blocked" in " ".join(text.split())


def test_exit_codes_are_distinct():
    assert len(set(EXIT_CODES)) == len(EXIT_CODES) == 11


def test_config_errors_exit_2_and_name_the_file(tmp_path):
    result = CliRunner().invoke(app, ["run", "--params", str(tmp_path / "missing.yaml"), "--json"])
    assert result.exit_code == 2
    assert "missing.yaml" in result.stdout
