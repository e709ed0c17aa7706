"""``reko stack up`` / ``down`` / ``status``: the AWS pipeline of ``infra/template.yaml`` on one
machine, every service behind real HTTP.

``up`` starts, each as its own process group (:mod:`.component`):

1. moto in server mode (S3, SQS, DynamoDB, EventBridge);
2. the Rekognition endpoint over the local engine (:mod:`.rekognition_server`);
3. the local MediaConvert (:mod:`.mediaconvert_server`), writing to moto's S3 and putting job
   state events on moto's EventBridge;
4. a local OpenSearch (``infra/opensearch/start.sh``), unless one already answers;

then creates the template's resources from the template itself (:class:`.template.StackPlan`:
the media bucket with its configuration and ``uploads/`` notification, the four DynamoDB
tables, the FIFO frames queue with its DLQ and redrive policy, the failed-events queue, the
EventBridge rule with the template's pattern, the face collection), and starts one runner per
function (:mod:`.lambda_runtime`): ``OnUploadFunction`` (S3 notification → its event queue →
``on_upload``), ``JobStateFunction`` (rule → its event queue → ``on_job_state``),
``FramesFunction`` (SQS event source mapping → ``on_frames``) and ``WebFunction`` (the HTTP API
→ ``web``). Every runner gets the template's environment for its function (``Globals`` and its
own variables, resolved), with local values for what names AWS-only resources
(:data:`LOCAL_SUBSTITUTIONS`) and ``AWS_ENDPOINT_URL_S3`` / ``_SQS`` / ``_DYNAMODB`` /
``_EVENTBRIDGE`` / ``_MEDIACONVERT`` / ``_REKOGNITION`` pointing at the local endpoints (boto3 ≥
1.28 reads them; "Service-specific endpoints", AWS SDKs and Tools Reference Guide), fake
credentials, and an empty AWS config so nothing of the user's ``~/.aws`` leaks in.

State (pids, process groups, ports, endpoints, the resources' names) is in
``<REKO_DATA_DIR>/stack/<name>/state.json``, logs in ``.../logs/<component>.log``. ``up`` on a
running stack restarts what died (same ports) and changes nothing else; ``down`` stops every
process group it started (SIGTERM, then SIGKILL after a grace period), checks that none of
their processes is left, stops OpenSearch if ``up`` started it, and drops the stack's index
(moto keeps its data in memory, so everything else is gone with it). ``status`` says what runs
where.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ...errors import FaultError, RekoError
from .template import ACCOUNT_ID, REGION, StackPlan, TemplateError, apply_overrides, default_template, load_template

HOST = "127.0.0.1"
DEFAULT_OPENSEARCH_URL = "http://127.0.0.1:9200"
START_TIMEOUT_S = 120.0  #: how long a component may take to say it is ready
STOP_GRACE_S = 10.0  #: SIGTERM → SIGKILL delay per process group
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
#: The services moto serves for the stack, as their boto3 endpoint variables' suffixes.
MOTO_SERVICES = ("S3", "SQS", "DYNAMODB", "EVENTBRIDGE")
#: Template environment variables whose value names a resource only AWS has, with what the
#: local stack puts there instead (see :meth:`Stack._substitutions`).
LOCAL_SUBSTITUTIONS = {
    "REKO_INDEX_URL": "the local OpenSearch (the template: the OpenSearch Service domain, SigV4 over HTTPS)",
    "REKO_INDEX_NAME": "reko-frames-stack-<name> (the template: reko-frames; a local OpenSearch is shared)",
    "REKO_DATA_DIR": "<stack dir>/functions/<function>/tmp (the template: Lambda's /tmp)",
    "REKO_AUTH_TOKEN": "the stack's token (the template: resolved from Secrets Manager)",
}
FUNCTION_COMPONENTS = {"OnUploadFunction": "on-upload", "JobStateFunction": "job-state",
                       "FramesFunction": "frames", "WebFunction": "web"}


class StackError(RekoError):
    """The local stack could not be started, stopped or read (the message says what to do)."""


@dataclass
class StackConfig:
    """What ``reko stack up`` was asked for.

    ``parameters``: template parameter values (``Features=text``); ``overrides``: resource
    property changes (``FramesQueue.VisibilityTimeout=10``, see
    :func:`.template.apply_overrides`); ``opensearch_url``: an OpenSearch to use (default: the
    one at :data:`DEFAULT_OPENSEARCH_URL`, started with ``infra/opensearch/start.sh`` when
    nothing answers there); ``frames_concurrency``: frames runner processes (at most the
    template's ``MaximumConcurrency``); ``token``: the web API's access token (default: a new
    random one; empty: no token); ``async_retry_delays_s``: waits before retrying a failed
    asynchronous invocation (Lambda's are 60 and 120 s).
    """

    template: Path = field(default_factory=default_template)
    parameters: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    opensearch_url: str | None = None
    frames_concurrency: int = 1
    token: str | None = None
    async_retry_delays_s: tuple[int, ...] = (60, 120)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    except PermissionError:
        return True


def group_members(pgid: int) -> list[int]:
    """The live (non-zombie) processes of process group ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def _free_port(host: str = HOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _http_ok(url: str, timeout_s: float = 2.0) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - loopback URLs
            return 200 <= response.status < 300
    except Exception:  # noqa: BLE001
        return False


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stacks_root(data_dir: Path) -> Path:
    """``<data dir>/stack``: where every local stack keeps its state."""
    return Path(data_dir) / "stack"


class Stack:
    """The local stack ``name`` whose state lives under ``<data_dir>/stack/<name>``.

    ``echo``: called with progress lines (the CLI prints them on stderr).
    """

    def __init__(self, name: str, data_dir: Path, echo: Callable[[str], None] = lambda line: None):
        self.name = name
        self.dir = stacks_root(data_dir).absolute() / name
        self.state_path = self.dir / "state.json"
        self.logs = self.dir / "logs"
        self.echo = echo

    # -- state -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any] | None:
        """The saved state, or None when the stack was never started (or was taken down)."""
        try:
            return json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise StackError(f"the stack state {self.state_path} is unreadable; remove it after "
                             "checking no stack process is left", detail=str(exc)) from None

    def _save(self, state: dict[str, Any]) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_path)

    def _lock(self) -> Any:
        from filelock import FileLock

        self.dir.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.dir / ".lock"), timeout=600)

    # -- processes ---------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], env: dict[str, str], wait: bool = True) -> dict[str, Any]:
        """Start one component in its own session and wait for its ready file."""
        self.logs.mkdir(parents=True, exist_ok=True)
        ready = self.dir / "run" / f"{name}.ready"
        ready.parent.mkdir(parents=True, exist_ok=True)
        ready.unlink(missing_ok=True)
        full = [*argv, "--ready", str(ready)]
        log_path = self.logs / f"{name}.log"
        with open(log_path, "ab") as log:
            log.write(f"\n--- {dt.datetime.now().isoformat(timespec='seconds')} start {name}\n".encode())
            log.flush()
            process = subprocess.Popen(full, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       cwd=str(self.dir), start_new_session=True)
        component = {"pid": process.pid, "pgid": process.pid, "argv": argv, "env": env,
                     "log": str(log_path), "ready": str(ready), "port": None}
        if wait:
            self._wait_ready(name, component, process)
        return component

    def _wait_ready(self, name: str, component: dict[str, Any], process: Any = None) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        ready = Path(component["ready"])
        while time.monotonic() < deadline:
            if ready.exists():
                component["port"] = json.loads(ready.read_text()).get("port")
                return
            exited = process.poll() if process is not None else (None if _alive(component["pid"]) else 1)
            if exited is not None:
                raise StackError(f"the {name} component exited while starting (see {component['log']})",
                                 detail=_tail(Path(component["log"])))
            time.sleep(0.1)
        raise StackError(f"the {name} component did not start within {START_TIMEOUT_S:.0f} s "
                         f"(see {component['log']})", detail=_tail(Path(component["log"])))

    @staticmethod
    def _stop_group(pgid: int, grace_s: float = STOP_GRACE_S) -> list[int]:
        """SIGTERM process group ``pgid``, SIGKILL what is left after ``grace_s``; returns the
        pids still alive after that (normally none)."""
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            if not group_members(pgid):
                return []
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                return []
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and group_members(pgid):
                time.sleep(0.1)
        return group_members(pgid)

    # -- up ------------------------------------------------------------------------------------
    def up(self, config: StackConfig) -> dict[str, Any]:
        """Start the stack (or restart the components of a running one that died); returns
        the state. Raises StackError (after stopping whatever it started) when a component
        cannot start or a resource cannot be created."""
        with self._lock():
            state = self.state()
            if state is not None:
                moto = state["components"].get("moto")
                if moto and _alive(moto["pid"]):
                    differs = {k: v for k, v in config.parameters.items() if state["parameters"].get(k) != str(v)}
                    if differs or (config.overrides and config.overrides != state["overrides"]):
                        self.echo(f"stack {self.name} is already up with other settings "
                                  f"({state['parameters']}, overrides {state['overrides']}); they are kept: "
                                  f"reko stack down first to change them")
                    return self._revive(state)
                self.echo(f"stack {self.name}: moto is gone (its data with it); starting again")
                self._down(state)
            return self._start(config)

    def _revive(self, state: dict[str, Any]) -> dict[str, Any]:
        for name, component in list(state["components"].items()):
            if group_members(component["pgid"]) and _alive(component["pid"]):
                continue
            self.echo(f"stack {self.name}: restarting {name}")
            self._stop_group(component["pgid"], 2.0)
            argv = list(component["argv"])
            if component.get("port") and "--port" not in argv:
                argv += ["--port", str(component["port"])]  # clients know it by this port
            revived = self._spawn(name, argv, component["env"])
            if component.get("function"):
                revived["function"] = component["function"]
            state["components"][name] = revived
            self._save(state)
        return state

    def _start(self, config: StackConfig) -> dict[str, Any]:
        template = apply_overrides(load_template(config.template), config.overrides)
        plan = StackPlan(template, config.parameters, stack_name=self.name)
        shutil.rmtree(self.dir / "run", ignore_errors=True)
        for sub in ("functions", "rekognition", "mediaconvert", "aws"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(24) if config.token is None else config.token
        state: dict[str, Any] = {
            "name": self.name, "dir": str(self.dir), "started": dt.datetime.now().isoformat(timespec="seconds"),
            "template": str(config.template), "parameters": plan.resolver.parameters,
            "overrides": config.overrides, "components": {}, "endpoints": {}, "token": token,
            "opensearch_started": False, "resources": {}, "account_id": ACCOUNT_ID, "region": REGION,
        }
        self._save(state)
        try:
            self._start_services(state, config, plan)
            self._create_resources(state, plan)
            self._start_functions(state, config, plan)
        except BaseException as exc:
            self.echo(f"stack {self.name}: start failed; stopping what was started")
            self._down(self.state() or state, quiet=True)
            if isinstance(exc, Exception) and not isinstance(exc, RekoError):
                raise StackError(f"the stack could not be created: {type(exc).__name__}: {str(exc)[:300]}",
                                 detail=repr(exc)) from exc
            raise
        self._save(state)
        return state

    def _base_env(self) -> dict[str, str]:
        """The environment every component starts from: this one without ``REKO_*``, ``AWS_*``
        and ``POWERTOOLS_*``, plus fake credentials, the region and an empty AWS config."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REKO_", "AWS_", "POWERTOOLS_"))}
        empty = self.dir / "aws" / "empty"
        empty.touch()
        env.update(FAKE_CREDENTIALS, AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION,
                   AWS_CONFIG_FILE=str(empty), AWS_SHARED_CREDENTIALS_FILE=str(empty),
                   AWS_EC2_METADATA_DISABLED="true", PYTHONUNBUFFERED="1")
        return env

    def endpoint_env(self, state: Mapping[str, Any]) -> dict[str, str]:
        """``AWS_ENDPOINT_URL_<SERVICE>`` for every local endpoint of ``state``."""
        endpoints = state["endpoints"]
        env = {f"AWS_ENDPOINT_URL_{s}": endpoints["moto"] for s in MOTO_SERVICES if "moto" in endpoints}
        if "mediaconvert" in endpoints:
            env["AWS_ENDPOINT_URL_MEDIACONVERT"] = endpoints["mediaconvert"]
        if "rekognition" in endpoints:
            env["AWS_ENDPOINT_URL_REKOGNITION"] = endpoints["rekognition"]
        return env

    def _component_argv(self, kind: str, *extra: str) -> list[str]:
        return [sys.executable, "-m", "reko.pipeline.stack.component", kind, "--host", HOST, *extra]

    def _start_services(self, state: dict[str, Any], config: StackConfig, plan: StackPlan) -> None:
        components, endpoints = state["components"], state["endpoints"]
        base = self._base_env()
        self.echo(f"stack {self.name}: starting moto (S3, SQS, DynamoDB, EventBridge)")
        components["moto"] = self._spawn("moto", self._component_argv("moto"), base)
        endpoints["moto"] = f"http://{HOST}:{components['moto']['port']}"
        self._save(state)
        features = plan.resolver.parameters.get("Features", "")
        self.echo(f"stack {self.name}: starting the Rekognition endpoint and MediaConvert")
        rek = self._spawn("rekognition", self._component_argv(
            "rekognition", "--data-dir", str(self.dir / "rekognition"), "--preload", features), base, wait=False)
        mc_env = {**base, **self.endpoint_env(state)}
        mc = self._spawn("mediaconvert", self._component_argv(
            "mediaconvert", "--work-dir", str(self.dir / "mediaconvert")), mc_env, wait=False)
        components["rekognition"], components["mediaconvert"] = rek, mc
        self._save(state)
        self._wait_ready("rekognition", rek)
        self._wait_ready("mediaconvert", mc)
        endpoints["rekognition"] = f"http://{HOST}:{rek['port']}"
        endpoints["mediaconvert"] = f"http://{HOST}:{mc['port']}"
        endpoints["opensearch"] = self._opensearch(state, config)
        endpoints["web"] = f"http://{HOST}:{_free_port()}"
        self._save(state)

    def _opensearch(self, state: dict[str, Any], config: StackConfig) -> str:
        url = (config.opensearch_url or DEFAULT_OPENSEARCH_URL).rstrip("/")
        if _http_ok(f"{url}/_cluster/health"):
            self.echo(f"stack {self.name}: using the OpenSearch at {url}")
            return url
        if config.opensearch_url:
            raise StackError(f"no OpenSearch answers at {url}; start it or leave --opensearch-url out")
        script = default_template().parents[0] / "opensearch" / "start.sh"
        if not script.exists():
            raise StackError("no OpenSearch at http://127.0.0.1:9200 and no infra/opensearch/start.sh to "
                             "start one; pass --opensearch-url")
        self.echo(f"stack {self.name}: starting OpenSearch ({script})")
        state["opensearch_started"] = True
        self._save(state)
        result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise StackError("OpenSearch did not start (infra/opensearch/start.sh failed)",
                             detail=(result.stderr or result.stdout)[-1000:])
        return url

    def clients(self, state: Mapping[str, Any], service: str) -> Any:
        """A boto3 client of ``service`` talking to the stack (fake credentials)."""
        import boto3

        endpoint = {"mediaconvert": "mediaconvert", "rekognition": "rekognition"}.get(service, "moto")
        return boto3.client(service, endpoint_url=state["endpoints"][endpoint], region_name=REGION,
                            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])

    def _create_resources(self, state: dict[str, Any], plan: StackPlan) -> None:
        """The template's resources on moto and the Rekognition endpoint (see the module doc)."""
        resources = state["resources"]
        resolver = plan.resolver
        sqs, s3 = self.clients(state, "sqs"), self.clients(state, "s3")
        dynamodb, events = self.clients(state, "dynamodb"), self.clients(state, "events")
        self.echo(f"stack {self.name}: creating the template's queues, tables, bucket, rule and collection")
        queues = resources.setdefault("queues", {})
        for queue in plan.queues():
            url = sqs.create_queue(QueueName=queue.name, Attributes=queue.attributes)["QueueUrl"]
            resolver.refs[queue.logical_id] = url
            queues[queue.logical_id] = {"name": queue.name, "url": url, "arn": resolver.get_att(queue.logical_id, "Arn")}
        for table in plan.tables():
            dynamodb.create_table(**table.request)
            if table.ttl:
                dynamodb.update_time_to_live(TableName=table.request["TableName"], TimeToLiveSpecification=table.ttl)
            resources.setdefault("tables", {})[table.logical_id] = table.request["TableName"]
        functions = {f.logical_id: f for f in plan.functions()}
        event_queues = resources.setdefault("event_queues", {})
        for function in functions.values():  # Lambda's internal queue of asynchronous events
            if plan.event(function, "S3") or plan.event(function, "EventBridgeRule"):
                name = f"{self.name}-{FUNCTION_COMPONENTS.get(function.logical_id, function.logical_id)}-events"
                url = sqs.create_queue(QueueName=name, Attributes={
                    "VisibilityTimeout": str(function.timeout_s)})["QueueUrl"]
                event_queues[function.logical_id] = {
                    "url": url, "arn": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"}
        for bucket in plan.buckets(cors_origin=state["endpoints"]["web"]):
            s3.create_bucket(Bucket=bucket.name)
            for method, request in bucket.configuration.items():
                getattr(s3, method)(Bucket=bucket.name, **request)
            notifications = [plan.s3_notification(f, event_queues[f.logical_id]["arn"])
                             for f in functions.values() if plan.event(f, "S3")
                             and self._bucket_of(plan, f) == bucket.name]
            if notifications:
                s3.put_bucket_notification_configuration(Bucket=bucket.name, NotificationConfiguration={
                    "QueueConfigurations": [n for n in notifications if n]})
            resources.setdefault("buckets", {})[bucket.logical_id] = bucket.name
        for function in functions.values():
            rule = plan.event(function, "EventBridgeRule")
            if rule is None:
                continue
            name = f"{self.name}-{FUNCTION_COMPONENTS.get(function.logical_id, function.logical_id)}"
            events.put_rule(Name=name, EventPattern=json.dumps(rule["Pattern"]), State="ENABLED",
                            EventBusName=rule.get("EventBusName", "default"))
            events.put_targets(Rule=name, EventBusName=rule.get("EventBusName", "default"), Targets=[
                {"Id": function.logical_id, "Arn": event_queues[function.logical_id]["arn"]}])
            resources.setdefault("rules", {})[function.logical_id] = name
        rekognition = self.clients(state, "rekognition")
        for collection in plan.collections():
            try:
                rekognition.create_collection(CollectionId=collection)
            except rekognition.exceptions.ResourceAlreadyExistsException:
                pass
            resources.setdefault("collections", []).append(collection)
        self._save(state)

    @staticmethod
    def _bucket_of(plan: StackPlan, function: Any) -> str:
        event = plan.event(function, "S3") or {}
        return str(event.get("Bucket", ""))

    def _substitutions(self, state: Mapping[str, Any], function: str) -> dict[str, str]:
        tmp = self.dir / "functions" / function / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return {"REKO_INDEX_URL": state["endpoints"]["opensearch"], "REKO_INDEX_NAME": self.index_name(),
                "REKO_DATA_DIR": str(tmp), "REKO_AUTH_TOKEN": state["token"]}

    def index_name(self) -> str:
        """The stack's OpenSearch index (alias) name."""
        return f"reko-frames-stack-{self.name}"

    def function_env(self, state: Mapping[str, Any], plan: StackPlan, logical_id: str) -> dict[str, str]:
        """The environment of a function's runner: the template's variables (resolved, with the
        local substitutions), the endpoints, fake credentials and Lambda's own variables."""
        function = plan.function(logical_id)
        env = self._base_env()
        env.update(self.endpoint_env(state))
        env.update(plan.environment(function, self._substitutions(state, logical_id)))
        env.update(AWS_LAMBDA_FUNCTION_NAME=f"{self.name}-{logical_id}", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
                   AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(function.memory_mb), _HANDLER=function.handler,
                   AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{self.name}-{logical_id}")
        return env

    def _start_functions(self, state: dict[str, Any], config: StackConfig, plan: StackPlan) -> None:
        for logical, queue in state["resources"]["queues"].items():
            plan.resolver.refs[logical] = queue["url"]
        components, resources = state["components"], state["resources"]
        started = []
        for function in plan.functions():
            label = FUNCTION_COMPONENTS.get(function.logical_id, function.logical_id)
            name = f"{self.name}-{function.logical_id}"
            spec: dict[str, Any] = {"name": name, "handler": function.handler, "memory_mb": function.memory_mb,
                                    "timeout_s": function.timeout_s, "account_id": ACCOUNT_ID, "region": REGION,
                                    "arn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"}
            copies = 1
            port: int | None = None
            sqs_event = plan.event(function, "SQS")
            if plan.event(function, "HttpApi") is not None:
                spec["mode"] = "http"
                spec["site_headers"] = plan.site_headers({"Media": state["endpoints"]["moto"]})
                port = int(state["endpoints"]["web"].rsplit(":", 1)[1])
            elif sqs_event is not None:
                queue_logical = next(lid for lid, q in resources["queues"].items() if q["arn"] == sqs_event["Queue"])
                maximum = int((sqs_event.get("ScalingConfig") or {}).get("MaximumConcurrency", 1000))
                copies = max(1, min(config.frames_concurrency, maximum))
                spec.update(mode="sqs", queue_url=resources["queues"][queue_logical]["url"], queue_arn=sqs_event["Queue"],
                            batch_size=int(sqs_event.get("BatchSize", 10)),
                            report_failures="ReportBatchItemFailures" in (sqs_event.get("FunctionResponseTypes") or []))
            elif function.logical_id in resources.get("event_queues", {}):
                dlq = resources["queues"].get(function.dead_letter_queue or "", {}).get("url")
                spec.update(mode="async", queue_url=resources["event_queues"][function.logical_id]["url"],
                            max_retry_attempts=function.max_retry_attempts, dead_letter_url=dlq,
                            retry_delays_s=list(config.async_retry_delays_s))
            else:
                continue
            spec_path = self.dir / "functions" / f"{function.logical_id}.json"
            spec_path.write_text(json.dumps(spec, indent=2))
            env = self.function_env(state, plan, function.logical_id)
            (self.dir / "functions" / f"{function.logical_id}.env.json").write_text(json.dumps(env, indent=2))
            for copy in range(copies):
                component = label if copies == 1 else f"{label}-{copy + 1}"
                argv = self._component_argv("function", "--spec", str(spec_path),
                                            *(("--port", str(port)) if port else ()))
                self.echo(f"stack {self.name}: starting {function.logical_id} ({spec['mode']}) as {component}")
                components[component] = self._spawn(component, argv, env, wait=False)
                components[component]["function"] = function.logical_id
                started.append(component)
                self._save(state)
        for component in started:
            self._wait_ready(component, components[component])

        self._save(state)

    # -- down ----------------------------------------------------------------------------------
    def down(self) -> dict[str, Any]:
        """Stop every process the stack started and drop its index. Returns ``{"stopped":
        [component names], "left": [pids still alive], "opensearch_stopped": bool}``."""
        if not self.state_path.exists():
            return {"stopped": [], "left": [], "opensearch_stopped": False}
        with self._lock():
            state = self.state()
            if state is None:
                return {"stopped": [], "left": [], "opensearch_stopped": False}
            return self._down(state)

    def _down(self, state: dict[str, Any], quiet: bool = False) -> dict[str, Any]:
        stopped, left = [], []
        if state.get("endpoints", {}).get("opensearch"):
            try:
                from ..index import open_index

                index = open_index(state["endpoints"]["opensearch"], self.index_name())
                # an OpenSearch index (the stack runs no other); drop() is not on IndexBackend
                drop = getattr(index, "drop", None)
                if not callable(drop):
                    raise TypeError(f"{type(index).__name__} has no drop()")
                drop()
            except Exception as exc:  # noqa: BLE001 - dropping the index is best effort
                if not quiet:
                    self.echo(f"stack {self.name}: could not drop the index {self.index_name()}: {exc}")
        for name, component in reversed(list(state.get("components", {}).items())):
            remaining = self._stop_group(int(component["pgid"]))
            stopped.append(name)
            left += remaining
            if not quiet:
                self.echo(f"stack {self.name}: stopped {name}" + (f" (still alive: {remaining})" if remaining else ""))
        opensearch_stopped = False
        if state.get("opensearch_started"):
            script = default_template().parents[0] / "opensearch" / "stop.sh"
            if script.exists():
                subprocess.run(["bash", str(script)], capture_output=True, timeout=120)
                opensearch_stopped = True
                if not quiet:
                    self.echo(f"stack {self.name}: stopped the OpenSearch it had started")
        if left:
            raise StackError(f"processes of the stack are still alive: {left}; stop them by hand",
                             detail=json.dumps(left))
        self.state_path.unlink(missing_ok=True)
        shutil.rmtree(self.dir / "run", ignore_errors=True)
        return {"stopped": stopped, "left": left, "opensearch_stopped": opensearch_stopped}

    # -- status --------------------------------------------------------------------------------
    def status(self) -> dict[str, Any] | None:
        """What runs where: ``{"name", "components": {name: {"pid", "port", "alive", "log"}},
        "endpoints", "env", "bucket", "token", "parameters", "overrides"}``, or None when the
        stack is not up."""
        state = self.state()
        if state is None:
            return None
        components = {name: {"pid": c["pid"], "port": c.get("port"), "alive": _alive(c["pid"]),
                             "function": c.get("function"), "log": c["log"]}
                      for name, c in state["components"].items()}
        return {"name": self.name, "dir": state["dir"], "started": state["started"], "components": components,
                "endpoints": state["endpoints"], "env": self.exports(state),
                "bucket": next(iter(state["resources"].get("buckets", {}).values()), None),
                "queues": {k: v["url"] for k, v in state["resources"].get("queues", {}).items()},
                "index": self.index_name(), "token": state["token"], "parameters": state["parameters"],
                "overrides": state["overrides"]}

    def exports(self, state: Mapping[str, Any]) -> dict[str, str]:
        """The environment a client needs to use the stack (``aws s3 cp``, boto3): the endpoint
        variables, fake credentials, the region, and ``REKO_STACK_*`` for the web API."""
        env = {**self.endpoint_env(state), **FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION}
        env["REKO_STACK_WEB_URL"] = state["endpoints"].get("web", "") + "/"
        env["REKO_STACK_BUCKET"] = next(iter(state["resources"].get("buckets", {}).values()), "")
        env["REKO_STACK_TOKEN"] = state.get("token", "")
        return env


def shell_exports(env: Mapping[str, str]) -> str:
    """``export NAME=value`` lines (values shell-quoted)."""
    import shlex

    return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in env.items())


def parse_assignments(items: tuple[str, ...] | list[str], what: str) -> dict[str, Any]:
    """``("Name=value", ...)`` as a dict; values are read as YAML scalars (``10`` → 10).

    Raises:
        TemplateError: an item without ``=``.
    """
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise TemplateError(f"{what} {item!r} must be NAME=VALUE")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out


def require_running(stack: Stack) -> dict[str, Any]:
    """The state of a running stack.

    Raises:
        FaultError: the stack is not up.
    """
    state = stack.state()
    if state is None:
        raise FaultError(f"the local stack {stack.name!r} is not up; run: reko stack up")
    return state
