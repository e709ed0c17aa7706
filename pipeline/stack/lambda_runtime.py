"""Lambda on one machine: the function runners of the local stack.

Each function of the template runs in its own process (a "container": one application, built
from its own environment on the first invocation, kept warm), started by ``reko stack up`` with
the environment the template gives it. Events reach the **same handler functions** the way
Lambda delivers them (AWS Lambda Developer Guide, "Lambda event source mappings", "Invoking
a Lambda function asynchronously", "Using Lambda with Amazon SQS"):

* :class:`SqsEventSourceMapping` — the ``SQS`` event of a function (``FramesFunction``): long-polls
  the queue for up to ``BatchSize`` messages (attributes ``All``), invokes the handler with an SQS
  event (``Records`` with ``messageId``, ``receiptHandle``, ``body``, ``attributes``,
  ``eventSourceARN`` …), then deletes the messages that succeeded: all of them, or with
  ``ReportBatchItemFailures`` all but the ``batchItemFailures`` the handler answered. A failed
  message (or a whole batch when the handler raised, or the process died) stays in the queue
  and is received again when its visibility timeout ends; after the queue's
  ``maxReceiveCount`` receives SQS moves it to the dead-letter queue. Several runner processes
  poll one queue for concurrency (at most ``ScalingConfig.MaximumConcurrency``).
* :class:`AsyncInvoker` — asynchronous invocation (S3 notifications, EventBridge rules): the
  events wait in an SQS queue (the local stand-in for Lambda's internal event queue; moto puts S3
  notifications and rule targets there), the handler is invoked once per event; a failed
  invocation is retried ``MaximumRetryAttempts`` times (``EventInvokeConfig``, default 2) after
  1 and then 2 minutes, then the event is sent to the function's ``DeadLetterQueue`` with the
  ``RequestID``/``ErrorCode``/``ErrorMessage`` attributes Lambda adds, and dropped. S3's
  ``s3:TestEvent`` (sent when a notification is configured) is not delivered, as S3 sends it
  only to queues and topics, never to functions.
* :class:`HttpApiGateway` — the HTTP API: a WSGI server turning each request into an API
  Gateway HTTP API payload 2.0 event (``version``, ``routeKey: $default``, ``rawPath``,
  ``rawQueryString``, ``cookies``, ``headers`` (lower-case, repeated ones joined by commas),
  ``queryStringParameters``, ``requestContext.http``, ``body`` + ``isBase64Encoded``) and the
  handler's answer (``statusCode``, ``headers``, ``cookies``, ``body``, ``isBase64Encoded``)
  back into a response. As on AWS: a request body over 10 MB is refused (413), a handler that
  raises or answers more than 6 MB gives 502/500 with API Gateway's ``{"message": ...}``. Like
  the template's CloudFront distribution (the site on ``/*`` with its response headers policy,
  ``/api/*`` to the HTTP API), responses outside ``/api/`` get the policy's headers (its CSP
  allowing the media bucket, here moto's S3 endpoint), so the site shows presigned media.

Not emulated: the function ``Timeout`` (an invocation is never cut short), memory limits,
``MaximumEventAgeInSeconds``, reserved concurrency and throttling, X-Ray.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl

log = logging.getLogger("reko.stack.runner")

#: Lambda's asynchronous retry delays, seconds: "one minute between the first two attempts, and
#: two minutes between the second and third" (Developer Guide, asynchronous invocation).
ASYNC_RETRY_DELAYS_S = (60, 120)
MAX_REQUEST_BYTES = 10 * 2**20  #: API Gateway's payload limit (10 MB)
MAX_RESPONSE_BYTES = 6 * 2**20  #: Lambda's synchronous response payload limit (6 MB)
LONG_POLL_S = 2  #: ReceiveMessage WaitTimeSeconds of the pollers (short: a stop is noticed fast)

Handler = Callable[[dict[str, Any], Any], Any]


def load_handler(spec: str) -> Handler:
    """The function named by a template ``Handler`` (``reko.pipeline.aws.handlers.on_frames``).

    Raises:
        ImportError, AttributeError: no such module or function.
    """
    module, _, name = spec.rpartition(".")
    return getattr(importlib.import_module(module), name)


@dataclass
class LambdaContext:
    """The context object a Python handler receives (the attributes Powertools reads), with
    ``get_remaining_time_in_millis`` counting down from the function's ``Timeout``."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left of the function's timeout (never enforced locally)."""
        return max(0, int((self.timeout_s - (time.monotonic() - self._started)) * 1000))


@dataclass
class Function:
    """One function: its ``handler`` callable and what its context says (name, ARN, memory,
    timeout). :meth:`invoke` builds a fresh context per invocation."""

    name: str
    arn: str
    handler: Handler
    memory_mb: int = 1024
    timeout_s: int = 60
    invocations: int = 0

    def context(self) -> LambdaContext:
        """A new context (new ``aws_request_id``)."""
        return LambdaContext(self.name, self.arn, self.memory_mb, self.timeout_s,
                             log_group_name=f"/aws/lambda/{self.name}",
                             log_stream_name=dt.date.today().strftime("%Y/%m/%d/[$LATEST]local"))

    def invoke(self, event: dict[str, Any], context: LambdaContext | None = None) -> Any:
        """Call the handler with ``event`` (exceptions propagate: a function error)."""
        self.invocations += 1
        return self.handler(event, context or self.context())


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS ``ReceiveMessage`` message as a record of Lambda's SQS event (camelCase keys,
    message attributes as ``{"stringValue", "dataType"}``)."""
    attributes = {k: str(v) for k, v in (message.get("Attributes") or {}).items()}
    message_attributes = {
        name: {"stringValue": a.get("StringValue"), "binaryValue": a.get("BinaryValue"),
               "stringListValues": [], "binaryListValues": [], "dataType": a.get("DataType", "String")}
        for name, a in (message.get("MessageAttributes") or {}).items()}
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"], "attributes": attributes, "messageAttributes": message_attributes,
            "md5OfBody": message.get("MD5OfBody", ""), "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn, "awsRegion": region}


class SqsEventSourceMapping:
    """An SQS event source mapping (see the module doc): ``sqs`` (boto3 client), the queue's
    URL and ARN, the ``function``, ``batch_size`` (``BatchSize``) and ``report_failures``
    (``FunctionResponseTypes`` has ``ReportBatchItemFailures``)."""

    def __init__(self, sqs: Any, queue_url: str, queue_arn: str, function: Function, *,
                 batch_size: int = 10, report_failures: bool = False, region: str = "us-east-1",
                 wait_s: int = LONG_POLL_S):
        self.sqs, self.queue_url, self.queue_arn = sqs, queue_url, queue_arn
        self.function = function
        self.batch_size = max(1, min(10, batch_size))
        self.report_failures = report_failures
        self.region = region
        self.wait_s = wait_s

    def poll_once(self) -> tuple[int, int]:
        """Receive one batch and invoke the function with it; returns (messages received,
        messages deleted)."""
        received = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size, WaitTimeSeconds=self.wait_s,
            AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        if not received:
            return 0, 0
        event = {"Records": [sqs_record(m, self.queue_arn, self.region) for m in received]}
        ids = [m["MessageId"] for m in received]
        log.info("invoke %s with %d messages %s", self.function.name, len(received), ids)
        try:
            response = self.function.invoke(event)
        except Exception:  # a function error: every message of the batch is retried
            log.exception("%s failed; the batch returns after the visibility timeout", self.function.name)
            return len(received), 0
        failed: set[str] = set()
        if self.report_failures and isinstance(response, dict):
            failed = {str(f.get("itemIdentifier")) for f in response.get("batchItemFailures") or []}
            unknown = failed - set(ids)
            if unknown:  # Lambda treats an invalid response as a failure of the whole batch
                log.error("%s answered unknown batchItemFailures %s; the batch is retried", self.function.name, unknown)
                return len(received), 0
        done = [m for m in received if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        if failed:
            log.info("%s reported %d failed messages %s: they return after the visibility timeout",
                     self.function.name, len(failed), sorted(failed))
        return len(received), len(done)

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set (errors talking to SQS are logged and retried)."""
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - the poller outlives SQS hiccups, as Lambda's does
                log.exception("polling %s failed; retrying", self.queue_url)
                stop.wait(1.0)


class AsyncInvoker:
    """Asynchronous invocation of ``function`` for the events queued in ``queue_url`` (see the
    module doc). ``max_retry_attempts``: ``EventInvokeConfig.MaximumRetryAttempts``;
    ``dead_letter_url``: the ``DeadLetterQueue`` queue's URL (or None: failed events are
    dropped, as Lambda drops them without a destination); ``retry_delays_s``: the waits before
    each retry."""

    def __init__(self, sqs: Any, queue_url: str, function: Function, *, max_retry_attempts: int = 2,
                 dead_letter_url: str | None = None, retry_delays_s: Iterable[int] = ASYNC_RETRY_DELAYS_S,
                 account_id: str = "123456789012", wait_s: int = LONG_POLL_S):
        self.sqs, self.queue_url, self.function = sqs, queue_url, function
        self.max_retry_attempts = max_retry_attempts
        self.dead_letter_url = dead_letter_url
        self.retry_delays_s = tuple(retry_delays_s) or (60,)
        self.account_id = account_id
        self.wait_s = wait_s

    def poll_once(self) -> int:
        """Invoke the function for each event received; returns how many were received."""
        received = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=self.wait_s, AttributeNames=["All"]
                                            ).get("Messages", [])
        for message in received:
            self._deliver(message)
        return len(received)

    def _deliver(self, message: dict[str, Any]) -> None:
        try:
            event = json.loads(message["Body"])
        except ValueError:
            event = None
        if not isinstance(event, dict) or event.get("Event") == "s3:TestEvent":
            self._delete(message)  # S3's test event is for queues, never for functions
            return
        if "detail-type" in event:
            event.setdefault("account", self.account_id)
        attempt = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", "1"))
        context = self.function.context()
        log.info("invoke %s (attempt %d of %d)", self.function.name, attempt, self.max_retry_attempts + 1)
        try:
            result = self.function.invoke(event, context)
        except Exception as exc:
            log.exception("%s failed (attempt %d)", self.function.name, attempt)
            if attempt <= self.max_retry_attempts:
                delay = self.retry_delays_s[min(attempt, len(self.retry_delays_s)) - 1]
                self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"],
                                                   VisibilityTimeout=int(delay))
                return
            if self.dead_letter_url:
                self.sqs.send_message(QueueUrl=self.dead_letter_url, MessageBody=message["Body"], MessageAttributes={
                    "RequestID": {"DataType": "String", "StringValue": context.aws_request_id},
                    "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                    "ErrorMessage": {"DataType": "String", "StringValue": f"{type(exc).__name__}: {exc}"[:1000]}})
                log.error("%s: event sent to the dead-letter queue after %d attempts", self.function.name, attempt)
            self._delete(message)
            return
        log.info("%s answered %s", self.function.name, json.dumps(result, default=str)[:300])
        self._delete(message)

    def _delete(self, message: dict[str, Any]) -> None:
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001
                log.exception("polling %s failed; retrying", self.queue_url)
                stop.wait(1.0)


class HttpApiGateway:
    """A WSGI app in front of ``function`` behaving as an HTTP API ``$default`` route with a
    Lambda proxy integration (payload format 2.0; see the module doc). ``api_id``, ``stage``,
    ``account_id`` go into ``requestContext``."""

    TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "application/xml",
                  "application/javascript")

    def __init__(self, function: Function, *, api_id: str = "local", account_id: str = "123456789012",
                 site_headers: dict[str, str] | None = None, api_prefix: str = "/api/"):
        self.function = function
        self.api_id = api_id
        self.account_id = account_id
        self.site_headers = dict(site_headers or {})
        self.api_prefix = api_prefix

    def event(self, environ: dict[str, Any], body: bytes) -> dict[str, Any]:
        """The payload 2.0 event of one WSGI request."""
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                name = key[5:].replace("_", "-").lower()
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                name = key.replace("_", "-").lower()
            else:
                continue
            if name == "cookie":
                cookies += [c.strip() for c in str(value).split(";") if c.strip()]
                continue
            headers[name] = f"{headers[name]},{value}" if name in headers else str(value)
        host = headers.get("host", "localhost")
        headers.setdefault("x-forwarded-proto", environ.get("wsgi.url_scheme", "http"))
        headers.setdefault("x-forwarded-port", str(environ.get("SERVER_PORT", "")))
        headers.setdefault("x-forwarded-for", environ.get("REMOTE_ADDR", "127.0.0.1"))
        raw_query = environ.get("QUERY_STRING", "")
        query: dict[str, str] = {}
        for k, v in parse_qsl(raw_query, keep_blank_values=True):
            query[k] = f"{query[k]},{v}" if k in query else v
        path = environ.get("PATH_INFO", "/") or "/"
        raw_bytes = path.encode("latin-1", "replace")
        raw_path = raw_bytes.decode("utf-8", "replace")
        now = dt.datetime.now(dt.UTC)
        event: dict[str, Any] = {
            "version": "2.0", "routeKey": "$default", "rawPath": _quote_path(raw_bytes),
            "rawQueryString": raw_query, "headers": headers,
            "requestContext": {
                "accountId": self.account_id, "apiId": self.api_id, "domainName": host.split(":")[0],
                "domainPrefix": host.split(".")[0],
                "http": {"method": environ.get("REQUEST_METHOD", "GET"), "path": raw_path,
                         "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                         "sourceIp": environ.get("REMOTE_ADDR", "127.0.0.1"),
                         "userAgent": headers.get("user-agent", "")},
                "requestId": str(uuid.uuid4()), "routeKey": "$default", "stage": "$default",
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "timeEpoch": int(now.timestamp() * 1000)},
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if body:
            content_type = headers.get("content-type", "")
            if content_type.startswith(self.TEXT_TYPES):
                try:
                    event["body"] = body.decode("utf-8")
                except UnicodeDecodeError:
                    event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
            else:
                event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        return event

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_REQUEST_BYTES:
            return _plain(start_response, 413, {"message": "Request Entity Too Large"})
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            response = self.function.invoke(self.event(environ, body))
        except Exception:  # the integration failed: API Gateway answers 500
            log.exception("%s raised", self.function.name)
            return _plain(start_response, 500, {"message": "Internal Server Error"})
        if not isinstance(response, dict) or "statusCode" not in response:
            return _plain(start_response, 500, {"message": "Internal Server Error"})
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else str(payload).encode()
        if len(json.dumps(response)) > MAX_RESPONSE_BYTES:
            log.error("%s answered more than 6 MB (Lambda refuses such a response)", self.function.name)
            return _plain(start_response, 502, {"message": "Internal Server Error"})
        headers = [(k, str(v)) for k, v in (response.get("headers") or {}).items()
                   if k.lower() not in ("content-length", "transfer-encoding", "connection")]
        if self.site_headers and not environ.get("PATH_INFO", "/").startswith(self.api_prefix):
            # CloudFront's default behaviour: the site, with the template's response headers policy
            names = {k.lower() for k in self.site_headers}
            headers = [(k, v) for k, v in headers if k.lower() not in names] + list(self.site_headers.items())
        headers += [("Set-Cookie", c) for c in response.get("cookies") or []]
        headers.append(("Content-Length", str(len(data))))
        headers.append(("apigw-requestid", str(uuid.uuid4())))
        from werkzeug.http import HTTP_STATUS_CODES

        status = int(response["statusCode"])
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'Status')}", headers)
        return [data]


def _quote_path(path: bytes) -> str:
    """The percent-encoded request path (``rawPath``) of the decoded WSGI ``PATH_INFO`` bytes."""
    from urllib.parse import quote

    return quote(path, safe="/-_.~!$&'()*+,;=:@")


def _plain(start_response: Callable, status: int, body: dict[str, Any]) -> list[bytes]:
    from werkzeug.http import HTTP_STATUS_CODES

    data = json.dumps(body).encode()
    start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'Error')}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
