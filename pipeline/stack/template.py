"""``infra/template.yaml`` read as the one description of the local stack.

The SAM template is parsed with CloudFormation's short tags (``!Ref``, ``!Sub``, ``!GetAtt``,
``!If``, ``!FindInMap`` … become the long-form ``{"Ref": ...}`` / ``{"Fn::Sub": ...}`` dicts,
as the AWS CLI's and aws-sam-translator's YAML helpers make them), its parameters, pseudo
parameters and conditions are evaluated, and the resources the local stack reproduces are
turned into the API calls that create them (:class:`StackPlan`):

| template | local stack |
|---|---|
| ``AWS::S3::Bucket`` ``MediaBucket`` | ``CreateBucket`` + encryption, public access block, ownership controls, CORS (origin: the local web endpoint), lifecycle rules |
| the ``S3`` event of ``OnUploadFunction`` | the bucket's notification (same events and key filter), delivered to the function's event queue |
| ``AWS::DynamoDB::Table`` × 4 | ``CreateTable`` (+ ``UpdateTimeToLive``) |
| ``AWS::SQS::Queue`` × 3 | ``CreateQueue`` with the template's attributes and redrive policy |
| the ``EventBridgeRule`` event of ``JobStateFunction`` | ``PutRule`` with the same pattern + a target |
| the ``SQS`` event of ``FramesFunction`` | the runner's event source mapping (batch size, partial batch responses, concurrency) |
| ``AWS::Rekognition::Collection`` | ``CreateCollection`` on the local Rekognition endpoint |
| ``AWS::Serverless::Function`` × 4 | a runner per function: its ``Handler``, ``Timeout``, ``MemorySize`` and environment (``Globals`` + its own) |

Nothing else is created (IAM roles and bucket policies are not enforced by moto, CloudFront
and the site bucket are replaced by the web function serving the site, OpenSearch Service by a
local OpenSearch, Secrets Manager by a token kept in the stack's state, alarms and log groups
by log files). Values AWS would compute (ARNs, the queue URLs, the OpenSearch endpoint, the
CloudFront domain) are the local stack's; see :class:`Resolver`.

Local deviations are explicit: ``overrides`` (``FramesQueue.VisibilityTimeout=10``) change a
resource property before anything is resolved, and are listed in ``reko stack status``.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ...errors import SettingsError

ACCOUNT_ID = "123456789012"  #: moto's default account
REGION = "us-east-1"


class TemplateError(SettingsError):
    """The template cannot be read or asks for something the local stack cannot give."""


# -- YAML with CloudFormation's short tags ------------------------------------------------------
def _loader() -> type:
    import yaml

    class CfnLoader(yaml.SafeLoader):
        """A SafeLoader that turns ``!Tag value`` into CloudFormation's long form."""

    def construct(loader: Any, suffix: str, node: Any) -> dict[str, Any]:
        tag = node.tag[1:]
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {tag if tag in ("Ref", "Condition") else f"Fn::{tag}": value}

    CfnLoader.add_multi_constructor("!", construct)
    return CfnLoader


def load_template(path: str | Path) -> dict[str, Any]:
    """The template at ``path`` as a dict, intrinsic functions in long form.

    Raises:
        TemplateError: the file is missing or not YAML.
    """
    import yaml

    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise TemplateError(f"cannot read the SAM template {path}: {exc.strerror}; pass --template") from None
    try:
        data = yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path} is not a valid template: {exc}") from None
    if not isinstance(data, dict) or "Resources" not in data:
        raise TemplateError(f"{path} has no Resources")
    return data


def default_template() -> Path:
    """``infra/template.yaml`` of the checkout this package runs from."""
    return Path(__file__).resolve().parents[2] / "infra" / "template.yaml"


def apply_overrides(template: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``template`` with resource properties replaced: ``{"FramesQueue.VisibilityTimeout":
    10, "FramesQueue.RedrivePolicy.maxReceiveCount": 3}`` (``<LogicalId>.<Property>[.<key>…]``).

    Raises:
        TemplateError: no such resource, or the path crosses a non-mapping.
    """
    out = copy.deepcopy(template)
    for path, value in overrides.items():
        logical, _, prop = path.partition(".")
        resource = out["Resources"].get(logical)
        if resource is None or not prop:
            raise TemplateError(f"override {path!r}: the template has no resource {logical!r} "
                                "(use <LogicalId>.<Property>=<value>)")
        node = resource.setdefault("Properties", {})
        keys = prop.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise TemplateError(f"override {path!r}: {key} is not a mapping in the template")
        node[keys[-1]] = value
    return out


# -- intrinsic functions --------------------------------------------------------------------------
class _NoValue:
    """``AWS::NoValue``: the member it is the value of is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()
_SUB = re.compile(r"\$\{([^}]+)\}")


class Resolver:
    """Evaluates CloudFormation intrinsic functions over a template for the local stack.

    ``parameters``: values for the template's parameters (strings, as CloudFormation passes
    them; defaults come from the template); ``pseudo``: ``AWS::StackName``, ``AWS::AccountId``,
    ``AWS::Region``, ``AWS::Partition``, ``AWS::URLSuffix``; ``refs``/``attrs``: values of
    ``Ref <LogicalId>`` and ``GetAtt <LogicalId>.<Attribute>`` the local stack knows (filled as
    resources are created); what is not there is computed by resource type (ARNs, names) in
    :meth:`ref` and :meth:`get_att`.
    """

    def __init__(self, template: dict[str, Any], parameters: Mapping[str, Any] | None = None, *,
                 stack_name: str = "reko", account_id: str = ACCOUNT_ID, region: str = REGION,
                 refs: dict[str, Any] | None = None, attrs: dict[tuple[str, str], Any] | None = None):
        self.template = template
        self.resources: dict[str, Any] = template.get("Resources", {})
        declared = template.get("Parameters", {})
        unknown = set(parameters or {}) - set(declared)
        if unknown:
            raise TemplateError(f"the template has no parameter {', '.join(sorted(unknown))}; it has "
                                f"{', '.join(declared)}")
        self.parameters = {name: str(spec.get("Default", "")) for name, spec in declared.items()}
        self.parameters.update({k: str(v) for k, v in (parameters or {}).items()})
        for name, spec in declared.items():
            allowed = spec.get("AllowedValues")
            if allowed is not None and self.parameters[name] not in [str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}={self.parameters[name]!r} is not one of {allowed}")
            pattern = spec.get("AllowedPattern")
            if pattern and not re.fullmatch(pattern, self.parameters[name]):
                raise TemplateError(f"parameter {name}={self.parameters[name]!r} does not match {pattern}")
        self.pseudo = {"AWS::StackName": stack_name, "AWS::AccountId": account_id, "AWS::Region": region,
                       "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
                       "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/local"}
        self.stack_name, self.account_id, self.region = stack_name, account_id, region
        self.refs: dict[str, Any] = refs if refs is not None else {}
        self.attrs: dict[tuple[str, str], Any] = attrs if attrs is not None else {}
        self._conditions: dict[str, bool] = {}

    # -- conditions --------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        """The value of the template's condition ``name``."""
        if name not in self._conditions:
            spec = self.template.get("Conditions", {}).get(name)
            if spec is None:
                raise TemplateError(f"the template has no condition {name!r}")
            self._conditions[name] = bool(self.resolve(spec))
        return self._conditions[name]

    # -- values ------------------------------------------------------------------------------
    def resolve(self, node: Any) -> Any:
        """``node`` with every intrinsic function evaluated and ``AWS::NoValue`` members removed.

        Raises:
            TemplateError: a function or reference the local stack cannot evaluate.
        """
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, value), = node.items()
            handler = self._functions().get(key)
            if handler is not None:
                return handler(value)
        out = {}
        for key, value in node.items():
            resolved = self.resolve(value)
            if resolved is not NO_VALUE:
                out[key] = resolved
        return out

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self._ref, "Fn::GetAtt": self._get_att, "Fn::Sub": self._sub,
            "Fn::If": self._if, "Fn::Equals": self._equals, "Fn::Not": self._not,
            "Fn::And": lambda v: all(self.resolve(x) for x in v),
            "Fn::Or": lambda v: any(self.resolve(x) for x in v),
            "Condition": lambda v: self.condition(v),
            "Fn::FindInMap": self._find_in_map, "Fn::Join": self._join,
            "Fn::Select": lambda v: self.resolve(v[1])[int(self.resolve(v[0]))],
            "Fn::Split": lambda v: str(self.resolve(v[1])).split(self.resolve(v[0])),
        }

    def _ref(self, name: Any) -> Any:
        name = self.resolve(name)
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.ref(name)

    def ref(self, logical_id: str) -> Any:
        """``Ref`` of a resource: what the local stack recorded, else by type (a bucket's or
        table's name, a collection's id, a queue's name …).

        Raises:
            TemplateError: unknown resource, or a value only creating the resource gives.
        """
        if logical_id in self.refs:
            return self.refs[logical_id]
        resource = self._resource(logical_id)
        kind, props = resource.get("Type", ""), resource.get("Properties", {})
        named = {"AWS::S3::Bucket": "BucketName", "AWS::DynamoDB::Table": "TableName",
                 "AWS::Rekognition::Collection": "CollectionId", "AWS::MediaConvert::Queue": "Name",
                 "AWS::Logs::LogGroup": "LogGroupName"}
        if kind in named and named[kind] in props:
            return self.resolve(props[named[kind]])
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function", "AWS::IAM::Role"):
            return f"{self.stack_name}-{logical_id}"
        if kind in ("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api"):
            return "local"  # the API id; the local HTTP API is the web function's gateway
        raise TemplateError(f"the local stack has no value for !Ref {logical_id} ({kind})")

    def _get_att(self, value: Any) -> Any:
        logical_id, attribute = self.resolve(value) if not isinstance(value, list) else \
            (self.resolve(value[0]), self.resolve(value[1]))
        return self.get_att(logical_id, attribute)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        """``GetAtt <logical_id>.<attribute>``: what the local stack recorded, else the ARN or
        name computed from the resource's type and properties.

        Raises:
            TemplateError: an attribute the local stack does not compute.
        """
        if (logical_id, attribute) in self.attrs:
            return self.attrs[(logical_id, attribute)]
        kind = self._resource(logical_id).get("Type", "")
        region, account = self.region, self.account_id
        if attribute == "Arn":
            if kind == "AWS::S3::Bucket":
                return f"arn:aws:s3:::{self.ref(logical_id)}"
            if kind == "AWS::DynamoDB::Table":
                return f"arn:aws:dynamodb:{region}:{account}:table/{self.ref(logical_id)}"
            if kind == "AWS::SQS::Queue":
                return f"arn:aws:sqs:{region}:{account}:{self.queue_name(logical_id)}"
            if kind == "AWS::Rekognition::Collection":
                return f"arn:aws:rekognition:{region}:{account}:collection/{self.ref(logical_id)}"
            if kind == "AWS::MediaConvert::Queue":
                return f"arn:aws:mediaconvert:{region}:{account}:queues/{self.ref(logical_id)}"
            if kind == "AWS::IAM::Role":
                return f"arn:aws:iam::{account}:role/{self.stack_name}-{logical_id}"
            if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
                return f"arn:aws:lambda:{region}:{account}:function:{self.ref(logical_id)}"
            if kind == "AWS::Logs::LogGroup":
                return f"arn:aws:logs:{region}:{account}:log-group:{self.ref(logical_id)}:*"
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return self.queue_name(logical_id)
        raise TemplateError(f"the local stack has no value for !GetAtt {logical_id}.{attribute} ({kind})")

    def queue_name(self, logical_id: str) -> str:
        """An SQS queue's name (``QueueName``; CloudFormation would generate one without it)."""
        props = self._resource(logical_id).get("Properties", {})
        if "QueueName" in props:
            return str(self.resolve(props["QueueName"]))
        suffix = ".fifo" if str(self.resolve(props.get("FifoQueue", False))).lower() == "true" else ""
        return f"{self.stack_name}-{logical_id}{suffix}"

    def _resource(self, logical_id: str) -> dict[str, Any]:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"the template has no resource {logical_id!r}")
        return resource

    def _sub(self, value: Any) -> str:
        if isinstance(value, list):
            text, variables = value[0], {k: self.resolve(v) for k, v in value[1].items()}
        else:
            text, variables = value, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return str(self.get_att(logical_id, attribute))
            return str(self._ref(name))

        return _SUB.sub(replace, text)

    def _if(self, value: list[Any]) -> Any:
        name, then, otherwise = value
        return self.resolve(then if self.condition(name) else otherwise)

    def _equals(self, value: list[Any]) -> bool:
        a, b = (self.resolve(v) for v in value)
        return str(a) == str(b)

    def _not(self, value: list[Any]) -> bool:
        return not self.resolve(value[0])

    def _find_in_map(self, value: list[Any]) -> Any:
        name, first, second = (self.resolve(v) for v in value)
        try:
            return self.template["Mappings"][name][first][second]
        except KeyError:
            raise TemplateError(f"!FindInMap [{name}, {first}, {second}] is not in the template") from None

    def _join(self, value: list[Any]) -> str:
        sep, items = value
        return str(self.resolve(sep)).join(str(i) for i in self.resolve(items))


# -- the plan ------------------------------------------------------------------------------------
@dataclass
class QueuePlan:
    """An ``AWS::SQS::Queue``: ``CreateQueue`` ``name`` and ``attributes`` (SQS attribute
    names, string values; ``RedrivePolicy`` as JSON)."""

    logical_id: str
    name: str
    attributes: dict[str, str]


@dataclass
class TablePlan:
    """An ``AWS::DynamoDB::Table``: the ``CreateTable`` ``request`` and ``UpdateTimeToLive``'s
    ``TimeToLiveSpecification`` (or None)."""

    logical_id: str
    request: dict[str, Any]
    ttl: dict[str, Any] | None = None


@dataclass
class BucketPlan:
    """An ``AWS::S3::Bucket``: its name and the ``Put*`` requests of its configuration
    (``PutBucketEncryption`` …), keyed by boto3 method name."""

    logical_id: str
    name: str
    configuration: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class EventSourcePlan:
    """One ``Events`` entry of a function: ``kind`` ``S3`` | ``EventBridgeRule`` | ``SQS`` |
    ``HttpApi`` and its resolved ``properties``."""

    name: str
    kind: str
    properties: dict[str, Any]


@dataclass
class FunctionPlan:
    """An ``AWS::Serverless::Function`` as the runner needs it.

    ``handler``: ``module.function``; ``timeout_s``; ``memory_mb``; ``environment``: Globals'
    variables updated with the function's own (resolved later, see :meth:`StackPlan.environment`);
    ``events``; ``max_retry_attempts`` (``EventInvokeConfig.MaximumRetryAttempts``, Lambda's
    default 2) and ``dead_letter_queue`` (logical id of ``DeadLetterQueue.TargetArn``'s queue)
    for asynchronous invocations.
    """

    logical_id: str
    handler: str
    timeout_s: int
    memory_mb: int
    environment: dict[str, Any]
    events: list[EventSourcePlan]
    max_retry_attempts: int = 2
    dead_letter_queue: str | None = None


#: SQS ``CreateQueue`` attribute names of ``AWS::SQS::Queue`` properties (CloudFormation
#: resource reference; the names are the same, values become strings).
QUEUE_ATTRIBUTES = ("FifoQueue", "ContentBasedDeduplication", "VisibilityTimeout",
                    "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize",
                    "ReceiveMessageWaitTimeSeconds", "SqsManagedSseEnabled", "DeduplicationScope",
                    "FifoThroughputLimit", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds")


class StackPlan:
    """What the local stack creates, read from a template (see the module doc).

    ``template``: the loaded template (:func:`load_template`, after :func:`apply_overrides`);
    ``parameters``: parameter overrides; ``stack_name``: names the bucket, tables, queues and
    collection as the template does with ``AWS::StackName``.
    """

    def __init__(self, template: dict[str, Any], parameters: Mapping[str, Any] | None = None,
                 stack_name: str = "reko", account_id: str = ACCOUNT_ID, region: str = REGION):
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,24}", stack_name):
            raise TemplateError("the stack name must be lowercase letters, digits and hyphens, at most 25 "
                                "characters, starting with a letter (the template names resources with it)")
        self.template = template
        self.stack_name = stack_name
        self.resolver = Resolver(template, parameters, stack_name=stack_name, account_id=account_id, region=region)

    def _of_type(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(logical, r) for logical, r in self.resolver.resources.items()
                if r.get("Type") == kind and self._enabled(r)]

    def _enabled(self, resource: dict[str, Any]) -> bool:
        condition = resource.get("Condition")
        return condition is None or self.resolver.condition(condition)

    # -- resources ---------------------------------------------------------------------------
    def queues(self) -> list[QueuePlan]:
        """Every ``AWS::SQS::Queue``, dead-letter queues first (a redrive policy names one)."""
        plans = []
        for logical, resource in self._of_type("AWS::SQS::Queue"):
            props = resource.get("Properties", {})
            attributes = {}
            for name in QUEUE_ATTRIBUTES:
                if name in props:
                    value = self.resolver.resolve(props[name])
                    attributes[name] = str(value).lower() if isinstance(value, bool) else str(value)
            if "RedrivePolicy" in props:
                attributes["RedrivePolicy"] = json.dumps(self.resolver.resolve(props["RedrivePolicy"]))
            plans.append(QueuePlan(logical, self.resolver.queue_name(logical), attributes))
        plans.sort(key=lambda q: "RedrivePolicy" in q.attributes)
        return plans

    def tables(self) -> list[TablePlan]:
        """Every ``AWS::DynamoDB::Table`` as ``CreateTable`` parameters (the CloudFormation
        properties ``CreateTable`` has: names, keys, attributes, indexes, billing, SSE)."""
        plans = []
        for logical, resource in self._of_type("AWS::DynamoDB::Table"):
            props = self.resolver.resolve(resource.get("Properties", {}))
            request = {k: props[k] for k in ("TableName", "AttributeDefinitions", "KeySchema",
                                              "GlobalSecondaryIndexes", "LocalSecondaryIndexes",
                                              "BillingMode", "ProvisionedThroughput") if k in props}
            if "SSESpecification" in props:
                request["SSESpecification"] = {"Enabled": bool(props["SSESpecification"].get("SSEEnabled"))}
            plans.append(TablePlan(logical, request, props.get("TimeToLiveSpecification")))
        return plans

    def buckets(self, cors_origin: str | None = None) -> list[BucketPlan]:
        """The buckets of the stack: ``MediaBucket`` (the one with a name the functions use)
        with its configuration as ``Put*`` requests. ``cors_origin`` replaces the template's
        allowed origins (the CloudFront domain) with the local web endpoint's origin."""
        plans = []
        for logical, resource in self._of_type("AWS::S3::Bucket"):
            raw = resource.get("Properties", {})
            if "BucketName" not in raw:
                continue  # the site bucket: the local web function serves the site
            props = {k: v for k, v in raw.items() if k != "CorsConfiguration"}
            props = self.resolver.resolve(props)
            name = props["BucketName"]
            config: dict[str, dict[str, Any]] = {}
            if "BucketEncryption" in props:
                config["put_bucket_encryption"] = {"ServerSideEncryptionConfiguration": {"Rules": [
                    {{"ServerSideEncryptionByDefault": "ApplyServerSideEncryptionByDefault"}.get(k, k): v
                     for k, v in rule.items()}
                    for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]]}}
            if "PublicAccessBlockConfiguration" in props:
                config["put_public_access_block"] = {
                    "PublicAccessBlockConfiguration": props["PublicAccessBlockConfiguration"]}
            if "OwnershipControls" in props:
                config["put_bucket_ownership_controls"] = {"OwnershipControls": props["OwnershipControls"]}
            if "CorsConfiguration" in raw and cors_origin:
                rules = []
                for rule in raw["CorsConfiguration"].get("CorsRules", []):
                    rule = self.resolver.resolve({k: v for k, v in rule.items() if k != "AllowedOrigins"})
                    rules.append({"AllowedOrigins": [cors_origin], **{
                        {"MaxAge": "MaxAgeSeconds", "ExposedHeaders": "ExposeHeaders"}.get(k, k): v
                        for k, v in rule.items()}})
                config["put_bucket_cors"] = {"CORSConfiguration": {"CORSRules": rules}}
            if "LifecycleConfiguration" in props:
                config["put_bucket_lifecycle_configuration"] = {"LifecycleConfiguration": {
                    "Rules": [_lifecycle_rule(r) for r in props["LifecycleConfiguration"]["Rules"]]}}
            plans.append(BucketPlan(logical, name, config))
        return plans

    def collections(self) -> list[str]:
        """The ``CollectionId`` of every ``AWS::Rekognition::Collection``."""
        return [self.resolver.resolve(r["Properties"]["CollectionId"])
                for _, r in self._of_type("AWS::Rekognition::Collection")]

    def site_headers(self, variables: Mapping[str, str]) -> dict[str, str]:
        """The response headers CloudFront's ``ResponseHeadersPolicy`` adds to the site (the
        first ``AWS::CloudFront::ResponseHeadersPolicy`` of the template), as header → value;
        ``variables`` replace ``Fn::Sub`` variables of the policy (``{"Media": <the local S3
        origin>}``: the page may load presigned media from there). HSTS is left out (the local
        endpoints are plain HTTP)."""
        for _, resource in self._of_type("AWS::CloudFront::ResponseHeadersPolicy"):
            security = resource["Properties"]["ResponseHeadersPolicyConfig"].get("SecurityHeadersConfig", {})
            headers: dict[str, str] = {}
            csp = security.get("ContentSecurityPolicy", {}).get("ContentSecurityPolicy")
            if isinstance(csp, dict) and isinstance(csp.get("Fn::Sub"), list):
                text, own = csp["Fn::Sub"]
                csp = {"Fn::Sub": [text, {**own, **variables}]}
            if csp is not None:
                headers["Content-Security-Policy"] = str(self.resolver.resolve(csp))
            if "ContentTypeOptions" in security:
                headers["X-Content-Type-Options"] = "nosniff"
            if "FrameOptions" in security:
                headers["X-Frame-Options"] = str(self.resolver.resolve(security["FrameOptions"]["FrameOption"]))
            if "ReferrerPolicy" in security:
                headers["Referrer-Policy"] = str(self.resolver.resolve(security["ReferrerPolicy"]["ReferrerPolicy"]))
            return headers
        return {}

    def functions(self) -> list[FunctionPlan]:
        """Every ``AWS::Serverless::Function`` with Globals applied (environments unresolved)."""
        globals_ = self.template.get("Globals", {}).get("Function", {})
        plans = []
        for logical, resource in self._of_type("AWS::Serverless::Function"):
            props = resource.get("Properties", {})
            environment = dict(globals_.get("Environment", {}).get("Variables", {}))
            environment.update(props.get("Environment", {}).get("Variables", {}))
            events = [EventSourcePlan(name, event["Type"], event.get("Properties", {}))
                      for name, event in props.get("Events", {}).items()]
            invoke = props.get("EventInvokeConfig", {})
            dlq = props.get("DeadLetterQueue", {}).get("TargetArn")
            plans.append(FunctionPlan(
                logical, str(self.resolver.resolve(props["Handler"])),
                int(self.resolver.resolve(props.get("Timeout", globals_.get("Timeout", 3)))),
                int(self.resolver.resolve(props.get("MemorySize", globals_.get("MemorySize", 128)))),
                environment, events, int(self.resolver.resolve(invoke.get("MaximumRetryAttempts", 2))),
                _logical_of(dlq)))
        return plans

    def function(self, logical_id: str) -> FunctionPlan:
        """One function's plan.

        Raises:
            TemplateError: no such function.
        """
        for plan in self.functions():
            if plan.logical_id == logical_id:
                return plan
        raise TemplateError(f"the template has no function {logical_id!r}")

    def event(self, function: FunctionPlan, kind: str) -> dict[str, Any] | None:
        """The resolved properties of ``function``'s first event of ``kind``, or None."""
        for event in function.events:
            if event.kind == kind:
                return self.resolver.resolve(event.properties)
        return None

    def s3_notification(self, function: FunctionPlan, queue_arn: str) -> dict[str, Any] | None:
        """The ``QueueConfigurations`` entry of ``function``'s ``S3`` event (events and key
        filter as the template has them), pointed at ``queue_arn`` — what SAM makes a
        ``LambdaConfigurations`` entry; moto delivers it to an SQS queue the runner polls."""
        event = self.event(function, "S3")
        if event is None:
            return None
        events = event["Events"] if isinstance(event["Events"], list) else [event["Events"]]
        entry: dict[str, Any] = {"Id": f"{function.logical_id}-{self.stack_name}", "QueueArn": queue_arn, "Events": events}
        rules = event.get("Filter", {}).get("S3Key", {}).get("Rules")
        if rules:
            entry["Filter"] = {"Key": {"FilterRules": rules}}
        return entry

    def environment(self, function: FunctionPlan, substitutions: Mapping[str, str]) -> dict[str, str]:
        """``function``'s environment variables, resolved (after the resources exist: queue URLs
        come from ``refs``), then ``substitutions`` applied (local values of variables whose
        template value names an AWS-only resource, e.g. ``REKO_INDEX_URL``)."""
        env = {}
        for name, value in function.environment.items():
            if name in substitutions:
                env[name] = str(substitutions[name])
                continue
            resolved = self.resolver.resolve(value)
            if resolved is not NO_VALUE:
                env[name] = str(resolved)
        return env


def _logical_of(node: Any) -> str | None:
    """The logical id a ``!GetAtt X.Arn`` / ``!Ref X`` node names."""
    if isinstance(node, dict):
        if "Fn::GetAtt" in node:
            value = node["Fn::GetAtt"]
            return value[0] if isinstance(value, list) else str(value).split(".")[0]
        if "Ref" in node:
            return str(node["Ref"])
    return None


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation ``LifecycleConfiguration.Rules`` item as ``PutBucketLifecycleConfiguration``
    takes it (``ExpirationInDays`` → ``Expiration.Days``, ``Prefix`` → ``Filter.Prefix``)."""
    out: dict[str, Any] = {"ID": rule.get("Id", ""), "Status": rule.get("Status", "Enabled"),
                           "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
    return out
