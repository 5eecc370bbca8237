"""The exported SavedModel: signature, warmup file, and parity in a fresh process."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from serving import export, warmup
from tests.components.test_trainer_input import write_toy_transform

REPO = Path(__file__).resolve().parents[2]
TEXTS = ["abc", "FED cab", "aaaaaaaaaaaaaaaaaaaaaa", "", "xyz"]  # case, space, truncation, empty, OOV


def test_warmup_record_is_a_prediction_log(tmp_path):
    record = warmup.warmup_record(["hi", "there"], model_name="dates")
    # PredictionLog.predict_log (6) -> PredictLog.request (1) -> PredictRequest
    assert record[0] == (6 << 3) | 2
    assert b"serving_default" in record and b"dates" in record and b"text" in record
    tensor = tf.make_tensor_proto(["hi", "there"], dtype=tf.string).SerializeToString()
    assert tensor in record
    path = warmup.write_warmup(tmp_path, ["hi"])
    assert [r.numpy() for r in tf.data.TFRecordDataset(str(path))] == [warmup.warmup_record(["hi"])]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    registry = pytest.importorskip("models.registry")
    decoding = pytest.importorskip("models.decoding")
    from serving.text_processor import TextProcessor

    root = tmp_path_factory.mktemp("export")
    transform = write_toy_transform(root / "transform", {"train": 8, "eval": 8, "test": 8})
    model = registry.build_model("rnn_attention", source_vocab_size=10, target_vocab_size=10,
                                 embed_dim=8, units=16, cell="gru", encoder_layers=1,
                                 bidirectional=True, attention_units=8, dropout=0.0)
    model((tf.constant([[4, 5, 6]]), tf.constant([[2, 4, 5]])))  # build
    strategy = decoding.BeamSearch(4, length_penalty=0.6)
    export_dir = export.export_translation(model, transform, root / "1", 10, strategy)

    source = TextProcessor.from_manifest(transform, "source")
    target = TextProcessor.from_manifest(transform, "target")
    ids = source.encode(tf.constant(TEXTS)).to_tensor(default_value=0)
    out = decoding.decode_seq2seq(model, tf.cast(ids, tf.int32), strategy, 10)
    expected = {
        "translation": [t.decode() for t in target.decode(out["tokens"][:, 0]).numpy()],
        "score": np.asarray(out["scores"][:, 0], dtype="float32").tolist(),
        "log_probability": np.asarray(out["log_probs"][:, 0], dtype="float32").tolist(),
        "n_best": [[t.decode() for t in target.decode(out_k).numpy()] for out_k in tf.unstack(
            decoding.decode_seq2seq(model, tf.cast(ids, tf.int32), decoding.BeamSearch(4, 0.6, num_results=4),
                                    10)["tokens"], axis=1)],
        "attention": np.asarray(out["extras"][:, 0]),
        "tokens": out["tokens"][:, 0].numpy(),
    }
    return export_dir, expected


def test_translate_signature_gives_the_n_best_and_align_the_attention_of_the_best(exported):
    export_dir, expected = exported
    loaded = tf.saved_model.load(str(export_dir))
    n_best = loaded.signatures["translate"](text=tf.constant(TEXTS))
    assert n_best["translations"].shape == (len(TEXTS), 4)
    got = [[t.decode() for t in row] for row in tf.transpose(n_best["translations"]).numpy()]
    assert got == expected["n_best"]
    assert [row[0].decode() for row in n_best["translations"].numpy()] == expected["translation"]
    scores = n_best["scores"].numpy()
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    np.testing.assert_allclose(scores[:, 0], expected["score"], rtol=1e-5, atol=1e-5)
    aligned = loaded.signatures["align"](text=tf.constant(TEXTS))
    attention = aligned["attention"].numpy()
    np.testing.assert_allclose(attention, expected["attention"], atol=1e-5)
    ids = expected["tokens"]
    assert [[w.decode() for w, i in zip(row, id_row) if i] for row, id_row in zip(aligned["tokens"].numpy(), ids)] \
        and all(w == b"" for row, id_row in zip(aligned["tokens"].numpy(), ids) for w, i in zip(row, id_row) if not i)
    source_tokens = aligned["source_tokens"].numpy()
    assert source_tokens.shape == attention.shape[::2][:1] + attention.shape[2:]
    for row, tokens in zip(attention, source_tokens):  # no weight on source padding; emitted rows sum to 1
        assert np.all(row[:, tokens == b""] == 0)


def test_export_layout_and_signature(exported):
    export_dir, _ = exported
    assert (export_dir / "saved_model.pb").exists()
    assets = sorted(p.name for p in (export_dir / "assets").iterdir())
    assert assets and all(name.endswith(".txt") for name in assets)
    assert (export_dir / "assets.extra" / warmup.WARMUP_FILE).exists()
    fn = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    assert list(fn.structured_input_signature[1]) == ["text"]
    assert sorted(fn.structured_outputs) == ["log_probability", "score", "translation"]
    assert set(tf.saved_model.load(str(export_dir)).signatures) == {"serving_default", "translate", "align"}
    assert fn.structured_outputs["translation"].dtype == tf.string
    assert fn.structured_outputs["score"].dtype == tf.float32


def test_fresh_process_agrees_with_in_process_model(exported, tmp_path):
    export_dir, expected = exported
    # Vocab files must come from assets/, not from the transform artifact.
    script = textwrap.dedent(f"""
        import json, os
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        import tensorflow as tf
        import tensorflow_text  # noqa: F401
        fn = tf.saved_model.load({str(export_dir)!r}).signatures["serving_default"]
        out = fn(text=tf.constant({TEXTS!r}))
        print(json.dumps({{"translation": [t.decode() for t in out["translation"].numpy()],
                          "score": out["score"].numpy().tolist(),
                          "log_probability": out["log_probability"].numpy().tolist()}}))
    """)
    env = {"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3", "HOME": str(tmp_path)}
    vocab = export_dir.parent / "transform" / "vocab"
    vocab.rename(vocab.with_name("vocab.hidden"))
    try:
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              cwd=tmp_path, env=env, timeout=120)
    finally:
        vocab.with_name("vocab.hidden").rename(vocab)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["translation"] == expected["translation"]
    for key in ("score", "log_probability"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, atol=1e-4)


def test_predict_helper(exported):
    from serving.predict import predict

    export_dir, expected = exported
    result = predict(export_dir, TEXTS)
    assert [r["translation"] for r in result] == expected["translation"]
    assert predict(export_dir, []) == []
    with pytest.raises(ValueError, match="No SavedModel"):
        predict(export_dir / "missing", ["a"])
