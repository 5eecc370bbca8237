"""Starts the model server: load every model at its version policy, poll for new versions, serve gRPC and
REST until SIGTERM/SIGINT, then drain (stop accepting, finish what is in flight, unload).

Example:

>>> serve(ServerOptions(serving_dir="seqlab_runs/serving", port=8500, rest_api_port=8501))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
from aiohttp import web

from serving.server.config import ServerOptions, load_model_server_config, parse_batching_parameters
from serving.server.errors import ServingError
from serving.server.grpc_services import add_services
from serving.server.manager import ModelManager
from serving.server.metrics import Metrics
from serving.server.predict import Core
from serving.server.rest import make_app

logger = logging.getLogger(__name__)


def build_core(options: ServerOptions) -> Core:
    """Loads the config and every model's initial versions (warmup replayed); raises ValueError if unservable."""
    config = load_model_server_config(options)
    batching = None
    if options.enable_batching:
        text = Path(options.batching_parameters_file).read_text() if options.batching_parameters_file else ""
        batching = parse_batching_parameters(text)
        logger.info("Batching on: %s", batching)
    # Warmup runs through the same checks and batcher as requests.
    manager = ModelManager(config, warmup=lambda servable: core.warmup(servable),
                           allow_version_labels_for_unavailable_models=options.allow_version_labels_for_unavailable_models)
    core = Core(manager, batching)
    manager.poll_once()
    try:
        manager.check_labels()
    except ServingError as exc:
        raise ValueError(exc.message) from None
    return core


async def _serve(options: ServerOptions, core: Core) -> None:
    metrics = Metrics()
    grpc_server = None
    if options.port:
        grpc_server = grpc.server(
            ThreadPoolExecutor(max_workers=options.grpc_max_threads, thread_name_prefix="grpc"),
            options=[("grpc.max_receive_message_length", options.max_request_bytes),
                     ("grpc.max_send_message_length", -1), ("grpc.so_reuseport", 0)])
        add_services(grpc_server, core, metrics)
        if not grpc_server.add_insecure_port(f"{options.host}:{options.port}"):
            raise ValueError(f"Cannot listen on {options.host}:{options.port} (gRPC)")
        grpc_server.start()
        logger.info("Running gRPC ModelServer at %s:%d", options.host, options.port)
    runner = None
    if options.rest_api_port:
        runner = web.AppRunner(make_app(core, metrics, options), access_log=None,
                               shutdown_timeout=options.drain_seconds)
        await runner.setup()
        await web.TCPSite(runner, options.host, options.rest_api_port).start()
        logger.info("Exporting HTTP/REST API at %s:%d", options.host, options.rest_api_port)
    core.manager.start_polling(options.file_system_poll_wait_seconds)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logger.info("Draining: no new connections, finishing requests in flight (up to %.0fs)", options.drain_seconds)
    grpc_done = grpc_server.stop(options.drain_seconds) if grpc_server else None
    if runner is not None:
        await runner.cleanup()
    if grpc_done is not None:
        await loop.run_in_executor(None, grpc_done.wait)
    core.manager.stop()
    logger.info("Server stopped")


def serve(options: ServerOptions) -> None:
    """Runs the server in the foreground until SIGTERM or SIGINT."""
    core = build_core(options)
    asyncio.run(_serve(options, core))
