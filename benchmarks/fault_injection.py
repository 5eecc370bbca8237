"""Kill `seqlab run` with SIGKILL at seeded random moments in every step, rerun, and check nothing is lost.

A clean reference run first gives each step's duration (from the metadata store). Trial i picks step
i mod 6, starts `seqlab run` in a fresh root, waits until that step's temporary folder appears (the step
has started), then SIGKILLs the run after a uniform random fraction (seeded) of the step's reference
duration. Every other trainer trial instead waits for the backup of a random epoch (not the last) and
kills within 0.5 s of it, so that resuming is exercised whatever the machine's load (the first epoch,
with the model build and tracing, is most of a short trainer run). Then it checks:

- nothing half-written looks finished (`pipeline.root_check.problems(root, killed=True)`), and no
  partial SavedModel version is visible;
then reruns to completion and checks:
- the root is consistent (`problems(root)`: no run or execution left `running`, every recorded artifact
  finished, models.config true);
- example_gen's and transform's outputs hold the same records per split, counts and vocabularies as the
  clean run's (record order inside shards is Beam's choice, so contents are compared);
- the trainer resumed rather than restarted when it had a backup at the kill (its first epoch > 1);
- exactly one complete version is pushed.

    python benchmarks/fault_injection.py --trials 24 --seed 0 --work /tmp/fault_injection

The step that was really running at the kill (from the metadata store) is what the table counts; a kill
that lands after the run ended counts as "finished first".
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import root_check  # noqa: E402
from pipeline.dag import STEP_NAMES  # noqa: E402

EPOCHS = 3
ARGS = [
    "--set", "data.source=builtin:dates?n=600", "--set", "model.units=32", "--set", "model.embed_dim=16",
    "--set", "model.attention_units=16", "--set", f"train.epochs={EPOCHS}", "--set", "train.patience=5",
    "--set", "train.batch_size=32", "--set", "eval.bless_threshold=0.0", "--set", "eval.num_attention_plots=1",
]


def start(root: Path) -> tuple[subprocess.Popen, float]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("SEQLAB_FAULT", None)
    began = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", *ARGS, "--root", str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    return proc, began


def step_windows(root: Path, began: float) -> dict[str, tuple[float, float]]:
    """{step: (start, end)} seconds after process start, from the metadata store of one finished run."""
    db = sqlite3.connect(root / "metadata.sqlite")
    rows = db.execute("SELECT step, started, seconds FROM executions ORDER BY id").fetchall()
    db.close()
    return {step: (started - began, started - began + seconds) for step, started, seconds in rows}


def running_step(root: Path) -> str:
    path = root / "metadata.sqlite"
    if not path.exists():
        return "before example_gen"
    db = sqlite3.connect(path)
    row = db.execute("SELECT step FROM executions WHERE status = 'running' ORDER BY id DESC LIMIT 1").fetchone()
    last = db.execute("SELECT step FROM executions ORDER BY id DESC LIMIT 1").fetchone()
    db.close()
    if row:
        return row[0]
    return f"after {last[0]}" if last else "before example_gen"


def finished(root: Path, step: str) -> list[Path]:
    return [p for p in (root / "artifacts" / step).glob("*") if not p.name.startswith(".")]


def trainer_backup(root: Path) -> bool:
    """Whether the trainer's temp folder holds a finished epoch backup (the folder, or the old one kept
    for the instant of the swap); the early-stopping files alone are no backup."""
    trainer = root / "artifacts" / "trainer"
    patterns = (".*.incomplete/checkpoints/backup/*", ".*.incomplete/checkpoints/.backup.old/*")
    return any(p.is_file() for pattern in patterns for p in trainer.glob(pattern))


def wait_for_start(proc: subprocess.Popen, root: Path, step: str, timeout: float = 120.0) -> None:
    """Returns once `step`'s temporary folder exists (or the run ended)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if list((root / "artifacts" / step).glob(".*.incomplete")):
            return
        time.sleep(0.005)


def backed_up_epochs(root: Path) -> int:
    """The epoch count in the trainer's backup metadata (0 when there is none yet)."""
    for path in (root / "artifacts" / "trainer").glob(".*.incomplete/checkpoints/backup/training_metadata.json"):
        try:
            return int(json.loads(path.read_text())["epoch"])
        except (OSError, ValueError, KeyError):
            return 0
    return 0


def wait_for_backup(proc: subprocess.Popen, root: Path, epoch: int, timeout: float = 300.0) -> None:
    """Returns once the trainer has backed up `epoch` epochs (or the run ended)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and backed_up_epochs(root) < epoch:
        time.sleep(0.005)


def trial(index: int, rng: random.Random, windows, reference: dict[str, dict], work: Path) -> dict:
    target = STEP_NAMES[index % len(STEP_NAMES)]
    low, high = windows[target]
    delay = rng.uniform(0.0, high - low)
    root = work / f"trial-{index:02d}"
    shutil.rmtree(root, ignore_errors=True)
    proc, began = start(root)
    wait_for_start(proc, root, target)
    after = "after_step_start_s"
    if target == "trainer" and (index // len(STEP_NAMES)) % 2:  # every other trainer trial: after a backup
        epoch = rng.randint(1, EPOCHS - 1)  # the backup of a random epoch but the last, then within 0.5 s
        wait_for_backup(proc, root, epoch)
        delay, after = rng.uniform(0.0, 0.5), f"after_backup_of_epoch_{epoch}_s"
    time.sleep(delay)
    outcome = {"trial": index, "target": target, after: round(delay, 2), "at_s": round(time.time() - began, 2)}
    if proc.poll() is not None:
        outcome["killed_in"] = "finished first"
    else:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        outcome["killed_in"] = running_step(root)
    failures = [f"after kill: {p}" for p in root_check.problems(root, killed=True)]
    expect_resume = trainer_backup(root)
    rerun, _ = start(root)
    log, _ = rerun.communicate()
    if rerun.returncode != 0:
        failures.append(f"rerun exited {rerun.returncode}: {log[-500:]}")
    failures += [f"after rerun: {p}" for p in root_check.problems(root)]
    for step in ("example_gen", "transform"):
        got = finished(root, step)
        if len(got) != 1 or root_check.artifact_contents(got[0]) != reference[step]:
            failures.append(f"{step} outputs differ from the clean run's")
    epochs = [int(e) for e in re.findall(r"^Epoch (\d+)/", log, re.MULTILINE)]
    resumed = "[trainer] resuming from" in log and (not epochs or epochs[0] > 1)  # none left: all were done
    outcome["trainer"] = ("resumed" if resumed else "restarted") if expect_resume else \
        ("ran" if epochs else "cached")
    if expect_resume and outcome["trainer"] != "resumed":
        failures.append("the trainer had a backup but restarted")
    versions = sorted(p.name for p in (root / "serving" / "dates").iterdir() if p.name.isdigit())
    if versions != ["1"]:
        failures.append(f"serving versions {versions}, expected ['1']")
    outcome["failures"] = failures
    shutil.rmtree(root, ignore_errors=True)
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default="/tmp/fault_injection")
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    clean = work / "clean"
    proc, began = start(clean)
    log, _ = proc.communicate()
    if proc.returncode != 0:
        print(log[-3000:])
        return 1
    windows = step_windows(clean, began)
    reference = {step: root_check.artifact_contents(finished(clean, step)[0]) for step in ("example_gen", "transform")}
    print("reference step windows (s after start):", {k: (round(a, 1), round(b, 1)) for k, (a, b) in windows.items()})

    rng = random.Random(args.seed)
    outcomes = []
    for index in range(args.trials):
        outcome = trial(index, rng, windows, reference, work)
        outcomes.append(outcome)
        print(json.dumps(outcome), flush=True)

    by_step = collections.Counter(o["killed_in"] for o in outcomes)
    print("\n| killed in | trials | all checks passed |\n|---|---:|---:|")
    for name in sorted(by_step, key=lambda k: [*STEP_NAMES, k].index(k.split()[-1]) if k.split()[-1] in STEP_NAMES
                       else 99):
        ok = sum(1 for o in outcomes if o["killed_in"] == name and not o["failures"])
        print(f"| {name} | {by_step[name]} | {ok} |")
    trainer = collections.Counter(o["trainer"] for o in outcomes)
    failed = [o for o in outcomes if o["failures"]]
    print(f"\ntrainer on rerun: {dict(trainer)}; trials with a failed check: {len(failed)} of {len(outcomes)}")
    for o in failed:
        print(" ", o["trial"], o["killed_in"], o["failures"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
