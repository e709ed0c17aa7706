"""The processes of the local stack: ``python -m reko.pipeline.stack.component <kind> ...``.

``reko stack up`` starts each component as its own process (in its own session, so ``reko stack
down`` stops it with every child it started: ffmpeg, the label detector's Node worker …):

* ``moto`` — moto in server mode (S3, SQS, DynamoDB, EventBridge on one port);
* ``rekognition`` — :mod:`.rekognition_server` over the local engine;
* ``mediaconvert`` — :mod:`.mediaconvert_server` over a background ``LocalMediaConvert``;
* ``function`` — one Lambda function runner (:mod:`.lambda_runtime`) described by a JSON spec
  file: ``{"name", "arn", "handler", "memory_mb", "timeout_s", "mode": "sqs" | "async" | "http",
  ...}``.

Each writes ``{"pid", "port"}`` to its ``--ready`` file once it serves (or polls), which is how
``up`` knows it started and on which port. SIGTERM stops a component (an invocation in flight
is abandoned, as when Lambda recycles a container: its messages return after the visibility
timeout). Logs go to stderr (the stack's log file of the component).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def write_ready(path: str | Path, **info: Any) -> None:
    """Write ``{"pid": ..., **info}`` to ``path`` atomically (rename)."""
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), **info}))
    tmp.replace(path)


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def run_moto(args: argparse.Namespace) -> None:
    """moto's ThreadedMotoServer on ``args.host:args.port`` until SIGTERM."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    write_ready(args.ready, port=port)
    logging.getLogger("reko.stack").info("moto serves S3, SQS, DynamoDB and EventBridge on %s:%s", host, port)
    try:
        threading.Event().wait()
    finally:
        server.stop()


def run_rekognition(args: argparse.Namespace) -> None:
    """The Rekognition endpoint until SIGTERM."""
    from .rekognition_server import serve

    preload = [f for f in (args.preload or "").split(",") if f]
    serve(args.host, args.port, data_dir=args.data_dir, preload=preload,
          on_ready=lambda port: write_ready(args.ready, port=port))


def run_mediaconvert(args: argparse.Namespace) -> None:
    """The local MediaConvert (clients from ``AWS_ENDPOINT_URL_S3``/``_EVENTBRIDGE``) until SIGTERM."""
    import boto3

    from .mediaconvert_server import serve

    serve(args.host, args.port, s3=boto3.client("s3"), events=boto3.client("events"), work_dir=args.work_dir,
          on_ready=lambda port: write_ready(args.ready, port=port))


def run_function(args: argparse.Namespace) -> None:
    """One function runner from its spec file (see the module doc) until SIGTERM."""
    import boto3

    from .lambda_runtime import AsyncInvoker, Function, HttpApiGateway, SqsEventSourceMapping, load_handler

    spec = json.loads(Path(args.spec).read_text())
    function = Function(spec["name"], spec["arn"], load_handler(spec["handler"]), spec.get("memory_mb", 1024),
                        spec.get("timeout_s", 60))
    log = logging.getLogger("reko.stack.runner")
    mode = spec["mode"]
    if mode == "http":
        from .wire import serve_wsgi

        def ready(port: int) -> None:
            write_ready(args.ready, port=port)
            log.info("%s serves the HTTP API on %s:%s", function.name, args.host, port)

        gateway = HttpApiGateway(function, account_id=spec.get("account_id", "123456789012"),
                                 site_headers=spec.get("site_headers"))
        serve_wsgi(gateway, host=args.host, port=args.port, threads=spec.get("threads", 4), ident="reko-http-api",
                   on_ready=ready, max_request_body_size=64 * 2**20)
        return
    sqs = boto3.client("sqs")
    stop = threading.Event()
    if mode == "sqs":
        source: Any = SqsEventSourceMapping(sqs, spec["queue_url"], spec["queue_arn"], function,
                                            batch_size=spec.get("batch_size", 10),
                                            report_failures=spec.get("report_failures", False),
                                            region=spec.get("region", "us-east-1"))
    elif mode == "async":
        source = AsyncInvoker(sqs, spec["queue_url"], function, max_retry_attempts=spec.get("max_retry_attempts", 2),
                              dead_letter_url=spec.get("dead_letter_url"),
                              retry_delays_s=spec.get("retry_delays_s", (60, 120)),
                              account_id=spec.get("account_id", "123456789012"))
    else:
        raise SystemExit(f"unknown function mode {mode!r}")
    write_ready(args.ready, port=None)
    log.info("%s polls %s (%s)", function.name, spec["queue_url"], mode)
    try:
        source.run(stop)
    finally:
        stop.set()


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` and run one component (see the module doc)."""
    parser = argparse.ArgumentParser(prog="python -m reko.pipeline.stack.component")
    parser.add_argument("kind", choices=("moto", "rekognition", "mediaconvert", "function"))
    parser.add_argument("--ready", required=True, help="file to write {pid, port} to once serving")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--data-dir", default="reko-data", help="rekognition: where collections persist")
    parser.add_argument("--preload", default="", help="rekognition: engines to load at start (text,faces,...)")
    parser.add_argument("--work-dir", default=None, help="mediaconvert: parent of the jobs' temp dirs")
    parser.add_argument("--spec", help="function: the function's JSON spec file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _on_sigterm)
    runners = {"moto": run_moto, "rekognition": run_rekognition, "mediaconvert": run_mediaconvert,
               "function": run_function}
    try:
        runners[args.kind](args)
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main()
