"""What fingerprinting a step's input files costs, against the step that reads them (example_gen).

Side by side, alternating, in one process: example_gen alone on the source (read + split + Beam write),
the source digests with an empty digest cache (every file read and hashed: the first run, or a file
that changed) and with a warm one (size and mtime unchanged: a stat per file). Prints medians and
the ratios (example_gen + fingerprint) / example_gen, i.e. after / before this change.

    python benchmarks/fingerprint_cost.py --config imdb_rnn --set data.source=/work/shared/data/imdb/train.jsonl.gz
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import quiet  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.dag import STEPS  # noqa: E402
from pipeline.input_digest import digest_sources  # noqa: E402
from pipeline.metadata import MetadataStore  # noqa: E402
from components.step import StepContext  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="imdb_rnn")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    config = load_config([args.config], args.overrides)
    step = STEPS[0]
    sources = step.sources(config)
    quiet.import_tensorflow()
    import components.example_gen as example_gen

    work = Path(tempfile.mkdtemp())
    times: dict[str, list[float]] = {"example_gen": [], "digest_cold": [], "digest_warm": []}
    warm_store = MetadataStore(work / "warm.sqlite")
    digest_sources(sources, warm_store.known_digest, warm_store.save_digest, config.data.tfds_data_dir)
    for repeat in range(args.repeats):
        out = work / f"out-{repeat}"
        out.mkdir()
        ctx = StepContext(config=config, inputs={}, output_dir=out, root=work)
        started = time.perf_counter()
        example_gen.run(ctx)
        times["example_gen"].append(time.perf_counter() - started)
        shutil.rmtree(out)

        cold = MetadataStore(":memory:")
        started = time.perf_counter()
        digest_sources(sources, cold.known_digest, cold.save_digest, config.data.tfds_data_dir)
        times["digest_cold"].append(time.perf_counter() - started)
        cold.close()

        started = time.perf_counter()
        digest_sources(sources, warm_store.known_digest, warm_store.save_digest, config.data.tfds_data_dir)
        times["digest_warm"].append(time.perf_counter() - started)
    warm_store.close()
    shutil.rmtree(work)

    median = {k: statistics.median(v) for k, v in times.items()}
    size = sum(f.get("size", 0) for part in digest_sources(sources).values() for f in part.get("files", []))
    print(f"sources: {sources} ({size / 1e6:.1f} MB on disk); {args.repeats} repeats, medians:")
    for key, value in median.items():
        print(f"  {key:<12} {value * 1000:9.1f} ms   (min {min(times[key]) * 1000:.1f}, max {max(times[key]) * 1000:.1f})")
    base = median["example_gen"]
    print(f"ratio (example_gen + cold digest) / example_gen: {(base + median['digest_cold']) / base:.4f}")
    print(f"ratio (example_gen + warm digest) / example_gen: {(base + median['digest_warm']) / base:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
