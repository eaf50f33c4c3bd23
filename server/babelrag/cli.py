"""``babelrag-server``: build models, run Triton, serve the gateway, run the demo.

    babelrag-server models build --profile tiny|default|full [--data DIR] [--force]
    babelrag-server models info  --profile P
    babelrag-server triton       --profile P [--grpc-port N] [--config-name gpu]
    babelrag-server serve        --profile P [--port 50051] [--data DIR] [--config FILE] [--triton-url URL]
    babelrag-server admin        tenants create NAME | keys issue TENANT | quota set ...  (admin key from --data)
    babelrag-server demo         --profile P
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from babelrag.paths import PROFILES, ProfileLayout, data_dir


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=PROFILES, default="default", help="model profile (default: %(default)s)")
    parser.add_argument("--data", help="data directory (default: $BABELRAG_DATA_DIR or ./data)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="babelrag-server", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", required=True)

    models = commands.add_parser("models", help="build or inspect the model repository")
    models_commands = models.add_subparsers(dest="models_command", required=True)
    build = models_commands.add_parser("build", help="build (incrementally) the models of a profile")
    _add_common(build)
    build.add_argument("--force", action="store_true", help="rebuild even what is up to date")
    build.add_argument(
        "--instances", action="append", default=[], metavar="MODEL=N", help="instance count of a model (repeatable)"
    )
    info = models_commands.add_parser("info", help="print the manifest of a built profile")
    _add_common(info)

    triton = commands.add_parser("triton", help="run tritonserver on a built profile until Ctrl-C / SIGTERM")
    _add_common(triton)
    triton.add_argument("--http-port", type=int, default=8000)
    triton.add_argument("--grpc-port", type=int, default=8001)
    triton.add_argument("--metrics-port", type=int, default=8002)
    triton.add_argument("--config-name", help="model config variant, e.g. 'gpu' (configs/gpu.pbtxt)")

    serve = commands.add_parser("serve", help="run the gRPC gateway (and a local Triton unless --triton-url)")
    _add_common(serve)
    serve.add_argument("--config", help="TOML settings file (see README: Configuration)")
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="gRPC port (default 50051)")
    serve.add_argument("--metrics-port", type=int, help="Prometheus port (default 9464, 0 = off)")
    serve.add_argument("--triton-url", help="use this Triton (host:port) instead of starting one")
    serve.set_defaults(profile=None)  # the settings file / environment decide unless given

    admin = commands.add_parser(
        "admin",
        help="tenant/key/quota administration of a running gateway, with the admin key of --data",
        description="Runs 'babelrag admin ...' (the client CLI) with the admin credential read from "
        "$BABELRAG_ADMIN_KEY or <data>/admin.key. Example: babelrag-server admin tenants create acme",
    )
    admin.add_argument("--data", help="data directory holding admin.key (default: $BABELRAG_DATA_DIR or ./data)")
    admin.add_argument("admin_args", nargs=argparse.REMAINDER, help="arguments of 'babelrag admin'")

    demo = commands.add_parser("demo", help="build what is missing, start the stack and run the demo")
    _add_common(demo)
    return parser


def ensure_models(profile: str, data: Path, *, force: bool = False, instances: dict[str, int] | None = None) -> ProfileLayout:
    """Build the profile's artifacts if needed (incremental) and assemble its repository."""
    from babelrag.modelbuild import build  # deferred: imports torch
    from babelrag.triton.repository import assemble

    layout = ProfileLayout.of(data, profile)
    build(profile, layout.root, force=force, progress=lambda line: print(line, flush=True))
    assemble(layout.artifacts, layout.repository, instances=instances)
    print(f"model repository ready: {layout.repository}", flush=True)
    return layout


def ensure_repository(profile: str, data: Path) -> ProfileLayout:
    """Build only when nothing is built yet (serving commands should not import torch otherwise)."""
    from babelrag.triton.repository import assemble

    layout = ProfileLayout.of(data, profile)
    if not layout.is_built():
        return ensure_models(profile, data)
    assemble(layout.artifacts, layout.repository)
    return layout


def _parse_instances(values: list[str]) -> dict[str, int]:
    parsed = {}
    for value in values:
        name, sep, count = value.partition("=")
        if not sep or not count.isdigit():
            raise SystemExit(f"--instances expects MODEL=N, got {value!r}")
        parsed[name] = int(count)
    return parsed


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


def cmd_models(args: argparse.Namespace) -> int:
    data = data_dir(args.data)
    if args.models_command == "build":
        ensure_models(args.profile, data, force=args.force, instances=_parse_instances(args.instances))
        return 0
    layout = ProfileLayout.of(data, args.profile)
    if not layout.manifest.is_file():
        print(f"profile {args.profile} is not built (no {layout.manifest})", file=sys.stderr)
        return 1
    print(json.dumps(json.loads(layout.manifest.read_text()), indent=2))
    return 0


def cmd_triton(args: argparse.Namespace) -> int:
    from babelrag.triton.launcher import TritonPorts, TritonServer

    layout = ensure_repository(args.profile, data_dir(args.data))
    server = TritonServer(
        layout.repository,
        ports=TritonPorts(http=args.http_port, grpc=args.grpc_port, metrics=args.metrics_port),
        runtime_dir=layout.runtime,
        model_config_name=args.config_name,
    )
    print(f"starting tritonserver on {layout.repository} (log: {server.log_path})", flush=True)
    server.start()
    print(f"Triton ready: grpc {server.grpc_url}, metrics {server.metrics_url}; Ctrl-C to stop", flush=True)
    try:
        wait_for_signal()
    finally:
        print("stopping tritonserver ...", flush=True)
        server.stop()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from babelrag.gateway.server import Gateway
    from babelrag.gateway.settings import Settings

    settings = Settings.load(
        args.config,
        data_dir=args.data,
        profile=args.profile,
        host=args.host,
        port=args.port,
        metrics_port=args.metrics_port,
        triton_url=args.triton_url,
    )
    from babelrag.logs import configure

    configure(logging.getLogger().level, settings.log_format)
    if not settings.triton_url:
        ensure_repository(settings.profile, settings.data_dir)

    async def run() -> None:
        gateway = Gateway(settings)
        port = await gateway.start()
        print(f"BabelRAG gateway listening on {settings.host}:{port} (profile {settings.profile}, store {settings.store})", flush=True)
        print(f"Triton: {gateway.triton_url}; metrics: http://{settings.host}:{settings.metrics_port}/metrics", flush=True)
        credential = gateway.admin_credential
        where = f"file {credential.path}" if credential.path else "$BABELRAG_ADMIN_KEY"
        print(f"admin credential ({credential.source}): {where}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        print("shutting down ...", flush=True)
        await gateway.stop()

    asyncio.run(run())
    return 0


def cmd_admin(args: argparse.Namespace) -> int:
    from babelrag_client.cli import main as client_main

    if not os.environ.get("BABELRAG_ADMIN_KEY"):
        key_file = data_dir(args.data) / "admin.key"
        if not key_file.is_file():
            print(f"no admin key: set $BABELRAG_ADMIN_KEY or start the gateway once to create {key_file}", file=sys.stderr)
            return 3
        os.environ["BABELRAG_ADMIN_KEY"] = key_file.read_text().strip()
    return client_main(["admin", *args.admin_args])


def cmd_demo(args: argparse.Namespace) -> int:
    from babelrag.demo import run_demo

    return asyncio.run(run_demo(args.profile, data_dir(args.data)))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from babelrag.logs import configure

    configure(logging.DEBUG if args.debug else logging.INFO, os.environ.get("BABELRAG_LOG_FORMAT", "text"))
    handlers = {"models": cmd_models, "triton": cmd_triton, "serve": cmd_serve, "admin": cmd_admin, "demo": cmd_demo}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line unless --debug
        if args.debug:
            raise
        print(f"babelrag-server: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
