"""The built-in classification, tagging, language-model and translation configs, run end to end on small data.

Each config runs every step in-process (example_gen -> ... -> pusher) at a tiny
size; then ONE fresh Python process loads every exported SavedModel and must
return the same labels/tags as the trained Keras model gives in this process
on the same raw strings (language models: the same `generate` text for a fixed
seed and the same `score`).
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.config import CONFIG_DIR, load_config
from pipeline.runner import run_pipeline

SMALL = ["data.num_examples=240", "train.epochs=1", "train.batch_size=32", "eval.bless_threshold=0.0",
         "model.embed_dim=8"]
CONFIGS = {
    "temporal_order": ["data.source=builtin:temporal_order?length=20", "model.units=16"],
    "date_validity": [],
    "date_tags": ["model.char_filters=8", "model.units=16", "train.monitor=val_entity_f1"],
    "dialogue_lm": ["train.sequence_length=32", "eval.bless_threshold=100", "eval.sample_tokens=20", "model.units=16"],
    "quickstart": ["eval.max_decode_length=12", "eval.num_attention_plots=1", "train.label_smoothing=0.1",
                   "train.warmup_steps=4"],
}
# date_validity runs as a Transformer: its file's model section (BiGRU keys a Transformer does not read, an
# error if set) is replaced, not overridden.
# quickstart runs as the Transformer encoder-decoder, its embeddings tied to the output layer.
MODELS = {"date_validity": {"family": "transformer_classifier", "pooling": "cls", "num_heads": 2, "ff_dim": 16},
          "quickstart": {"family": "transformer_seq2seq", "encoder_layers": 1, "decoder_layers": 1, "num_heads": 2,
                         "ff_dim": 16, "max_length": 64, "tie_output": True}}
TEXTS = {
    "temporal_order": ["B a X b c d Y a b c d a b c d a b c d E", "B Y", "", "z z z"],
    "date_validity": ["31 February 1998", "March 3, 2024", "", "Tuesday, 29 February 1900"],
    "date_tags": ["Tuesday, March 3, 1998", "3 mars", "", "03.03.1998"],
    "dialogue_lm": ["ROMEO:\n", "", "MARIA:\nWell, my lord"],
    "quickstart": ["March 3, 1998", "", "tuesday 29 feb 2000"],
}


def _config_file(name, folder):
    """The built-in config `name`, or a copy with its model section replaced by MODELS[name]."""
    if name not in MODELS:
        return name
    raw = yaml.safe_load((CONFIG_DIR / f"{name}.yaml").read_text())
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(dict(raw, model=MODELS[name])))
    return str(path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tasks")
    out = {}
    for name, extra in CONFIGS.items():
        config = load_config([_config_file(name, root)], SMALL + extra)
        out[name] = (config, run_pipeline(config, root / name), root / name)
    return out


def test_entity_f1_monitor_logs_the_evaluators_dev_f1(runs):
    """`train.monitor=val_entity_f1`: each epoch logs the dev entity F1 of Viterbi decoding, the figure the
    evaluator computes on the same split from the kept weights (one epoch here, so those weights)."""
    _, summary, _ = runs["date_tags"]
    trainer_dir = next(s["artifact"] for s in summary["steps"] if s["name"] == "trainer")
    history = json.loads((Path(trainer_dir) / "history.json").read_text())
    assert history["val_entity_f1"] == [pytest.approx(summary["metrics"]["eval"]["entity_f1"], abs=1e-9)]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_config_runs_every_step_and_pushes(runs, name):
    config, summary, _ = runs[name]
    assert {s["name"]: s["status"] for s in summary["steps"]} == dict.fromkeys(
        ["example_gen", "statistics", "transform", "trainer", "evaluator", "pusher"], "ran")
    if config.task == "language_model":
        for split in ("eval", "test"):
            metrics = summary["metrics"][split]
            assert 0.0 < metrics["nats_per_token"] < 5.0
            np.testing.assert_allclose(metrics["perplexity"], np.exp(metrics["nats_per_token"]), rtol=1e-6)
            np.testing.assert_allclose(metrics["bits_per_char"], metrics["nats_per_token"] / np.log(2), rtol=1e-6)
    elif config.task == "translation":
        for split in ("eval", "test"):
            assert 0.0 <= summary["metrics"][split]["bleu"] <= 100.0
    else:
        primary = "accuracy" if config.task == "classification" else "entity_f1"
        for split in ("eval", "test"):
            metrics = summary["metrics"][split]
            assert 0.0 <= metrics[primary] <= 1.0
            if config.task == "tagging":  # [UNK] words as the transform counted them; the two accuracies
                oov = metrics["oov_rate"]  # weigh up to the overall one
                transform_dir = Path(next(s["artifact"] for s in summary["steps"] if s["name"] == "transform"))
                manifest = json.loads((transform_dir / "manifest.json").read_text())
                assert 0.0 < oov == pytest.approx(manifest["splits"][split]["oov_rate"], abs=1e-9)
                np.testing.assert_allclose(
                    (1 - oov) * metrics["token_accuracy_in_vocab"] + oov * metrics["token_accuracy_oov"],
                    metrics["token_accuracy"], rtol=1e-9)
    assert summary["blessed"] and os.path.isdir(summary["export_dir"])
    evaluator_dir = next(s["outputs"] for s in summary["steps"] if s["name"] == "evaluator")
    assert evaluator_dir["blessed"]


@pytest.mark.slow
def test_exports_agree_with_in_process_models_in_a_fresh_process(runs, tmp_path):
    from serving.parity import keras_language_model_outputs, keras_predictions

    exports = {name: summary["export_dir"] for name, (_, summary, _) in runs.items()}
    script = textwrap.dedent(f"""
        import json
        from serving.parity import saved_language_model_outputs
        from serving.predict import predict
        texts = {TEXTS!r}
        print(json.dumps({{name: saved_language_model_outputs(path, texts[name]) if name.endswith("_lm")
                           else predict(path, texts[name]) for name, path in {exports!r}.items()}}))
    """)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    fresh = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, (config, _, run_root) in runs.items():
        rows = fresh[name]
        if config.task == "language_model":
            expected = keras_language_model_outputs(run_root, TEXTS[name])
            assert rows["text"] == expected["text"]
            np.testing.assert_allclose(rows["log_likelihood"], expected["log_likelihood"], rtol=1e-5, atol=1e-4)
            continue
        expected = keras_predictions(run_root, TEXTS[name])
        if config.task == "translation":
            assert [r["translation"] for r in rows] == expected
        elif config.task == "classification":
            assert [r["label"] for r in rows] == expected
            probabilities = np.array([r["probabilities"] for r in rows])
            np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
        else:
            assert [r["tags"] for r in rows] == expected
            tokens = [["Tuesday", ",", "March", "3", ",", "1998"], ["3", "mars"], [], ["03", ".", "03", ".", "1998"]]
            assert [r["tokens"] for r in rows] == tokens
            assert [r["length"] for r in rows] == [len(t) for t in tokens]


LOAD_TRAINED = textwrap.dedent("""
    import json, sys
    import numpy as np
    import keras
    import models  # the only seqlab import a user needs
    arrays = np.load(sys.argv[2])
    outputs = {}
    for name, path in json.loads(sys.argv[1]).items():
        model = keras.saving.load_model(path)  # compile=True: loss, optimizer and MaskedAccuracy too
        inputs = [arrays[f"{name}.{i}"] for i in range(len([k for k in arrays if k.startswith(name + ".")]))]
        out = model(tuple(inputs) if len(inputs) > 1 else inputs[0], training=False)
        outputs[name] = [keras.ops.convert_to_numpy(o).tolist() for o in keras.tree.flatten(out)]
    print(json.dumps({"backend": keras.backend.backend(), "components": "components" in sys.modules,
                      "outputs": outputs}))
""")


@pytest.mark.slow
def test_trained_models_load_after_import_models_alone_on_tensorflow_and_jax(runs, tmp_path):
    import keras

    from components.registry import get_task
    from serving.parity import run_artifacts

    paths, arrays, expected = {}, {}, {}
    for name, (config, _, run_root) in runs.items():
        _, trainer_dir, _ = run_artifacts(run_root)
        paths[name] = str(trainer_dir / "model.keras")
        inputs = keras.tree.flatten(get_task(config.task).dummy_inputs(config))
        for i, x in enumerate(inputs):
            arrays[f"{name}.{i}"] = keras.ops.convert_to_numpy(x)
        model = keras.saving.load_model(paths[name])
        out = model(tuple(inputs) if len(inputs) > 1 else inputs[0], training=False)
        expected[name] = [keras.ops.convert_to_numpy(o) for o in keras.tree.flatten(out)]
    np.savez(tmp_path / "inputs.npz", **arrays)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for backend in ("tensorflow", "jax"):
        env = dict(os.environ, KERAS_BACKEND=backend, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
        proc = subprocess.run([sys.executable, "-c", LOAD_TRAINED, json.dumps(paths), str(tmp_path / "inputs.npz")],
                              capture_output=True, text=True, env=env, cwd=root, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        assert report["backend"] == backend and not report["components"]
        for name, outputs in report["outputs"].items():
            assert len(outputs) == len(expected[name])
            for got, want in zip(outputs, expected[name]):
                np.testing.assert_allclose(np.array(got), want, rtol=1e-4, atol=1e-4, err_msg=f"{name} on {backend}")
