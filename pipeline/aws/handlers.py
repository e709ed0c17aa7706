"""The Lambda handlers: thin front ends over the application layer (:class:`reko.app.Reko`,
built once per container from ``REKO_*`` settings) and the distributed ingest steps of
:mod:`reko.pipeline.aws.ingest`.

Written with Powertools for AWS Lambda: ``Logger`` (JSON logs with the Lambda context and the
``video_id``), ``Metrics`` (CloudWatch embedded metric format), the SQS FIFO partial batch
processor (a failed message and the ones after it in its group are retried; after the queue's
``maxReceiveCount`` they land in the DLQ) and idempotency records on DynamoDB
(``REKO_IDEMPOTENCY_TABLE``) so a repeated S3 event does not hash a large upload twice. No
client is created at import time: everything is built on the first invocation.

| handler | trigger |
|---|---|
| :func:`on_upload` | S3 ``ObjectCreated:*`` notification for ``uploads/`` |
| :func:`on_job_state` | EventBridge ``aws.mediaconvert`` "MediaConvert Job State Change" |
| :func:`on_frames` | SQS FIFO frame batches (``ReportBatchItemFailures``) |
| :func:`web` | API Gateway HTTP API (payload 2.0) or REST API, through apig-wsgi |
"""

from __future__ import annotations

import json
from typing import Any, Callable
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, S3Event
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ...app import Reko
from ...settings import Settings
from .ingest import AwsIngest

logger = Logger(service="reko")
metrics = Metrics(namespace="reko", service="reko")

_state: dict[str, Any] = {}


def application() -> Reko:
    """The container's application (cold start: settings read, nothing connected yet)."""
    if "app" not in _state:
        _state["app"] = Reko(Settings.from_env())
    return _state["app"]


def aws_ingest() -> AwsIngest:
    """The container's distributed-ingest steps (the application's, see :attr:`Reko.aws`)."""
    return application().aws


def reset(app: Reko | None = None, ingest: AwsIngest | None = None) -> None:
    """Replace (or forget) the container's application and its ingest steps (with their
    MediaConvert and SQS clients): tests and the local stack inject theirs, as a new container
    would build its own."""
    _state.clear()
    if app is not None:
        _state["app"] = app
        if ingest is not None:
            app._aws = ingest


def _register(key: str) -> Callable[..., dict[str, Any]]:
    """``register_upload`` for ``key``, through Powertools idempotency when a table is set."""

    def register(upload: dict[str, str]) -> dict[str, Any]:
        record, started = aws_ingest().register_upload(upload["key"])
        return {"video_id": record.video_id, "started": started}

    table = application().settings.idempotency_table
    if not table:
        return register
    if "idempotent_register" not in _state:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function

        _state["idempotent_register"] = idempotent_function(
            register, data_keyword_argument="upload", persistence_store=DynamoDBPersistenceLayer(table_name=table),
            config=IdempotencyConfig(expires_after_seconds=24 * 3600))
    return _state["idempotent_register"]


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def on_upload(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """S3 ``ObjectCreated`` under ``uploads/``: record each upload and start its MediaConvert
    job (idempotent per bucket, key and ETag). Returns ``{"videos": [...]}``."""
    videos = []
    for record in S3Event(event).records:
        key = unquote_plus(record.s3.get_object.key)
        upload = {"bucket": record.s3.bucket.name, "key": key, "etag": record.s3.get_object.etag or ""}
        result = _register(key)(upload=upload)
        logger.info("upload registered", extra={"video_id": result["video_id"], "started": result["started"]})
        metrics.add_metric(name="UploadsStarted" if result["started"] else "UploadsRepeated",
                           unit=MetricUnit.Count, value=1)
        videos.append(result)
    return {"videos": videos}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def on_job_state(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge "MediaConvert Job State Change": plan and queue the captured frames, or
    record the failure. Returns ``{"batches": N}``."""
    change = EventBridgeEvent(event)
    logger.append_keys(video_id=(change.detail.get("userMetadata") or {}).get("video_id"))
    batches = aws_ingest().job_state_changed(change.raw_event)
    metrics.add_metric(name="FrameBatchesQueued", unit=MetricUnit.Count, value=batches)
    return {"batches": batches}


def _frame_batch(record: SQSRecord) -> dict[str, Any]:
    message = json.loads(record.body)
    logger.append_keys(video_id=message.get("video_id"))
    redelivered = int(record.attributes.approximate_receive_count or 1) > 1
    result = aws_ingest().analyse_batch(message, redelivered=redelivered)
    metrics.add_metric(name="FramesIndexed", unit=MetricUnit.Count, value=result.documents)
    if result.ready:
        metrics.add_metric(name="VideosReady", unit=MetricUnit.Count, value=1)
    return {"video_id": result.video_id, "documents": result.documents, "ready": result.ready}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def on_frames(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS FIFO frame batches: analyse and index each; answers ``batchItemFailures`` so only
    the failed message and the ones after it in the same video's group are retried (other
    videos in the batch go on), even when every message failed."""
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    processor.raise_on_entire_batch_failure = False  # answer the failures; Lambda retries them
    response: dict[str, Any] = dict(process_partial_response(event=event, record_handler=_frame_batch,
                                                             processor=processor, context=context))
    failures = len(response.get("batchItemFailures", []))
    if failures:
        metrics.add_metric(name="FrameBatchesFailed", unit=MetricUnit.Count, value=failures)
    return response


def web(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The JSON API and the site on Lambda behind API Gateway (apig-wsgi → Flask)."""
    if "web" not in _state:
        from apig_wsgi import make_lambda_handler

        from ...webapp import create_app

        app = application()
        _state["web"] = make_lambda_handler(create_app(app.settings, app=app), binary_support=True)
    return _state["web"](event, context)
