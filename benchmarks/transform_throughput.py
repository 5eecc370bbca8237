"""Throughput and peak memory of example_gen + transform, against a plain Python loop.

Runs `components.example_gen.run` then `components.transform.run` (with a
`StepContext` from `pipeline.config.load_config(None, overrides)`) on the
in-process FnApiRunner (`in_process`), with `--direct_running_mode=multi_processing
--direct_num_workers=2` (`multi_processing_2`), through the PortableRunner and
Beam's local job service with 2 SDK worker processes from an EXTERNAL worker
pool (`portable_2`, `components.beam_utils.local_job_service`), and a
single-process reference that does the same work in plain Python
(`python_loop`): read the records, NFKC-normalize + lowercase + collapse
whitespace + split (chars or words), count the vocabulary on train, encode
every split and write gzip TFRecords with `tf.io.TFRecordWriter`.

Each mode runs in a fresh subprocess; its peak RSS is the largest sum of RSS
over the process tree (psutil, polled every 50 ms), so the SDK workers count
too. "MB" is the UTF-8 size of the records' text fields (counted in the parent).
`--repeat K` measures on K copies of the file (a temp dir, read as one glob).
For a file source, each mode also runs on the file's first 100 lines in a fresh
process ("start-up s": the fixed cost, SDK workers importing TensorFlow
included). The Beam modes' vocab files and record multisets (example_gen's and
transform's, per split) are digested after the timing and compared.

    python benchmarks/transform_throughput.py --data builtin:dates?n=20000
    python benchmarks/transform_throughput.py --data /work/shared/data/multi30k/train.de.gz \\
        --set data.target_source=/work/shared/data/multi30k/train.en.gz --set transform.tokenizer=word
    python benchmarks/transform_throughput.py --data /work/shared/data/imdb/train.jsonl.gz \\
        --task classification --set transform.tokenizer=word --repeat 10
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODES = {
    "in_process": [],
    "multi_processing_2": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    "portable_2": "EXTERNAL",  # PortableRunner + Beam's local job service, 2 SDK worker processes (worker pool)
    "python_loop": None,
}
TINY_LINES = 100  # lines of the data in the start-up input
_WHITESPACE = re.compile(r"\s+")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="data.source: a path, glob or builtin:... URI")
    parser.add_argument("--format", help="data.format (default: from the extension)")
    parser.add_argument("--task", help="config task, e.g. translation or classification")
    parser.add_argument("--limit", type=int, help="data.num_examples (read at most N records)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more config overrides")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {list(MODES)}")
    parser.add_argument("--repeat", type=int, default=1, metavar="K",
                        help="measure on K copies of the --data file (K files in a temp dir, read as one glob)")
    parser.add_argument("--no-startup", action="store_true",
                        help="skip the start-up runs (each mode on the first %d lines of the data)" % TINY_LINES)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run one mode and print its JSON
    parser.add_argument("--text-mb", type=float, help=argparse.SUPPRESS)  # internal: computed by the parent
    return parser.parse_args(argv)


def overrides_from(args: argparse.Namespace) -> list[str]:
    overrides = []
    if args.task:
        overrides.append(f"task={args.task}")
    overrides.append(f"data.source={args.data}")
    if args.format:
        overrides.append(f"data.format={args.format}")
    if args.limit:
        overrides.append(f"data.num_examples={args.limit}")
    return overrides + list(args.set)


def record_texts(record: Any) -> list[str]:
    """The text fields of a record as example_gen returns it (a tuple or a dict keyed by feature)."""
    values = [v for k, v in record.items() if k != "label"] if isinstance(record, dict) else record
    out = []
    for value in values:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, (list, tuple)):  # pre-tokenized fields (tagging)
            out.append(" ".join(v for v in value if isinstance(v, str)))
    return out


def python_tokenize(text: str, kind: str, lowercase: bool, normalization: str) -> list[str]:
    """Plain-Python twin of serving.text_processor.tokenize for char and whitespace-word tokenizers."""
    if normalization != "none":
        text = unicodedata.normalize(normalization, text)
    if lowercase:
        text = text.lower()
    text = _WHITESPACE.sub(" ", text).strip()
    return list(text) if kind == "char" else text.split()


def python_loop(config, output_dir: Path) -> dict[str, Any]:
    """The single-process reference: read, tokenize, count train vocab, encode, write gzip TFRecords."""
    import tensorflow as tf

    from serving import schema
    from components.example_gen.sources import load_source
    from components.example_gen.split import split_for

    t = config.transform
    records, _ = load_source(config.data, task=config.task)
    tokenized = []
    counts: list[collections.Counter] = []
    for record in records:
        texts = record_texts(record)
        tokens = [python_tokenize(x, t.tokenizer, t.lowercase, t.normalization) for x in texts]
        split = split_for(texts[0], config.data.eval_fraction, config.data.test_fraction)
        tokenized.append((split, texts, tokens))
        if split == "train":
            while len(counts) < len(tokens):
                counts.append(collections.Counter())
            for counter, toks in zip(counts, tokens):
                counter.update(toks)
    reserved = list(schema.RESERVED_TOKENS)
    vocabs = []
    for counter in counts:
        words = [w for w, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])) if n >= t.min_count]
        words = [w for w in words if w not in reserved][: t.max_vocab_size - len(reserved)]
        vocabs.append({w: i for i, w in enumerate(reserved + words)})
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    writers = {}
    for split in schema.SPLITS:
        (output_dir / split).mkdir(parents=True)
        writers[split] = tf.io.TFRecordWriter(str(output_dir / split / "data-00000-of-00001.tfrecord.gz"), options)
    for split, texts, tokens in tokenized:
        feature = {}
        for i, (text, toks) in enumerate(zip(texts, tokens)):
            ids = [vocabs[i].get(w, schema.UNK_ID) for w in toks][: t.max_source_length] if i < len(vocabs) else []
            feature[f"text_{i}"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode("utf-8")]))
            feature[f"ids_{i}"] = tf.train.Feature(int64_list=tf.train.Int64List(value=ids))
        writers[split].write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    for writer in writers.values():
        writer.close()
    return {"records": len(records), "vocab_sizes": [len(v) for v in vocabs]}


def text_megabytes(args: argparse.Namespace) -> float:
    """UTF-8 megabytes of the records' text fields (read here, in the parent, outside any measured process)."""
    from pipeline.config import load_config
    from components.example_gen.sources import load_source

    config = load_config(None, overrides_from(args))
    records, _ = load_source(config.data, task=config.task)
    return sum(len(x.encode("utf-8")) for r in records for x in record_texts(r)) / 1e6


def multiset_digest(paths: list[str]) -> str:
    """An order-free digest of the records in the gzip TFRecord files `paths` (sum of per-record SHA-256)."""
    import tensorflow as tf

    total, count = 0, 0
    for record in tf.data.TFRecordDataset(sorted(paths), "GZIP"):
        total = (total + int.from_bytes(hashlib.sha256(record.numpy()).digest(), "big")) % 2**256
        count += 1
    return f"{count}:{total:064x}"


def artifact_digest(raw: Path, encoded: Path) -> dict[str, Any]:
    """{"vocab/<file>": sha256, "<split>": record multiset digest, "raw/<split>": the same of example_gen's
    records} of an example_gen + transform run."""
    import tensorflow as tf

    from serving import schema

    out: dict[str, Any] = {f"vocab/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
                           for p in sorted((encoded / schema.VOCAB_DIR).iterdir())}
    for split in schema.SPLITS:
        out[split] = multiset_digest(tf.io.gfile.glob(schema.split_glob(encoded, split)))
        out[f"raw/{split}"] = multiset_digest(tf.io.gfile.glob(schema.split_glob(raw, split)))
    return out


def run_beam(config, root: Path, beam_args: list[str]) -> dict[str, Any]:
    """example_gen + transform with `beam_args`; timings, counts and the artifact's digest."""
    import components.example_gen as example_gen
    import components.transform as transform
    from components.step import StepContext

    start = time.perf_counter()
    raw, encoded = root / "example_gen", root / "transform"
    raw.mkdir()
    encoded.mkdir()
    example_gen.run(StepContext(config, {}, raw, root, beam_args))
    example_gen_s = time.perf_counter() - start
    outputs = transform.run(StepContext(config, {"example_gen": raw}, encoded, root, beam_args))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "example_gen_s": example_gen_s, "records": sum(outputs["counts"].values()),
            "vocab_sizes": outputs["vocab_sizes"], "digest": artifact_digest(raw, encoded),
            "files": file_counts(encoded)}


def file_counts(encoded: Path) -> dict[str, int]:
    """{split: number of TFRecord files the transform wrote} (`transform.num_shards=0`: the runner's bundles)."""
    import tensorflow as tf

    from serving import schema

    return {split: len(tf.io.gfile.glob(schema.split_glob(encoded, split))) for split in schema.SPLITS}


def run_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Runs one mode in this process; returns its timings (the digest is computed after the timing)."""
    from pipeline.config import load_config

    config = load_config(None, overrides_from(args))
    root = Path(tempfile.mkdtemp(prefix="transform_bench_"))
    try:
        if args.worker == "python_loop":
            start = time.perf_counter()
            out = python_loop(config, root / "python_loop")
            result = {"seconds": time.perf_counter() - start, "example_gen_s": None, "records": out["records"],
                      "vocab_sizes": out["vocab_sizes"], "digest": None}
        elif args.worker == "portable_2":
            from components.beam_utils import local_job_service

            start = time.perf_counter()  # the job service and the worker pool's start count
            with local_job_service(MODES["portable_2"], sdk_workers=2) as beam_args:
                result = run_beam(config, root, beam_args)
            result["seconds"] = time.perf_counter() - start
        else:
            result = run_beam(config, root, MODES[args.worker])
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)
    return {"mode": args.worker, "text_mb": args.text_mb or 0.0, **result}


def repeated_input(data: str, k: int, directory: Path) -> str:
    """K byte-for-byte copies of the file `data` as `directory/part-0000i<suffixes>`; returns their glob."""
    source = Path(data)
    if not source.is_file():
        raise ValueError(f"--repeat needs --data to be one file. Received: --data={data!r}")
    suffix = "".join(source.suffixes)
    for i in range(k):
        shutil.copyfile(source, directory / f"part-{i:05d}{suffix}")
    return str(directory / f"part-*{suffix}")


def tiny_input(data: str, directory: Path) -> str:
    """The first TINY_LINES lines of the file `data`, same format (gzip kept), for the start-up runs."""
    source = Path(data)
    suffix = "".join(source.suffixes)
    opener = gzip.open if data.endswith(".gz") else open
    with opener(source, "rb") as f:
        head = b"".join(line for _, line in zip(range(TINY_LINES), f))
    with opener(directory / f"tiny{suffix}", "wb") as f:
        f.write(head)
    return str(directory / f"tiny{suffix}")


def with_data(argv: list[str], data: str, text_mb: float) -> list[str]:
    """`argv` with --data replaced, --repeat dropped and --text-mb given (for a worker)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--data", "--repeat"):
            skip = True
            continue
        if arg.startswith(("--data=", "--repeat=")):
            continue
        out.append(arg)
    return out + ["--data", data, "--text-mb", str(text_mb)]


def run_mode(mode: str, argv: list[str]) -> dict[str, Any]:
    """Runs `mode` in a subprocess, polling the RSS of its whole process tree."""
    import psutil

    proc = subprocess.Popen([sys.executable, __file__, *argv, "--worker", mode], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    peak, done = [0], threading.Event()

    def poll() -> None:
        parent = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                total = sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)])
                peak[0] = max(peak[0], total)
            except psutil.Error:
                pass
            time.sleep(0.05)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    stdout, _ = proc.communicate()
    done.set()
    thread.join()
    if proc.returncode:
        raise RuntimeError(f"Mode {mode!r} failed with exit code {proc.returncode}. Rerun with --worker {mode}.")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = peak[0] / 2**20
    return result


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(args)))
        return
    load_before = os.getloadavg()
    modes = [m.strip() for m in args.modes.split(",")]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        raise ValueError(f"Unknown modes {unknown}. Available: {list(MODES)}")
    if args.repeat < 1:
        raise ValueError(f"--repeat must be >= 1. Received: --repeat={args.repeat}")
    with tempfile.TemporaryDirectory(prefix="transform_bench_data_") as tmp:
        text_mb = text_megabytes(args) * args.repeat
        data = repeated_input(args.data, args.repeat, Path(tmp)) if args.repeat > 1 else args.data
        results = [run_mode(mode, with_data(argv, data, text_mb)) for mode in modes]
        if not args.no_startup and Path(args.data).is_file():
            tiny = tiny_input(args.data, Path(tmp))
            for r in results:
                r["startup_s"] = run_mode(r["mode"], with_data(argv, tiny, 0.0))["seconds"]
    report(args, load_before, results)


def report(args: argparse.Namespace, load: tuple[float, float, float], results: list[dict[str, Any]]) -> None:
    """Prints the table, the load averages and whether the Beam modes' outputs agree; writes --json."""
    reference = next((r for r in results if r["mode"] == "python_loop"), None)
    print(f"data: {args.data} x{args.repeat}  overrides: {overrides_from(args)}")
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, after: "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f"  (cores: {os.cpu_count()})")
    print(f"{'mode':<20}{'records':>9}{'seconds':>9}{'rec/s':>9}{'MB/s':>8}{'peak RSS MB':>13}{'vs loop':>9}"
          f"{'start-up s':>12}{'example_gen s':>15}")
    for r in results:
        r["records_per_s"] = r["records"] / r["seconds"]
        r["mb_per_s"] = r["text_mb"] / r["seconds"]
        r["vs_python_loop"] = reference["seconds"] / r["seconds"] if reference else None
        ratio = f"{r['vs_python_loop']:.2f}x" if reference else "-"
        startup = f"{r['startup_s']:.1f}" if "startup_s" in r else "-"
        eg = f"{r['example_gen_s']:.1f}" if r["example_gen_s"] is not None else "-"
        print(f"{r['mode']:<20}{r['records']:>9}{r['seconds']:>9.1f}{r['records_per_s']:>9.0f}"
              f"{r['mb_per_s']:>8.2f}{r['peak_rss_mb']:>13.0f}{ratio:>9}{startup:>12}{eg:>15}")
    digests = {r["mode"]: r["digest"] for r in results if r["digest"] is not None}
    if len(digests) > 1:
        same = len({json.dumps(d, sort_keys=True) for d in digests.values()}) == 1
        print(f"outputs (vocab files + record multiset per split) identical across {sorted(digests)}: "
              f"{'yes' if same else 'NO'}")
        for mode, digest in digests.items():
            print(f"  {mode}: " + ", ".join(f"{k}={v[:16]}" for k, v in sorted(digest.items())))
    for r in results:
        if r.get("files"):
            print(f"  transform files per split, {r['mode']}: "
                  + ", ".join(f"{split} {n}" for split, n in r["files"].items()))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
