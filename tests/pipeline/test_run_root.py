"""The run root under edits, concurrency, crashes and signals: fingerprints of inputs and code, the root
lock, leftovers of dead runs, summary.json from the start, SIGTERM, --no-cache, file modes."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from pipeline import dag, input_digest, lock, runner
from pipeline.config import load_config
from pipeline.metadata import MetadataStore

from tests.pipeline.test_runner import FakeComponents, statuses


@pytest.fixture
def fake(monkeypatch):
    components = FakeComponents()
    monkeypatch.setattr(runner, "_run_component", components)
    return components


def tsv_config(source, *more):
    return load_config(None, [f"data.source={source}", *more])


def write_pairs(path, n, start=0):
    path.write_text("".join(f"{i} March 1998\t1998-03-{i % 28 + 1:02d}\n" for i in range(start, start + n)))


# --- 1. fingerprints: every source's content and the code are in the key --------------------------------------

def test_editing_a_source_file_reruns_the_step_and_everything_after(tmp_path, fake):
    data = tmp_path / "pairs.tsv"
    write_pairs(data, 401)
    cfg = tsv_config(data)
    runner.run_pipeline(cfg, tmp_path / "root")
    fake.calls.clear()
    write_pairs(data, 100)  # cut from 401 to 100 lines
    summary = runner.run_pipeline(cfg, tmp_path / "root")
    assert fake.calls == list(dag.STEP_NAMES)
    assert set(statuses(summary).values()) == {"ran"}


def test_same_size_edit_and_touch(tmp_path, fake):
    data = tmp_path / "pairs.tsv"
    write_pairs(data, 50)
    cfg = tsv_config(data)
    runner.run_pipeline(cfg, tmp_path / "root", until="transform")
    fake.calls.clear()
    os.utime(data, ns=(time.time_ns(), time.time_ns() + 10**9))  # touched, content unchanged: still cached
    assert set(statuses(runner.run_pipeline(cfg, tmp_path / "root", until="transform")).values()) == {"cached"}
    text = data.read_text()
    data.write_text(text.replace("1998-03-01", "1998-03-09", 1))  # same size, other content
    runner.run_pipeline(cfg, tmp_path / "root", until="transform")
    assert fake.calls == ["example_gen", "statistics", "transform"]


def test_adding_or_removing_a_file_of_a_glob_reruns(tmp_path, fake):
    write_pairs(tmp_path / "a.tsv", 20)
    cfg = tsv_config(tmp_path / "*.tsv")
    root = tmp_path / "root"
    runner.run_pipeline(cfg, root, until="example_gen")
    write_pairs(tmp_path / "b.tsv", 20, start=20)
    assert statuses(runner.run_pipeline(cfg, root, until="example_gen")) == {"example_gen": "ran"}
    (tmp_path / "b.tsv").unlink()
    assert statuses(runner.run_pipeline(cfg, root, until="example_gen")) == {"example_gen": "cached"}


def test_eval_and_target_sources_are_in_the_key(tmp_path, fake):
    (tmp_path / "train.de").write_text("eins\nzwei\n")
    (tmp_path / "train.en").write_text("one\ntwo\n")
    cfg = load_config(None, [f"data.source={tmp_path / 'train.de'}", f"data.target_source={tmp_path / 'train.en'}"])
    root = tmp_path / "root"
    runner.run_pipeline(cfg, root, until="example_gen")
    (tmp_path / "train.en").write_text("one\n2\n")
    assert statuses(runner.run_pipeline(cfg, root, until="example_gen")) == {"example_gen": "ran"}


def test_a_library_upgrade_reruns_everything(tmp_path, fake, monkeypatch):
    cfg = load_config(None)
    runner.run_pipeline(cfg, tmp_path)
    real = input_digest.code_versions()
    assert {"seqlab", "tensorflow", "tensorflow-text", "keras", "apache-beam"} <= set(real)
    monkeypatch.setattr(dag, "code_versions", lambda: {**real, "keras": "99.0.0"})
    fake.calls.clear()
    runner.run_pipeline(cfg, tmp_path)
    assert fake.calls == list(dag.STEP_NAMES)


def test_unchanged_files_are_not_read_again(tmp_path, fake, monkeypatch):
    data = tmp_path / "pairs.tsv"
    write_pairs(data, 30)
    cfg = tsv_config(data)
    reads = []
    real = input_digest.file_sha256
    monkeypatch.setattr(input_digest, "file_sha256", lambda p: reads.append(p) or real(p))
    runner.run_pipeline(cfg, tmp_path / "root", until="example_gen")
    runner.run_pipeline(cfg, tmp_path / "root", until="example_gen")
    assert reads == [str(data)]  # the second run took the digest cached by (path, size, mtime_ns)


def test_tfds_source_fingerprint_follows_the_prepared_version(tmp_path):
    version_dir = tmp_path / "imdb_reviews" / "plain_text" / "1.0.0"
    version_dir.mkdir(parents=True)
    (version_dir / "dataset_info.json").write_text('{"version": "1.0.0"}')
    (version_dir / "imdb_reviews-train.tfrecord-00000-of-00001").write_bytes(b"x" * 10)
    first = input_digest.digest_uri("tfds:imdb_reviews", tfds_data_dir=str(tmp_path))
    assert [v["dir"] for v in first["versions"]] == [str(version_dir)]
    (version_dir / "imdb_reviews-train.tfrecord-00000-of-00001").write_bytes(b"x" * 11)
    assert input_digest.digest_uri("tfds:imdb_reviews", tfds_data_dir=str(tmp_path)) != first


def test_remote_uris_are_keyed_by_name_with_a_warning(caplog):
    assert input_digest.digest_uri("gs://bucket/data.tsv") == {"uri": "gs://bucket/data.tsv", "untracked": "remote"}
    assert "its content is not" in caplog.text


# --- 2. one run per root; cluster members do not lock each other out -------------------------------------------

def test_a_second_run_on_a_busy_root_fails_naming_the_holder(tmp_path, fake):
    with lock.RootLock(tmp_path):
        with pytest.raises(lock.RootBusyError, match=rf"in use by pid {os.getpid()} on .* --wait"):
            runner.run_pipeline(load_config(None), tmp_path)
    assert fake.calls == []


def test_wait_starts_when_the_holder_finishes(tmp_path, fake):
    acquired = threading.Event()

    def hold():
        with lock.RootLock(tmp_path):
            acquired.set()
            time.sleep(0.5)

    holder = threading.Thread(target=hold)
    holder.start()
    acquired.wait()
    started = time.monotonic()
    summary = runner.run_pipeline(load_config(None), tmp_path, until="example_gen", wait=None)
    holder.join()
    assert statuses(summary) == {"example_gen": "ran"} and time.monotonic() - started >= 0.4


def test_cluster_workers_do_not_take_the_chief_s_lock(tmp_path, monkeypatch):
    cluster = {"cluster": {"chief": ["h0:1"], "worker": ["h1:1", "h2:1"]}}
    with lock.RootLock(tmp_path):  # the chief
        for index in (0, 1):
            monkeypatch.setenv("TF_CONFIG", json.dumps({**cluster, "task": {"type": "worker", "index": index}}))
            with lock.RootLock(tmp_path) as worker:
                assert not worker.chief
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:1"]},
                                                "task": {"type": "worker", "index": 0}}))
    assert lock.is_chief()  # worker 0 is the chief of a cluster without one


def test_two_cli_runs_on_one_root(tmp_path):
    """A real second `seqlab run` while one holds the root: one line naming the holder, exit 2."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pipeline.lock import RootLock\n"
        f"l = RootLock({str(tmp_path)!r}); l.acquire(); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", "--root", str(tmp_path)],
                                capture_output=True, text=True)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"seqlab: error: Run root {tmp_path} is in use by pid {holder.pid} on {os.uname().nodename} since "
        + result.stderr.split(" since ")[1].split(" (")[0]
        + " (python -c). Wait for it to finish, use another --root, or pass --wait to start when it is done."]


# --- 7. leftovers of dead runs ---------------------------------------------------------------------------------

def test_dead_runs_are_marked_and_their_leftovers_removed(tmp_path, fake):
    store = MetadataStore(tmp_path / "metadata.sqlite")
    dead = store.start_run({"name": "killed"})
    store.start_execution(dead, "transform", "abc")
    store.close()
    orphans = [tmp_path / "artifacts" / "transform" / ".abc.incomplete",
               tmp_path / "artifacts" / "transform" / ".abc.old-0123abcd",
               tmp_path / "serving" / "dates" / (".tmp-" + "f" * 32)]
    for path in orphans:
        path.mkdir(parents=True)
    (tmp_path / ".summary.json.x1y2.tmp").write_text("{")
    resumable = tmp_path / "artifacts" / "trainer" / ".def.incomplete"
    (resumable / "checkpoints").mkdir(parents=True)
    (tmp_path / "serving" / "dates" / "1").mkdir()

    runner.run_pipeline(load_config(None), tmp_path, until="example_gen")

    assert not any(p.exists() for p in orphans) and not (tmp_path / ".summary.json.x1y2.tmp").exists()
    assert (resumable / "checkpoints").is_dir() and (tmp_path / "serving" / "dates" / "1").is_dir()
    store = MetadataStore(tmp_path / "metadata.sqlite")
    runs = {r["id"]: r["status"] for r in store.runs()}
    assert runs == {dead: "interrupted", dead + 1: "succeeded"}
    assert [e["status"] for e in store.executions(dead)] == ["interrupted"]


def test_summary_describes_the_running_run_from_its_start(tmp_path, fake, monkeypatch):
    runner.run_pipeline(load_config(None), tmp_path, until="example_gen")
    seen = {}

    def component(step, ctx):
        seen.update(json.loads((tmp_path / "summary.json").read_text()))
        return fake(step, ctx)

    monkeypatch.setattr(runner, "_run_component", component)
    runner.run_pipeline(load_config(None, ["data.seed=5"]), tmp_path, until="example_gen")
    assert seen["run_id"] == 2 and seen["status"] == "running" and seen["config"]["data"]["seed"] == 5


def test_sigterm_stops_the_run_cleanly(tmp_path, fake, monkeypatch):
    def component(step, ctx):
        fake(step, ctx)
        if step.name == "trainer":
            (ctx.output_dir / "checkpoint").write_text("epoch 1")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises before this returns
        return {"step": step.name}

    monkeypatch.setattr(runner, "_run_component", component)
    cfg = load_config(None)
    with pytest.raises(runner.RunInterrupted, match="SIGTERM"):
        runner.run_pipeline(cfg, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "interrupted" and statuses(summary)["trainer"] == "interrupted"
    store = MetadataStore(tmp_path / "metadata.sqlite")
    assert store.runs()[-1]["status"] == "interrupted"
    fp = runner.fingerprints(cfg)["trainer"]
    assert not runner.artifact_dir(tmp_path, "trainer", fp).exists()  # nothing published
    assert (tmp_path / "artifacts" / "trainer" / f".{fp}.incomplete" / "checkpoint").exists()  # resumable
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_no_cache_does_not_resume(tmp_path, fake, monkeypatch):
    cfg = load_config(None)
    fake.crash_in = "trainer"
    with pytest.raises(RuntimeError):
        runner.run_pipeline(cfg, tmp_path)
    fp = runner.fingerprints(cfg)["trainer"]
    leftover = tmp_path / "artifacts" / "trainer" / f".{fp}.incomplete" / "payload.txt"
    assert leftover.exists()
    found = []
    fake.crash_in = None
    real = runner._run_component

    def component(step, ctx):
        found.append((step.name, (ctx.output_dir / "payload.txt").exists()))
        return real(step, ctx)

    monkeypatch.setattr(runner, "_run_component", component)
    runner.run_pipeline(cfg, tmp_path, use_cache=False)
    assert ("trainer", False) in found


# --- 8. published files are readable by a server running as another user ---------------------------------------

def test_summary_is_world_readable(tmp_path, fake):
    old = os.umask(0o022)
    try:
        runner.run_pipeline(load_config(None), tmp_path, until="example_gen")
    finally:
        os.umask(old)
    assert (tmp_path / "summary.json").stat().st_mode & 0o777 == 0o644
