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
    from collapse_guard import errors

    def subclasses(cls):
        return [cls, *(sub for child in cls.__subclasses__() for sub in subclasses(child))]

    own = {cls: cls.exit_code for cls in subclasses(errors.CollapseGuardError) if "exit_code" in vars(cls)}
    assert len(set(own.values())) == len(own)  # no two error classes share a code of their own
    assert set(own.values()) <= set(EXIT_CODES)  # and every code is documented
    assert errors.AlreadyIngested.exit_code == 13 and issubclass(errors.AlreadyIngested, errors.DataError)
    assert "key" in EXIT_CODES[11] and "bundle's own key" in EXIT_CODES[12]


def test_config_errors_exit_2_and_name_the_file(tmp_path):
    result = CliRunner().invoke(app, ["run", "--params", str(tmp_path / "missing.yaml"), "--json"])
    assert result.exit_code == 2
    assert "missing.yaml" in result.stdout


def test_an_ingest_tells_how_many_documents_it_has_screened():
    import pandas as pd

    from collapse_guard.cli.data import counted as _counted
    from collapse_guard.text.dedup import DedupSettings
    from collapse_guard.text.screening import hash_batches_here

    class Status:
        said: list[str] = []

        def update(self, message: str) -> None:
            self.said.append(message)

    status = Status()
    batches = [pd.DataFrame({"text": [f"document number {i} of {size}" for i in range(size)]}) for size in (10, 10, 5)]
    counted = list(_counted(hash_batches_here, status, "screening crawl.jsonl")(batches, DedupSettings(), None))
    assert [len(batch) for batch, _ in counted] == [10, 10, 5]
    assert status.said == [f"screening crawl.jsonl: {n} documents screened" for n in (10, 20, 25)]
    assert _counted(hash_batches_here, None, "quiet") is hash_batches_here  # --json or no terminal: no spinner


def test_importing_the_package_loads_no_heavy_library_until_the_api_is_used():
    code = (
        "import sys\n"
        "import collapse_guard\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
        "collapse_guard.Guard\n"
        "print('torch' in sys.modules, 'mlflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]"  # import collapse_guard: nothing heavy
    assert out[1] == "False False"  # Guard itself loads neither torch nor MLflow (its methods do, when called)


def test_printed_commands_work_from_the_folder_the_operator_is_in(tmp_path, monkeypatch):
    """A workspace in a subfolder: the hints name its params file and git -C into it; at home they stay short."""
    from collapse_guard.cli.workspace import commit_hint, from_here, params_flag
    from collapse_guard.modality.registry import load_params
    from tests.conftest import write_params

    workspace = tmp_path / "examples" / "text"
    workspace.mkdir(parents=True)
    params = load_params(write_params(workspace))
    monkeypatch.chdir(tmp_path)
    assert params_flag(params) == " --params examples/text/params.yaml"
    assert from_here(params.resolve("ledger/ledger.jsonl")) == "examples/text/ledger/ledger.jsonl"
    hint = commit_hint(["data/anchor/real.parquet.dvc"], params.workspace)
    assert hint.endswith("git -C examples/text add data/anchor/real.parquet.dvc && git -C examples/text commit")
    monkeypatch.chdir(workspace)
    assert params_flag(params) == "" and from_here(workspace) == "."
    assert "git add data/anchor/real.parquet.dvc && git commit" in commit_hint(
        ["data/anchor/real.parquet.dvc"], workspace
    )
