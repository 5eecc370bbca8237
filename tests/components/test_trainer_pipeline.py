"""trainer -> evaluator -> pusher on the toy copy task, sharing one tiny training run."""

import dataclasses
import json

import pytest

pytest.importorskip("models.registry")
pytest.importorskip("models.decoding")

from components import evaluator, pusher, trainer  # noqa: E402
from pipeline.config import Config, EvalConfig, ModelConfig, PushConfig, TrainConfig  # noqa: E402
from components.step import StepContext  # noqa: E402
from tests.components.test_trainer_input import write_toy_transform  # noqa: E402

TINY = Config(
    model=ModelConfig(embed_dim=8, units=16, attention_units=8),
    train=TrainConfig(epochs=2, batch_size=32, patience=1, bucket_boundaries=(5,),
                      precision="float32", shuffle_buffer=256),
    eval=EvalConfig(max_decode_length=12, bless_threshold=0.0, num_attention_plots=2, batch_size=32),
    push=PushConfig(model_name="copy"),
)


def _ctx(tmp, name, inputs, config=TINY):
    out = tmp / "artifacts" / name
    out.mkdir(parents=True)
    return StepContext(config=config, inputs=inputs, output_dir=out, root=tmp)


@pytest.fixture(scope="module")
def run_root(tmp_path_factory):
    return tmp_path_factory.mktemp("run")


@pytest.fixture(scope="module")
def transform_dir(run_root):
    return write_toy_transform(run_root / "transform", {"train": 128, "eval": 32, "test": 16})


@pytest.fixture(scope="module")
def trained(run_root, transform_dir):
    ctx = _ctx(run_root, "trainer", {"transform": transform_dir})
    return ctx, trainer.run(ctx)


@pytest.fixture(scope="module")
def evaluated(run_root, transform_dir, trained):
    ctx = _ctx(run_root, "evaluator", {"transform": transform_dir, "trainer": trained[0].output_dir})
    return ctx, evaluator.run(ctx)


def test_trainer_writes_model_history_and_plot(trained):
    ctx, outputs = trained
    json.dumps(outputs)
    assert outputs["epochs_run"] == 2 and outputs["precision"] == "float32"
    assert outputs["params"] > 0 and outputs["seconds_per_epoch"] > 0
    history = json.loads((ctx.output_dir / "history.json").read_text())
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        assert len(history[key]) == 2, key
    assert outputs["best_val_loss"] == pytest.approx(min(history["val_loss"]))
    assert (ctx.output_dir / "model.keras").stat().st_size > 0
    assert (ctx.output_dir / "learning_curves.png").stat().st_size > 0
    assert not (ctx.output_dir / "checkpoints" / "backup").exists()  # removed after success


def test_evaluator_writes_metrics_predictions_plots_blessing(evaluated):
    ctx, outputs = evaluated
    json.dumps(outputs)
    metrics = json.loads((ctx.output_dir / "metrics.json").read_text())
    assert set(metrics) == {"eval", "test"} and metrics == outputs["metrics"]
    assert metrics["eval"]["num_examples"] == 32 and metrics["test"]["num_examples"] == 16
    assert 0.0 <= metrics["eval"]["exact_match"] <= 1.0 and metrics["eval"]["cer"] >= 0.0
    lines = (ctx.output_dir / "predictions_test.tsv").read_text().splitlines()
    assert lines[0] == "source\treference\tprediction" and len(lines) == 17
    assert all(line.split("\t")[0] == line.split("\t")[1] for line in lines[1:])  # copy task
    assert len(list((ctx.output_dir / "attention").glob("eval_*.png"))) == 2
    blessing = json.loads((ctx.output_dir / "blessing.json").read_text())
    assert blessing["blessed"] is True and outputs["blessed"] is True  # threshold 0.0
    assert blessing["metric"] == "exact_match"


def test_pusher_publishes_versions(run_root, transform_dir, trained, evaluated):
    inputs = {"transform": transform_dir, "trainer": trained[0].output_dir,
              "evaluator": evaluated[0].output_dir}
    first = pusher.run(_ctx(run_root, "pusher1", inputs))
    second = pusher.run(_ctx(run_root, "pusher2", inputs))
    assert (first["pushed"], first["version"], second["version"]) == (True, 1, 2)
    serving = run_root / "serving"
    assert (serving / "copy" / "2" / "saved_model.pb").exists()
    assert (serving / "copy" / "1" / "assets.extra" / "tf_serving_warmup_requests").exists()
    assert 'name: "copy"' in (serving / "models.config").read_text()

    from serving.predict import predict

    result = predict(second["export_dir"], ["abc", "fed"])
    assert [r["text"] for r in result] == ["abc", "fed"]
    assert all(isinstance(r["translation"], str) and isinstance(r["score"], float) for r in result)


def test_strict_threshold_blocks_push(run_root, transform_dir, trained):
    strict = dataclasses.replace(TINY, eval=dataclasses.replace(TINY.eval, bless_threshold=1.01))
    ctx = _ctx(run_root, "evaluator_strict",
               {"transform": transform_dir, "trainer": trained[0].output_dir}, strict)
    assert evaluator.run(ctx)["blessed"] is False
    result = pusher.run(_ctx(run_root, "pusher_strict", {"evaluator": ctx.output_dir}, strict))
    assert result["pushed"] is False


def _weights(trainer_dir):
    import keras

    return keras.saving.load_model(trainer_dir / "model.keras").get_weights()


@pytest.mark.parametrize("seed, same", [(TINY.train.seed, True), (TINY.train.seed + 1, False)])
def test_train_seed_reaches_every_random_choice(run_root, transform_dir, trained, seed, same):
    """A rerun of the seed trains bit-identical weights (initialization and shuffling seeded); another seed not."""
    config = dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, seed=seed))
    ctx = _ctx(run_root, f"trainer_seed{seed}", {"transform": transform_dir}, config)
    trainer.run(ctx)
    pairs = list(zip(_weights(trained[0].output_dir), _weights(ctx.output_dir)))
    assert all((a == b).all() for a, b in pairs) == same


def test_deterministic_turns_on_op_determinism(monkeypatch):
    """`train.deterministic` switches TensorFlow's op determinism on (a process-wide switch with no way
    back, so the call is recorded here rather than made)."""
    import tensorflow as tf

    from components.trainer.devices import seed_everything

    calls = []
    monkeypatch.setattr(tf.config.experimental, "enable_op_determinism", lambda: calls.append(1))
    seed_everything(3)
    seed_everything(3, deterministic=True)
    assert calls == [1]
