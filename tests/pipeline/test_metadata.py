"""The SQLite metadata store records runs, executions, artifacts and lineage."""

from pipeline.metadata import MetadataStore


def test_lineage_follows_inputs(tmp_path):
    store = MetadataStore(tmp_path / "m.sqlite")
    run = store.start_run({"name": "t"})
    ex1 = store.start_execution(run, "example_gen", "f1")
    raw = store.record_artifact("example_gen", "f1", "/a/raw")
    store.link(ex1, raw, "output")
    store.finish_execution(ex1, "ran", 1.0)
    ex2 = store.start_execution(run, "transform", "f2")
    store.link(ex2, raw, "input")
    enc = store.record_artifact("transform", "f2", "/a/enc")
    store.link(ex2, enc, "output")
    store.finish_execution(ex2, "ran", 2.0)
    store.finish_run(run, "succeeded")

    chain = store.lineage(enc)
    assert [c["step"] for c in chain] == ["transform", "example_gen"]
    assert chain[0]["inputs"] == [raw]
    assert [e["status"] for e in store.executions(run)] == ["ran", "ran"]
    assert store.runs()[0]["status"] == "succeeded"
    store.close()


def test_store_persists_across_connections(tmp_path):
    path = tmp_path / "m.sqlite"
    store = MetadataStore(path)
    run = store.start_run({})
    store.close()
    again = MetadataStore(path)
    assert again.runs()[0]["id"] == run
    assert again.record_artifact("s", "f", "/u") == again.record_artifact("s", "f", "/u")
