"""The `seqlab` command line: each subcommand is a few lines calling the library.

    seqlab run [CONFIG...] [--set KEY=VALUE]... [--root DIR] [--until STEP] [--no-cache] [--beam-arg ARG]...
    seqlab config [CONFIG...] [--set KEY=VALUE]...
    seqlab configs
    seqlab predict EXPORT_DIR TEXT...
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from typing import Sequence

import yaml

from pipeline.config import builtin_configs, load_config
from pipeline.dag import STEP_NAMES

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "config", nargs="*", help="built-in config names or YAML paths, merged rightmost-wins "
        "(default: quickstart)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one config value, e.g. --set train.epochs=3")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seqlab", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the pipeline")
    _add_config_args(run)
    run.add_argument("--root", default="seqlab_runs", help="run root (default: ./seqlab_runs)")
    run.add_argument("--until", choices=STEP_NAMES, help="last step to run")
    run.add_argument("--no-cache", action="store_true", help="run every step again")
    run.add_argument("--beam-arg", dest="beam_args", action="append", default=[],
                     metavar="ARG", help="Beam pipeline option, e.g. --beam-arg=--runner=DataflowRunner")

    cfg = sub.add_parser("config", help="print the effective, validated config")
    _add_config_args(cfg)

    sub.add_parser("configs", help="list built-in configs")

    predict = sub.add_parser("predict", help="run an exported SavedModel on raw text")
    predict.add_argument("export_dir")
    predict.add_argument("texts", nargs="+", metavar="TEXT")
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from pipeline.runner import run_pipeline

    config = load_config(args.config, args.overrides)
    summary = run_pipeline(config, args.root, until=args.until, use_cache=not args.no_cache,
                           beam_args=args.beam_args)
    for step in summary["steps"]:
        print(f"{step['name']:<12} {step['status']:<7} {step['seconds']:8.1f}s")
    for split, metrics in summary["metrics"].items():
        shown = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        print(f"{split}: {shown}")
    if summary["export_dir"]:
        print(f"exported: {summary['export_dir']}")
    print(f"summary: {os.path.join(os.path.abspath(args.root), 'summary.json')}")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides)
    print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
    return 0


def _cmd_configs(args: argparse.Namespace) -> int:
    for name in builtin_configs():
        print(name)
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from serving.predict import predict

    for row in predict(args.export_dir, args.texts):
        print(json.dumps(row, ensure_ascii=False))
    return 0


COMMANDS = {"run": _cmd_run, "config": _cmd_config, "configs": _cmd_configs,
            "predict": _cmd_predict}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        return COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError) as exc:
        if args.verbose:
            traceback.print_exc()
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"seqlab: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
