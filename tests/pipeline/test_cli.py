"""The command line as a user meets it: --version, --help, the not-pushed line, predict's base path and stdin."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import cli

ROOT = Path(__file__).resolve().parents[2]


def test_version_prints_the_installed_version():
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", "--version"], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == f"seqlab {cli.version()}"
    assert cli.version()[0].isdigit()


def test_help_describes_every_subcommand_and_argument():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == set(cli.COMMANDS)
    for name, subparser in sub.choices.items():
        assert subparser.description, name
        for action in subparser._actions:
            assert action.help and len(action.help) > 10, (name, action.dest)
    assert all(choice.help for choice in sub._choices_actions)


def test_run_says_why_a_model_was_not_pushed(monkeypatch, capsys, tmp_path):
    import pipeline.runner

    summary = {"steps": [{"name": "pusher", "status": "ran", "seconds": 0.1}],
               "metrics": {"eval": {"exact_match": 0.41}}, "export_dir": None,
               "not_pushed": "exact_match 0.4100 < eval.bless_threshold 0.95"}
    monkeypatch.setattr(pipeline.runner, "run_pipeline", lambda *a, **k: summary)
    assert cli.main(["run", "--root", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "not pushed: exact_match 0.4100 < eval.bless_threshold 0.95" in lines
    assert not any(line.startswith("exported:") for line in lines)


def _version(base: Path, number: str) -> None:
    (base / number).mkdir(parents=True)
    (base / number / "saved_model.pb").write_bytes(b"")


def test_predict_takes_a_base_path_and_stdin(monkeypatch, capsys, tmp_path):
    import serving.predict
    from pipeline import quiet

    base = tmp_path / "serving" / "dates"
    for number in ("1", "2", "10"):
        _version(base, number)
    (base / ".11.incomplete").mkdir()  # a push in progress is never picked
    (base / "12").mkdir()  # nor a folder without a SavedModel
    calls = []
    monkeypatch.setattr(quiet, "import_tensorflow", lambda: None)
    monkeypatch.setattr(serving.predict, "predict",
                        lambda path, texts: calls.append((path, texts)) or [{"text": t} for t in texts])
    monkeypatch.setattr(sys, "stdin", io.StringIO("3 March 1998\r\nTuesday, March 3, 1998\n"))
    assert cli.main(["predict", str(base), "-"]) == 0
    assert calls == [(base / "10", ["3 March 1998", "Tuesday, March 3, 1998"])]
    assert [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()] == [
        "3 March 1998", "Tuesday, March 3, 1998"]


def test_predict_on_a_path_without_a_model_is_one_line(capsys, tmp_path):
    assert cli.main(["predict", str(tmp_path), "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("seqlab: error: No SavedModel found") and "\n" not in err


@pytest.mark.parametrize("line, noise", [
    ("I0000 00:00:1 port.cc:153] oneDNN custom operations are on. You may see slightly different", True),
    ("E0000 cuda_executor.cc:1228] failed call to cuInit: INTERNAL: CUDA error", True),
    ("W0000 cuda_dnn.cc] Unable to register cuDNN factory: Attempting to register factory", True),
    ("E0000 util.cc:131] oneDNN supports DT_BOOL only on platforms with AVX-512. Falling back to the default", True),
    ("ValueError: a real error", False),
])
def test_start_up_noise_is_recognised(line, noise):
    from pipeline import quiet

    assert bool(quiet.NOISE.search(line)) == noise
