"""The `seqlab` command line: each subcommand is a few lines calling the library.

    seqlab run [CONFIG...] [--set KEY=VALUE]... [--root DIR] [--until STEP] [--no-cache] [--wait]
               [--chief-timeout SECONDS] [--beam-arg ARG]...
    seqlab config [CONFIG...] [--set KEY=VALUE]...
    seqlab configs
    seqlab predict EXPORT_DIR TEXT...   (or - to read one text per line from stdin)
    seqlab predict --server HOST:PORT MODEL TEXT...
    seqlab serve [SERVING_DIR] [--model_config_file F | --model_name N --model_base_path P] [--port 8500]
                 [--rest_api_port 8501] [--host 127.0.0.1] [--enable_batching] [--batching_parameters_file F]
                 [--file_system_poll_wait_seconds 1] [--rest_api_timeout_in_ms 30000] [--max_request_bytes N]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import sys
import traceback
from typing import Sequence

import yaml

from pipeline.config import builtin_configs, effective_dict, load_config
from pipeline.dag import STEP_NAMES
from pipeline.root_check import local_root

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DESCRIPTION = (
    "Sequence models from raw text to TensorFlow Serving: a Beam + Keras pipeline driven by one YAML config. "
    "Every step's output is cached under the run root and reused while its config, its input files and the "
    "code that made it are unchanged."
)
EPILOG = "Examples:\n  seqlab run\n  seqlab run date_tags --set train.epochs=8\n  " \
         "seqlab predict seqlab_runs/serving/dates \"Tuesday, March 3, 1998\"\n  seqlab config quickstart"


def version() -> str:
    try:
        return importlib.metadata.version("seqlab")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "config", nargs="*", help="built-in config names (see `seqlab configs`) or YAML files; several merge, the "
        "rightmost wins (default: quickstart)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one config value, applied after the files; repeat for more (e.g. --set train.epochs=3)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seqlab", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"seqlab {version()}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging, library start-up messages and full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", help="run the pipeline (example_gen, statistics, transform, trainer, evaluator, pusher)",
        description="Run the pipeline step by step. A step whose config, input files and code are unchanged is "
        "'cached' (its artifact is reused); a step interrupted by a crash, Ctrl-C or SIGTERM resumes on the next "
        "run (the trainer from its last epoch). One run at a time per run root.")
    _add_config_args(run)
    run.add_argument("--root", default="seqlab_runs",
                     help="run root holding artifacts, metadata, summary.json and serving/: a local path, or a shared POSIX "
                     "mount (NFS, Filestore, EFS) for several machines; gs:// and other URIs are refused "
                     "(default: ./seqlab_runs)")
    run.add_argument("--until", choices=STEP_NAMES, metavar="STEP",
                     help=f"stop after this step, one of: {', '.join(STEP_NAMES)}")
    run.add_argument("--no-cache", action="store_true",
                     help="run every step again from scratch, without reusing or resuming anything")
    run.add_argument("--wait", action="store_true",
                     help="when another run is using the root, wait until it ends instead of failing at once")
    run.add_argument("--chief-timeout", type=float, default=3600.0, metavar="SECONDS",
                     help="in a TF_CONFIG cluster, how long a non-chief worker waits for the chief to publish the "
                     "transform before it fails (default: 3600; 0: forever)")
    run.add_argument("--beam-arg", dest="beam_args", action="append", default=[], metavar="ARG",
                     help="Beam pipeline option passed through as is; repeat for more "
                     "(e.g. --beam-arg=--runner=DataflowRunner --beam-arg=--project=my-project)")

    cfg = sub.add_parser("config", help="print the effective config after merging and checking it",
                         description="Print the effective config as YAML: the files merged, the --set values "
                         "applied and every value checked; the model section shows the keys its family reads. A bad "
                         "value is reported in one line naming the key.")
    _add_config_args(cfg)

    sub.add_parser("configs", help="list the built-in configs", description="List the built-in config names.")

    predict = sub.add_parser(
        "predict", help="run an exported model on raw text and print one JSON line per input",
        description="Run a pushed SavedModel's serving_default signature on raw text. EXPORT_DIR is a version "
        "folder (serving/dates/3) or a model's base path (serving/dates: its latest version). With --server, the "
        "first argument is a MODEL name served by a TF Serving endpoint (seqlab serve or tensorflow/serving).")
    predict.add_argument("export_dir", metavar="EXPORT_DIR|MODEL",
                         help="a SavedModel folder or a model's base path; with --server, a model name")
    predict.add_argument("texts", nargs="+", metavar="TEXT", help="input texts; - reads one text per line from stdin")
    predict.add_argument("--server", metavar="HOST:PORT",
                         help="ask a running TF Serving endpoint instead of loading the SavedModel")
    predict.add_argument("--protocol", choices=("rest", "grpc"), default="rest",
                         help="with --server: REST (port 8501 by default) or gRPC (8500)")
    predict.add_argument("--model_version", type=int, help="with --server: a specific version")
    predict.add_argument("--model_version_label", help="with --server: a version label")
    _add_serve_parser(sub)
    return parser


def _add_serve_parser(sub) -> None:
    serve = sub.add_parser(
        "serve", help="serve pushed models with TensorFlow Serving's REST and gRPC APIs",
        description="A TF-Serving-compatible model server for development and tests (production: the "
        "tensorflow/serving image with the same files). Flags keep tensorflow_model_server's names. Serves "
        "SERVING_DIR (what the pusher writes: model folders and models.config), --model_config_file, or one "
        "--model_name/--model_base_path. New versions go live within --file_system_poll_wait_seconds; "
        "SIGTERM drains requests in flight before exiting.")
    serve.add_argument("serving_dir", nargs="?", metavar="SERVING_DIR", help="a pushed serving/ folder")
    serve.add_argument("--model_config_file", help="a ModelServerConfig text proto (models.config)")
    serve.add_argument("--model_name", default="default", help="name of the one model (default: default)")
    serve.add_argument("--model_base_path", help="base path of the one model (integer version folders)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8500, help="gRPC port; 0 disables gRPC (default: 8500)")
    serve.add_argument("--rest_api_port", type=int, default=8501, help="REST port; 0 disables REST (default: 8501)")
    serve.add_argument("--rest_api_timeout_in_ms", type=int, default=30000, help="REST call timeout (default 30000)")
    serve.add_argument("--rest_api_num_threads", type=int, default=8, help="REST worker threads (default: 8)")
    serve.add_argument("--enable_batching", action="store_true", help="batch concurrent requests")
    serve.add_argument("--batching_parameters_file", help="a BatchingParameters text proto")
    serve.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0,
                       help="seconds between polls for new versions; 0 polls once (default: 1)")
    serve.add_argument("--max_request_bytes", type=int, default=64 * 1024 * 1024,
                       help="largest request body (REST: 413; gRPC: RESOURCE_EXHAUSTED) (default: 64 MiB)")
    serve.add_argument("--allow_version_labels_for_unavailable_models", action="store_true",
                       help="allow labels that name versions not loaded yet")
    serve.add_argument("--drain_seconds", type=float, default=30.0,
                       help="on SIGTERM, how long requests in flight may finish (default: 30)")


def _cmd_run(args: argparse.Namespace) -> int:
    local_root(args.root)  # a gs:// root fails here, in one line, before the config or TensorFlow load
    from pipeline.runner import run_pipeline

    config = load_config(args.config, args.overrides)
    summary = run_pipeline(config, args.root, until=args.until, use_cache=not args.no_cache,
                           beam_args=args.beam_args, wait=None if args.wait else 0.0,
                           chief_timeout=args.chief_timeout or None)
    for step in summary["steps"]:
        print(f"{step['name']:<12} {step['status']:<7} {step['seconds']:8.1f}s")
        vectors = (step.get("outputs") or {}).get("pretrained_embeddings")
        if vectors:  # the trainer's coverage report (components/pretrained_vectors.py)
            print(f"{'':<12} pretrained vectors {vectors['line']}")
    for split, metrics in summary["metrics"].items():
        shown = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        print(f"{split}: {shown}")
    if summary.get("not_pushed"):
        print(f"not pushed: {summary['not_pushed']}")
    if summary["export_dir"]:
        print(f"exported: {summary['export_dir']}")
    if "role" in summary:  # a non-chief TF_CONFIG member (pipeline/worker.py)
        trained = any(step["status"] == "ran" for step in summary["steps"])
        print(f"TF_CONFIG {summary['role']}: {'trained with the chief' if trained else 'nothing to train'}; "
              f"nothing published (the chief writes {args.root})")
        return 0
    print(f"summary: {os.path.join(os.path.abspath(args.root), 'summary.json')}")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides)
    print(yaml.safe_dump(effective_dict(config), sort_keys=False), end="")
    return 0


def _cmd_configs(args: argparse.Namespace) -> int:
    for name in builtin_configs():
        print(name)
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from pipeline import quiet
    from serving.predict import predict, resolve_export_dir

    texts = [line.rstrip("\r\n") for line in sys.stdin] if args.texts == ["-"] else args.texts
    if args.server:
        from serving.client import ServingClientError, predict_texts

        try:
            rows = predict_texts(args.server, args.export_dir, texts, args.protocol, args.model_version,
                                 args.model_version_label)
        except (ServingClientError, OSError) as exc:
            raise ValueError(f"{args.server}: {exc}") from None
    else:
        export_dir = resolve_export_dir(args.export_dir)  # a bad path fails before TensorFlow is imported
        quiet.import_tensorflow()
        rows = predict(export_dir, texts)
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from pipeline import quiet
    from serving.server.config import ServerOptions

    options = ServerOptions(**{k: v for k, v in vars(args).items()
                               if k in ServerOptions.__dataclass_fields__})
    quiet.import_tensorflow()
    from serving.server.app import serve

    serve(options)
    return 0


COMMANDS = {"run": _cmd_run, "config": _cmd_config, "configs": _cmd_configs,
            "predict": _cmd_predict, "serve": _cmd_serve}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if not args.verbose:
        from pipeline import quiet

        quiet.quiet_logging()
    from pipeline.lock import RootBusyError
    from pipeline.worker import ChiefNotReadyError

    try:
        return COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError, RootBusyError, ChiefNotReadyError) as exc:
        if args.verbose:
            traceback.print_exc()
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"seqlab: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"seqlab: interrupted ({exc or 'Ctrl-C'}); run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
