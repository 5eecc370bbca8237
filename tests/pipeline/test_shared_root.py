"""A run root is a local or shared POSIX path: a gs:// (or any URI) root fails in one line, writing nothing."""

from pathlib import Path

import pytest

from pipeline import cli
from pipeline.config import load_config
from pipeline.root_check import local_root

URIS = ["gs://bucket/runs", "s3://bucket/runs", "hdfs://namenode/runs", "file:///tmp/runs"]


@pytest.mark.parametrize("uri", URIS)
def test_seqlab_run_refuses_a_uri_root_in_one_line(uri, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "quickstart", "--root", uri]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"seqlab: error: --root {uri!r} is a {uri.split(':')[0]}:// URI")
    assert "shared POSIX filesystem" in err and "NFS" in err
    assert list(tmp_path.iterdir()) == []  # Path("gs://b/runs").resolve() would have made ./gs:/b/runs


def test_run_pipeline_refuses_a_uri_root(monkeypatch, tmp_path):
    from pipeline.runner import run_pipeline

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"--root 'gs://bucket/runs' is a gs:// URI"):
        run_pipeline(load_config(["quickstart"]), "gs://bucket/runs")
    assert list(tmp_path.iterdir()) == []


def test_local_and_mounted_paths_are_roots(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert local_root("seqlab_runs") == tmp_path / "seqlab_runs"
    assert local_root("/mnt/nfs/runs") == Path("/mnt/nfs/runs")
    assert local_root("runs:2024") == tmp_path / "runs:2024"  # a colon without // is a file name
