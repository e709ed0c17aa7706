"""The AWS infrastructure as code: ``infra/template.yaml`` (SAM), ``infra/Makefile`` and
``infra/lambda-requirements/`` — checked without AWS.

* cfn-lint passes on the template, and on the CloudFormation that aws-sam-translator makes of it
  offline (cfn-lint skips IAM action names in templates with a ``Transform``).
* The resources the design asks for, with the properties that matter (private encrypted buckets,
  FIFO queue + DLQ, tables, the EventBridge pattern, the OpenSearch domain, auth, alarms, outputs).
* Least privilege: every statement of a function's role takes its actions from the function's
  lists in the template's ``Mappings`` (``CodeActions``: called by reko's code through boto3;
  ``RuntimeActions``: done on the function's behalf), every action exists (cfn-lint's IAM data),
  ``Resource: "*"`` only where the action has no resource-level scope, ``iam:PassRole`` only for
  the MediaConvert role.
* The code and the template agree: the boto3 calls found in reko's source (AST) map to IAM
  actions (botocore's service models) and must equal ``CodeActions`` — every call granted now,
  nothing granted that is not called once ``pipeline/aws/handlers.py`` exists.
* ``sam build`` (slow, no container) builds every function: under Lambda's 250 MB, no local
  engine, the handler module inside, every declared requirement present, wheels loadable on the
  python3.11 runtime (Amazon Linux 2), and the package imports with only the runtime's boto3.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import types
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
TEMPLATE = INFRA / "template.yaml"
REQUIREMENTS = INFRA / "lambda-requirements"
HANDLERS = ROOT / "pipeline" / "aws" / "handlers.py"

#: Lambda functions built from reko (logical id → handler in reko.pipeline.aws.handlers).
FUNCTIONS = {"OnUploadFunction": "on_upload", "JobStateFunction": "on_job_state",
             "FramesFunction": "on_frames", "WebFunction": "web"}
#: Distributions and top-level modules no Lambda package may carry (the local engines).
FORBIDDEN = {"dlib", "dlib_bin", "face_recognition", "face_recognition_models", "tesserocr",
             "pytesseract", "rapidocr_onnxruntime", "rapidocr", "onnxruntime", "cv2",
             "opencv_python", "opencv_python_headless", "opencv_contrib_python", "nudenet",
             "skvideo", "scikit_video", "mediapipe", "boto3", "botocore"}
#: What the python3.11 runtime brings (not packaged): used to check declared requirements.
RUNTIME_PROVIDES = {"boto3", "botocore", "s3transfer"}
#: Declared requirements deliberately not packaged, with the reason.
NOT_PACKAGED = {"opensearch-protobufs": "opensearch-py's gRPC transport; reko uses HTTP"}
LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
AL2_GLIBC = (2, 26)  # the python3.11 runtime runs on Amazon Linux 2
#: Services a reko function may be granted anything on.
ALLOWED_SERVICES = {"s3", "dynamodb", "sqs", "rekognition", "mediaconvert", "iam", "es", "logs",
                    "secretsmanager"}
#: Actions allowed on ``Resource: "*"`` although IAM lists resource types for them.
STAR_RESOURCE_OK = {
    "mediaconvert:CreateJob": "its resource types are the optional queue, preset and job template; "
                              "a job naming none of them is authorised against *",
    "rekognition:DetectModerationLabels": "its one resource type is an optional custom moderation "
                                          "adapter (ProjectVersion), which reko does not use",
}


# -- loading ------------------------------------------------------------------------------------
def _yaml(text: str) -> dict:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(text)


@pytest.fixture(scope="module")
def template() -> dict:
    """infra/template.yaml with CloudFormation's short tags as long-form dicts."""
    return _yaml(TEMPLATE.read_text())


@pytest.fixture(scope="module")
def resources(template) -> dict:
    return template["Resources"]


def _translate(sam: dict) -> dict:
    """aws-sam-translator, offline: CodeUri replaced by the S3 location `sam package` would
    write, a fixed region, no managed policies (the template attaches none)."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(sam)
    for resource in sam["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://example-bucket/code.zip"
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name="us-east-1"))
    return translator.translate(sam, parameter_values={}, get_managed_policy_map=lambda: {})


@pytest.fixture(scope="module")
def cfn(template) -> dict:
    """The CloudFormation template aws-sam-translator makes of infra/template.yaml."""
    return _translate(template)


def _cli(name: str) -> str:
    """A console script of this environment (next to the interpreter), else from PATH."""
    here = Path(sys.executable).with_name(name)
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: see tests/test_infra.py and infra/README.md")
    return found


def _is_intrinsic(value, name: str) -> bool:
    return isinstance(value, dict) and list(value) == [name]


def _role_of(resources: dict, function: str) -> str:
    role = resources[function]["Properties"]["Role"]
    assert _is_intrinsic(role, "Fn::GetAtt"), f"{function} must use an explicit role"
    name, attribute = role["Fn::GetAtt"] if isinstance(role["Fn::GetAtt"], list) else role["Fn::GetAtt"].split(".")
    assert attribute == "Arn"
    return name


def _statements(role: dict):
    for policy in role["Properties"].get("Policies", []):
        yield from policy["PolicyDocument"]["Statement"]


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


# -- lint and translation -----------------------------------------------------------------------
def test_cfn_lint_passes_on_the_template():
    result = subprocess.run([_cli("cfn-lint"), str(TEMPLATE)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_passes_on_the_translated_template(cfn, tmp_path):
    """cfn-lint checks IAM action names only in templates without a Transform."""
    translated = tmp_path / "template.json"
    translated.write_text(json.dumps(cfn))
    result = subprocess.run([_cli("cfn-lint"), str(translated)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_translator_makes_the_event_wiring(cfn):
    r = cfn["Resources"]
    for function, handler in FUNCTIONS.items():
        props = r[function]["Properties"]
        assert r[function]["Type"] == "AWS::Lambda::Function"
        assert props["Handler"] == f"reko.pipeline.aws.handlers.{handler}"
        assert props["Runtime"] == "python3.11"
    # S3 uploads/ -> on_upload
    notification = r["MediaBucket"]["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    assert notification == [{"Event": "s3:ObjectCreated:*", "Function": {"Fn::GetAtt": ["OnUploadFunction", "Arn"]},
                             "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "uploads/"}]}}}]
    assert any(v["Type"] == "AWS::Lambda::Permission" and v["Properties"]["Principal"] == "s3.amazonaws.com"
               and v["Properties"]["FunctionName"] == {"Ref": "OnUploadFunction"} for v in r.values())
    # EventBridge -> on_job_state
    rules = [v for v in r.values() if v["Type"] == "AWS::Events::Rule"]
    assert len(rules) == 1 and rules[0]["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["JobStateFunction", "Arn"]}
    # SQS FIFO -> on_frames with partial batch responses
    (mapping,) = [v["Properties"] for v in r.values() if v["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert mapping["FunctionName"] == {"Ref": "FramesFunction"}
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["FramesQueue", "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # HTTP API $default -> web
    paths = r["HttpApi"]["Properties"]["Body"]["paths"]
    assert list(paths) == ["/$default"]
    integration = paths["/$default"]["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
    assert "${WebFunction.Arn}" in integration["uri"]["Fn::Sub"] and integration["payloadFormatVersion"] == "2.0"


# -- resources ----------------------------------------------------------------------------------
@pytest.mark.parametrize("bucket", ["MediaBucket", "SiteBucket"])
def test_buckets_are_private_encrypted_and_tls_only(resources, bucket):
    props = resources[bucket]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                       "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms", "aws:kms:dsse")
    (policy,) = [v for v in resources.values() if v["Type"] == "AWS::S3::BucketPolicy"
                 and v["Properties"]["Bucket"] == {"Ref": bucket}]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and s["Principal"] == "*" and s["Action"] == "s3:*"
               and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements)
    assert not any(s["Effect"] == "Allow" and s.get("Principal") in ("*", {"AWS": "*"}) for s in statements)


def test_media_bucket_cors_and_lifecycle(resources, template):
    props = resources["MediaBucket"]["Properties"]
    (cors,) = props["CorsConfiguration"]["CorsRules"]
    assert cors["AllowedOrigins"] == [{"Fn::Sub": "https://${Distribution.DomainName}"}]
    assert "PUT" in cors["AllowedMethods"] and cors["ExposedHeaders"] == ["ETag"]
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert all(r["Status"] == "Enabled" for r in rules.values())
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert (rules["expire-frame-captures"]["Prefix"], rules["expire-frame-captures"]["ExpirationInDays"]) == \
        ("captures/", {"Ref": "CaptureRetentionDays"})
    assert (rules["expire-clips"]["Prefix"], rules["expire-clips"]["ExpirationInDays"]) == ("clips/", 1)
    assert "CaptureRetentionDays" in template["Parameters"]


def test_tables(resources):
    def table(name):
        props = resources[name]["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"] == {"SSEEnabled": True}
        return props

    for name, suffix, key in [("VideosTable", "videos", "video_id"), ("PersonsTable", "persons", "person_id"),
                              ("FacesTable", "faces", "face_id"), ("IdempotencyTable", "idempotency", "id")]:
        props = table(name)
        assert props["TableName"] == {"Fn::Sub": "${AWS::StackName}-" + suffix}
        assert props["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]
    faces = resources["FacesTable"]["Properties"]
    indexes = {i["IndexName"]: i["KeySchema"] for i in faces["GlobalSecondaryIndexes"]}
    assert indexes == {"by_person": [{"AttributeName": "person_id", "KeyType": "HASH"}],
                       "by_frame": [{"AttributeName": "video_id", "KeyType": "HASH"},
                                    {"AttributeName": "frame_ms", "KeyType": "RANGE"}]}
    types_ = {a["AttributeName"]: a["AttributeType"] for a in faces["AttributeDefinitions"]}
    assert types_["frame_ms"] == "N"
    assert resources["IdempotencyTable"]["Properties"]["TimeToLiveSpecification"] == \
        {"AttributeName": "expiration", "Enabled": True}


def test_frames_queue_fifo_with_dlq(resources, template):
    queue = resources["FramesQueue"]["Properties"]
    dlq = resources["FramesDeadLetterQueue"]["Properties"]
    assert queue["FifoQueue"] is True and queue["ContentBasedDeduplication"] is False
    assert queue["QueueName"]["Fn::Sub"].endswith(".fifo") and dlq["QueueName"]["Fn::Sub"].endswith(".fifo")
    assert dlq["FifoQueue"] is True
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["FramesDeadLetterQueue", "Arn"]},
                                      "maxReceiveCount": 5}
    assert queue["VisibilityTimeout"] >= 6 * resources["FramesFunction"]["Properties"]["Timeout"]
    events = resources["FramesFunction"]["Properties"]["Events"]
    (sqs,) = [e["Properties"] for e in events.values() if e["Type"] == "SQS"]
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    batch = template["Parameters"][sqs["BatchSize"]["Ref"]]
    assert 1 <= batch["MinValue"] <= batch["Default"] <= batch["MaxValue"] <= 10
    assert resources["FramesFunction"]["Properties"]["Timeout"] <= 300


def test_job_state_rule_pattern(resources):
    (rule,) = [e["Properties"] for e in resources["JobStateFunction"]["Properties"]["Events"].values()
               if e["Type"] == "EventBridgeRule"]
    queue = {"Fn::If": ["HasMediaConvertQueue", {"Ref": "MediaConvertQueueArn"},
                        {"Fn::GetAtt": ["MediaConvertQueue", "Arn"]}]}
    # INPUT_INFORMATION carries the source frame rate (clips are cut with frame timecodes)
    assert rule["Pattern"] == {"source": ["aws.mediaconvert"], "detail-type": ["MediaConvert Job State Change"],
                               "detail": {"status": ["INPUT_INFORMATION", "COMPLETE", "ERROR"], "queue": [queue]}}
    # the jobs on_upload starts run in that queue
    env = resources["OnUploadFunction"]["Properties"]["Environment"]["Variables"]
    assert env["REKO_MEDIACONVERT_QUEUE_ARN"] == queue
    assert resources["MediaConvertQueue"]["Condition"] == "CreateMediaConvertQueue"
    assert resources["MediaConvertQueue"]["Properties"]["PricingPlan"] == "ON_DEMAND"


def test_functions_environment_and_sizing(template, resources):
    common = template["Globals"]["Function"]["Environment"]["Variables"]
    assert common["REKO_STORAGE_URL"] == {"Fn::Sub": "s3://${AWS::StackName}-media-${AWS::AccountId}-${AWS::Region}"}
    assert resources["MediaBucket"]["Properties"]["BucketName"] == \
        {"Fn::Sub": "${AWS::StackName}-media-${AWS::AccountId}-${AWS::Region}"}
    assert common["REKO_CATALOG_URL"] == {"Fn::Sub": "dynamodb://${AWS::StackName}"}
    assert common["REKO_INDEX_URL"] == {"Fn::Sub": "https://${SearchDomain.DomainEndpoint}"}
    assert common["REKO_INDEX_NAME"] == "reko-frames" and common["REKO_ANALYZER"] == "rekognition"
    assert common["REKO_FACE_COLLECTION"] == {"Ref": "FaceCollection"}
    assert resources["FaceCollection"]["Properties"]["CollectionId"] == {"Fn::Sub": "${AWS::StackName}-faces"}
    for name in ("REKO_SAMPLE_FPS", "REKO_FEATURES", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"):
        assert name in common
    own = {f: resources[f]["Properties"]["Environment"]["Variables"] for f in FUNCTIONS}
    assert {"REKO_MEDIACONVERT_ROLE_ARN", "REKO_MEDIACONVERT_QUEUE_ARN", "REKO_IDEMPOTENCY_TABLE"} <= set(own["OnUploadFunction"])
    assert {"REKO_QUEUE_URL", "REKO_FRAMES_PER_MESSAGE"} <= set(own["JobStateFunction"])
    assert {"REKO_REKOGNITION_MAX_TPS"} <= set(own["FramesFunction"])
    assert {"REKO_AUTH_TOKEN", "REKO_ALLOWED_HOSTS", "REKO_MEDIACONVERT_ROLE_ARN"} <= set(own["WebFunction"])
    # every REKO_* variable the template sets is a documented setting
    from reko.settings import Settings

    documented = {env for env, _, _ in Settings.documented()}
    for variables in [common, *own.values()]:
        assert {v for v in variables if v.startswith("REKO_")} <= documented
    upload = resources["OnUploadFunction"]["Properties"]
    assert (upload["Timeout"], upload["MemorySize"]) == (900, 1769)
    assert resources["WebFunction"]["Properties"]["Timeout"] < 30  # the HTTP API's limit
    for function in FUNCTIONS:
        assert resources[function]["Metadata"] == {"BuildMethod": "makefile"}
        assert (REQUIREMENTS / f"{function}.txt").is_file()


def test_makefile_has_a_target_per_function():
    for function in FUNCTIONS:
        result = subprocess.run(["make", "-n", "-f", str(INFRA / "Makefile"), f"build-{function}",
                                 "ARTIFACTS_DIR=/nonexistent"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert f"{function}.txt" in result.stdout and "pip wheel" in result.stdout


def test_requirements_are_pinned_and_lean():
    pins = {}
    for line in (REQUIREMENTS / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[_normal(name)] = version
    for function in FUNCTIONS:
        names = _requirement_names(function)
        assert names, function
        assert names <= set(pins), f"{function}.txt names unpinned packages: {names - set(pins)}"
        assert not names & {_normal(f) for f in FORBIDDEN}, f"{function}.txt names a local engine or boto3"
        assert "aws-lambda-powertools" in names and "numpy" in names
    web = _requirement_names("WebFunction")
    assert {"flask", "apig-wsgi", "opensearch-py", "pillow"} <= web
    assert not {"flask", "apig-wsgi"} & (_requirement_names("FramesFunction") | _requirement_names("OnUploadFunction"))


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(function: str) -> set[str]:
    lines = (REQUIREMENTS / f"{function}.txt").read_text().splitlines()
    return {_normal(re.split(r"[<>=!~;\[ ]", line.strip())[0]) for line in lines
            if line.strip() and not line.strip().startswith("#")}


def test_mediaconvert_role(resources):
    role = resources["MediaConvertRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "mediaconvert.amazonaws.com"}
    grants = {}
    for statement in _statements(resources["MediaConvertRole"]):
        for action in _as_list(statement["Action"]):
            grants.setdefault(action, set()).update(
                r["Fn::Sub"].rsplit("/", 2)[-2] + "/*" for r in _as_list(statement["Resource"]))
    assert grants == {"s3:GetObject": {"uploads/*", "videos/*"},
                      "s3:PutObject": {"captures/*", "videos/*", "clips/*"}}


def test_opensearch_domain(resources, template):
    props = resources["SearchDomain"]["Properties"]
    assert re.fullmatch(r"OpenSearch_2\.\d+", template["Parameters"]["OpenSearchEngineVersion"]["Default"])
    assert props["EngineVersion"] == {"Ref": "OpenSearchEngineVersion"}
    assert props["AdvancedSecurityOptions"]["Enabled"] is True
    assert props["AdvancedSecurityOptions"]["InternalUserDatabaseEnabled"] is False
    assert props["EncryptionAtRestOptions"] == {"Enabled": True}
    assert props["NodeToNodeEncryptionOptions"] == {"Enabled": True}
    assert props["DomainEndpointOptions"]["EnforceHTTPS"] is True
    assert props["DomainEndpointOptions"]["TLSSecurityPolicy"].startswith("Policy-Min-TLS-1-2")
    (statement,) = props["AccessPolicies"]["Statement"]
    principals = statement["Principal"]["AWS"]
    assert all(_is_intrinsic(p, "Fn::GetAtt") for p in principals), "the domain is open only to named roles"
    roles = {p["Fn::GetAtt"][0] for p in principals}
    assert roles == {"FramesRole", "WebRole", "IndexSetupRole", "DashboardsAdminRole"}
    assert props["AdvancedSecurityOptions"]["MasterUserOptions"]["MasterUserARN"] == {"Fn::GetAtt": ["IndexSetupRole", "Arn"]}
    mapping = resources["IndexAccess"]["Properties"]
    assert {a["Fn::GetAtt"][0] for a in mapping["AppRoleArns"]} == {"FramesRole", "WebRole"}
    assert {p["index_patterns"][0] for p in mapping["AppRole"]["index_permissions"]} >= {"reko-frames*"}


def test_api_auth_and_one_origin(resources, template):
    assert "CorsConfiguration" not in resources["HttpApi"]["Properties"], "same origin as the site: no CORS"
    secret = resources["AuthTokenSecret"]["Properties"]
    assert secret["GenerateSecretString"]["Fn::If"][0] == "GenerateAuthToken"
    assert template["Parameters"]["AuthToken"]["NoEcho"] is True
    # the web app always requires the token: resolved from the secret at deploy time
    token = resources["WebFunction"]["Properties"]["Environment"]["Variables"]["REKO_AUTH_TOKEN"]
    assert token == {"Fn::Sub": "{{resolve:secretsmanager:${AuthTokenSecret}:SecretString}}"}
    for function in FUNCTIONS:
        if function != "WebFunction":
            assert "REKO_AUTH_TOKEN" not in resources[function]["Properties"]["Environment"]["Variables"]
    assert "REKO_AUTH_TOKEN" not in template["Globals"]["Function"]["Environment"]["Variables"]
    config = resources["Distribution"]["Properties"]["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}
    assert origins["site"]["OriginAccessControlId"] == {"Fn::GetAtt": ["SiteOriginAccessControl", "Id"]}
    assert origins["api"]["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origins["api"]["DomainName"] == {"Fn::Sub": "${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    (api,) = config["CacheBehaviors"]
    assert (api["PathPattern"], api["TargetOriginId"], api["ViewerProtocolPolicy"]) == ("/api/*", "api", "https-only")
    assert config["DefaultCacheBehavior"]["TargetOriginId"] == "site"
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] in ("https-only", "redirect-to-https")
    assert config["DefaultRootObject"] == "index.html"
    site_policy = resources["SiteBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (oac,) = [s for s in site_policy if s["Effect"] == "Allow"]
    assert oac["Principal"] == {"Service": "cloudfront.amazonaws.com"} and "AWS:SourceArn" in oac["Condition"]["StringEquals"]


def test_alarms(resources, template):
    alarms = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::CloudWatch::Alarm"]
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms)
    watched = {(a["Namespace"], a["MetricName"], json.dumps(a.get("Dimensions", []), sort_keys=True)) for a in alarms}
    for function in FUNCTIONS:
        for metric in ("Errors", "Throttles"):
            dims = json.dumps([{"Name": "FunctionName", "Value": {"Ref": function}}], sort_keys=True)
            assert ("AWS/Lambda", metric, dims) in watched, (function, metric)
    for queue in ("FramesDeadLetterQueue", "FailedEventsQueue"):
        dims = json.dumps([{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}], sort_keys=True)
        assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", dims) in watched, queue
    assert ("AWS/Rekognition", "ThrottledCount", "[]") in watched
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail" and template["Parameters"]["AlarmEmail"]["Default"] == ""
    for function in ("OnUploadFunction", "JobStateFunction"):  # asynchronous: failures land in a queue
        assert resources[function]["Properties"]["DeadLetterQueue"]["TargetArn"] == {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}


def test_outputs(template):
    assert {"MediaBucketName", "UploadPrefix", "SiteUrl", "ApiUrl", "OpenSearchDashboardsUrl",
            "AuthTokenSecretArn", "SiteBucketName"} <= set(template["Outputs"])


def test_parameters(template):
    params = template["Parameters"]
    assert {"SampleFps", "Features", "OpenSearchInstanceType", "OpenSearchInstanceCount", "AlarmEmail",
            "AuthToken", "RekognitionMaxTps", "FramesPerMessage"} <= set(params)
    from reko.settings import Settings

    defaults = {env: default for env, default, _ in Settings.documented()}
    assert float(params["SampleFps"]["Default"]) == defaults["REKO_SAMPLE_FPS"]
    assert params["Features"]["Default"] == defaults["REKO_FEATURES"]
    assert re.fullmatch(params["Features"]["AllowedPattern"], defaults["REKO_FEATURES"])


# -- least privilege ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def iam_data() -> dict:
    """cfn-lint's IAM data (actions and their resource types per service prefix)."""
    import cfnlint

    path = Path(cfnlint.__file__).parent / "data" / "AdditionalSpecs" / "Policies.json"
    return json.loads(path.read_text())


def _action_lists(template: dict, function: str) -> dict[tuple[str, str], list[str]]:
    return {(kind, key): actions for kind in ("CodeActions", "RuntimeActions")
            for key, actions in template["Mappings"][kind].get(function, {}).items()}


@pytest.mark.parametrize("function", [*FUNCTIONS, "IndexSetupFunction"])
def test_every_statement_takes_its_actions_from_the_functions_lists(template, resources, function, iam_data):
    role = resources[_role_of(resources, function)]
    assert "ManagedPolicyArns" not in role["Properties"], "no managed policies: every grant is in the template"
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    lists = _action_lists(template, function)
    used = set()
    for statement in _statements(role):
        assert statement["Effect"] == "Allow"
        action = statement["Action"]
        assert _is_intrinsic(action, "Fn::FindInMap"), f"{function} {statement.get('Sid')}: Action must come from Mappings"
        kind, owner, key = action["Fn::FindInMap"]
        assert owner == function, f"{function} uses {owner}'s action list"
        assert (kind, key) in lists
        used.add((kind, key))
        actions = lists[(kind, key)]
        resources_ = _as_list(statement["Resource"])
        for name in actions:
            service, _, verb = name.partition(":")
            assert service in ALLOWED_SERVICES, name
            assert "*" not in name, f"{name}: no wildcard actions"
            known = iam_data[service]["Actions"]
            assert verb.lower() in known, f"{name} is not an IAM action"
            scoped = bool(known[verb.lower()].get("Resources"))
            if resources_ == ["*"]:
                assert not scoped or name in STAR_RESOURCE_OK, f"{name} supports resource-level scope: not *"
            else:
                assert scoped, f"{name} has no resource-level scope: its Resource must be *"
        if "iam:PassRole" in actions:
            assert statement["Resource"] == {"Fn::GetAtt": ["MediaConvertRole", "Arn"]}
            assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "mediaconvert.amazonaws.com"}}
    assert used == set(lists), f"{function}: action lists no statement uses: {set(lists) - used}"


def test_s3_grants_are_scoped_to_prefixes(resources):
    bucket_arn = "arn:${AWS::Partition}:s3:::${AWS::StackName}-media-${AWS::AccountId}-${AWS::Region}"
    prefixes = {"uploads", "videos", "frames", "captures", "persons", "clips"}
    for function in FUNCTIONS:
        for statement in _statements(resources[_role_of(resources, function)]):
            for resource in _as_list(statement["Resource"]):
                text = resource.get("Fn::Sub", "") if isinstance(resource, dict) else resource
                if ":s3:::" not in str(text):
                    continue
                if text == bucket_arn:  # ListBucket: by s3:prefix, or whole (for 404s on missing keys)
                    condition = statement.get("Condition")
                    assert condition or function == "WebFunction", f"{function} lists the whole bucket"
                    if condition:
                        assert set(condition["StringLike"]["s3:prefix"]) <= {p + "/*" for p in prefixes}
                else:
                    prefix = text.removeprefix(bucket_arn + "/")
                    assert prefix.endswith("/*") and prefix[:-2] in prefixes, (function, text)


# -- the code's boto3 calls and the template's action lists -------------------------------------
#: API operations whose IAM action is named differently (Service Authorization Reference).
IAM_ACTIONS_OF = {
    ("s3", "ListObjectsV2"): ["s3:ListBucket"], ("s3", "ListObjects"): ["s3:ListBucket"],
    ("s3", "HeadBucket"): ["s3:ListBucket"], ("s3", "HeadObject"): ["s3:GetObject"],
    ("s3", "DeleteObjects"): ["s3:DeleteObject"], ("s3", "CreateMultipartUpload"): ["s3:PutObject"],
    ("s3", "UploadPart"): ["s3:PutObject"], ("s3", "CompleteMultipartUpload"): ["s3:PutObject"],
    ("s3", "ListParts"): ["s3:ListMultipartUploadParts"],
    ("s3", "ListMultipartUploads"): ["s3:ListBucketMultipartUploads"],
    ("s3", "CopyObject"): ["s3:GetObject", "s3:PutObject"],
    ("s3", "UploadPartCopy"): ["s3:GetObject", "s3:PutObject"],
    ("sqs", "SendMessageBatch"): ["sqs:SendMessage"], ("sqs", "DeleteMessageBatch"): ["sqs:DeleteMessage"],
    ("sqs", "ChangeMessageVisibilityBatch"): ["sqs:ChangeMessageVisibility"],
}
#: Actions a call needs besides its own (CreateJob passes the MediaConvert role).
IMPLIED = {"mediaconvert:CreateJob": ["iam:PassRole"]}
#: boto3 methods that are not operations: method → (position or keyword of the operation name).
INDIRECT = {"get_paginator": "operation_name", "get_waiter": "waiter_name",
            "generate_presigned_url": "ClientMethod"}
#: boto3 conveniences that call several operations.
COMPOSITE = {("s3", "upload_file"): ["PutObject", "CreateMultipartUpload", "UploadPart",
                                      "CompleteMultipartUpload", "AbortMultipartUpload"],
             ("s3", "upload_fileobj"): ["PutObject", "CreateMultipartUpload", "UploadPart",
                                         "CompleteMultipartUpload", "AbortMultipartUpload"],
             ("s3", "download_file"): ["HeadObject", "GetObject"],
             ("s3", "download_fileobj"): ["HeadObject", "GetObject"],
             ("s3", "generate_presigned_post"): ["PutObject"],
             ("dynamodb", "batch_writer"): ["BatchWriteItem"]}
#: Source scanned: everything that ships in the Lambda packages, except local stand-ins
#: (``local*.py``: the offline engines and the local MediaConvert, never used on AWS) and the
#: local stack (``pipeline/stack/``: it plays AWS's part on one machine).
SCANNED_DIRS = ("reko", "pipeline", "webapp")
LOCAL_ONLY_DIRS = ("pipeline/stack",)
#: Receivers (the name before ``.method(``) that hold an injected client or a DynamoDB Table.
CLIENT_NAME = re.compile(r"client|table", re.IGNORECASE)
#: Functions in the Lambda packages that never run on Lambda: (file, function) → why.
NOT_ON_LAMBDA = {("pipeline/aws/dynamodb_tables.py", "create_tables"):
                 "creates the tables for moto and DynamoDB Local; on AWS the template does"}


def _scanned_files() -> list[Path]:
    return [p for d in SCANNED_DIRS for p in sorted((ROOT / d).rglob("*.py"))
            if "node_modules" not in p.parts and not p.name.startswith("local")
            and not any(p.is_relative_to(ROOT / local) for local in LOCAL_ONLY_DIRS)]


def _terminal(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _terminal(node.func)
    return None


def _factory_service(node) -> str | None:
    """``x`` of ``boto3.client("x")``, ``boto3.resource("x")``, ``session.client("x")`` or
    ``boto3.Session(...).client("x")``."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("client", "resource")):
        return None
    args = [a.value for a in node.args[:1] if isinstance(a, ast.Constant)]
    args += [k.value.value for k in node.keywords if k.arg == "service_name" and isinstance(k.value, ast.Constant)]
    base = node.func.value
    base_name = (_terminal(base) or "").lower()
    if args and isinstance(args[0], str) and (base_name == "boto3" or "session" in base_name):
        return args[0]
    return None


@pytest.fixture(scope="module")
def boto3_clients():
    import boto3

    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="testing",
                                    aws_secret_access_key="testing")
    cache = {}

    def client(service):
        if service not in cache:
            cache[service] = session.client(service)
        return cache[service]

    return client


def scan_boto3_calls(files: list[Path], client) -> dict[str, set[str]]:
    """IAM action → the places (``path:line``) that need it, from the boto3 calls in ``files``.

    Services are those created anywhere by ``boto3.client/resource("<service>")``. A call or
    reference ``R.m`` counts when ``m`` is an operation method of such a service (botocore's
    ``client.meta.method_to_api_mapping``) and ``R`` is a name assigned such a client in that
    file, or a name containing ``client``/``table`` (injected clients, DynamoDB Tables). A
    method several services have goes to the ones created in the same file, else to all.
    ``get_paginator``/``get_waiter``/``generate_presigned_url`` count the operation they name.
    """
    trees = {p: ast.parse(p.read_text(), str(p)) for p in files}
    created: dict[Path, dict[str, set[str]]] = {}
    services: set[str] = set()
    for path, tree in trees.items():
        here = created.setdefault(path, {})
        for node in ast.walk(tree):
            service = _factory_service(node)
            if service:
                here.setdefault(service, set())
                services.add(service)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                service = _factory_service(node.value)
                if service:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    here[service].update(t for t in map(_terminal, targets) if t)
        for node in ast.walk(tree):  # a property returning a client is a receiver too
            if isinstance(node, ast.FunctionDef) and any(_terminal(d) in ("property", "cached_property")
                                                         for d in node.decorator_list):
                returned = {_terminal(r.value) for r in ast.walk(node) if isinstance(r, ast.Return) and r.value}
                for receivers in here.values():
                    if returned & receivers:
                        receivers.add(node.name)
    methods = {s: client(s).meta.method_to_api_mapping for s in services}
    found: dict[str, set[str]] = {}

    def need(service: str, operation: str, where: str) -> None:
        prefix = client(service).meta.service_model.signing_name
        for action in IAM_ACTIONS_OF.get((service, operation), [f"{prefix}:{operation}"]):
            found.setdefault(action, set()).add(where)
            for implied in IMPLIED.get(action, []):
                found.setdefault(implied, set()).add(where)

    parents = {}
    skipped: set[int] = set()
    for path, tree in trees.items():
        relative = _relative(path)
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (relative, node.name) in NOT_ON_LAMBDA:
                skipped.update(id(n) for n in ast.walk(node))
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or id(node) in skipped:
                continue
            receiver = _terminal(node.value)
            method = node.attr
            if not receiver:
                continue
            candidates = [s for s in services if method in methods[s] or method in INDIRECT
                          or (s, method) in COMPOSITE]
            if not candidates:
                continue
            called = isinstance(parents.get(node), ast.Call) and parents[node].func is node
            # a receiver named after the service (``self.sqs``) counts when called (not
            # ``record.s3.get_object``, an event's attribute)
            known = [s for s in candidates if receiver in created[path].get(s, ()) or (receiver == s and called)]
            if not known and not CLIENT_NAME.search(receiver):
                continue
            local = [s for s in candidates if s in created[path]]
            chosen = known or local or candidates
            where = f"{_relative(path)}:{node.lineno}"
            if method in INDIRECT:
                call = parents.get(node)
                if not (isinstance(call, ast.Call) and call.func is node):
                    continue
                names = [a.value for a in call.args[:1] if isinstance(a, ast.Constant)]
                names += [k.value.value for k in call.keywords
                          if k.arg == INDIRECT[method] and isinstance(k.value, ast.Constant)]
                if not names:
                    continue
                for service in chosen:
                    c = client(service)
                    name = names[0]
                    if method == "get_waiter":
                        if name in c.waiter_names:
                            need(service, c.get_waiter(name).config.operation, where)
                    elif name in methods[service]:
                        need(service, methods[service][name], where)
                continue
            for service in chosen:
                if (service, method) in COMPOSITE:
                    for operation in COMPOSITE[(service, method)]:
                        need(service, operation, where)
                elif method in methods[service]:
                    need(service, methods[service][method], where)
    return found


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.as_posix()


def _granted_code_actions(template: dict) -> dict[str, set[str]]:
    """IAM action → the functions whose CodeActions grant it."""
    granted: dict[str, set[str]] = {}
    for function, lists in template["Mappings"]["CodeActions"].items():
        for actions in lists.values():
            for action in actions:
                granted.setdefault(action, set()).add(function)
    return granted


def test_the_scanner_finds_boto3_calls(tmp_path, boto3_clients):
    """The AST scan itself, on a file written like reko's backends."""
    source = tmp_path / "backend.py"
    source.write_text(
        "import boto3\n"
        "class Store:\n"
        "    def __init__(self):\n"
        "        self._client = boto3.client('s3')\n"
        "        self._queue = boto3.client('sqs')\n"
        "        self._mc = None\n"
        "        self.table = boto3.resource('dynamodb').Table('t')\n"
        "    @property\n"
        "    def client(self):\n"
        "        return self._client\n"
        "    @property\n"
        "    def queue(self):\n"
        "        return self._queue\n"
        "    def run(self, rekognition_client):\n"
        "        self.client.get_paginator('list_objects_v2')\n"
        "        self.client.generate_presigned_url('get_object', Params={})\n"
        "        self.client.head_object(Bucket='b', Key='k')\n"
        "        self.queue.send_message_batch(QueueUrl='q', Entries=[])\n"
        "        self.sqs.delete_message(QueueUrl='q', ReceiptHandle='r')\n"
        "        self.table.put_item(Item={})\n"
        "        with self.table.batch_writer() as batch: pass\n"
        "        fn = rekognition_client.detect_text\n"
        "        unrelated = {}.copy()\n"
        "        boto3.client('mediaconvert').create_job(Role='r', Settings={})\n"
        "        boto3.client('rekognition')\n")
    found = scan_boto3_calls([source], boto3_clients)
    assert set(found) == {"s3:ListBucket", "s3:GetObject", "sqs:SendMessage", "sqs:DeleteMessage", "dynamodb:PutItem",
                          "dynamodb:BatchWriteItem", "rekognition:DetectText",
                          "mediaconvert:CreateJob", "iam:PassRole"}


def test_every_boto3_call_in_the_code_is_granted(template, boto3_clients):
    """Nothing the code calls is missing from the template (granted to some function)."""
    found = scan_boto3_calls(_scanned_files(), boto3_clients)
    assert found, "the scan found no boto3 call at all"
    granted = _granted_code_actions(template)
    missing = {action: sorted(where) for action, where in found.items() if action not in granted}
    assert not missing, f"called by the code but granted to no function (add to CodeActions): {missing}"


def test_every_granted_action_is_called_by_the_code(template, boto3_clients):
    """Nothing is granted that the code does not call (CodeActions, all functions together: a
    call in shared code cannot be pinned to one handler by reading the source)."""
    found = scan_boto3_calls(_scanned_files(), boto3_clients)
    granted = _granted_code_actions(template)
    unused = {action: sorted(functions) for action, functions in granted.items() if action not in found}
    assert not unused, f"granted but never called (remove from CodeActions): {unused}"


# -- the OpenSearch role-mapping custom resource ------------------------------------------------
class _Response:
    status = 200

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read(self):
        return b"{}"


def _setup_module(resources):
    code = resources["IndexSetupFunction"]["Properties"]["Code"]["ZipFile"]
    assert len(code) <= 4096, "inline Lambda code is limited to 4096 characters"
    module = types.ModuleType("index")
    exec(compile(code, "index.py", "exec"), module.__dict__)
    return module


def _setup_event(resources, request_type="Create", **extra):
    props = copy.deepcopy(resources["IndexAccess"]["Properties"])
    props.pop("ServiceToken")
    props["Endpoint"] = "search-reko-abc.us-east-1.es.amazonaws.com"
    props["AppRoleArns"] = ["arn:aws:iam::123456789012:role/frames", "arn:aws:iam::123456789012:role/web"]
    props["AdminRoleArns"] = ["arn:aws:iam::123456789012:role/setup", "arn:aws:iam::123456789012:role/admin"]
    props.update(extra)
    return {"RequestType": request_type, "ResourceProperties": props, "StackId": "stack",
            "RequestId": "request-1", "LogicalResourceId": "IndexAccess",
            "ResponseURL": "https://cloudformation-custom-resource-response.example/reply"}


@pytest.fixture()
def aws_env(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


def test_index_setup_maps_the_roles_with_signed_requests(resources, monkeypatch, aws_env):
    module = _setup_module(resources)
    calls = []

    def urlopen(request, timeout):
        calls.append((request.get_method(), request.full_url, json.loads(request.data),
                      dict(request.header_items())))
        return _Response()

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    module.handler(_setup_event(resources), None)
    *security, reply = calls
    api = "https://search-reko-abc.us-east-1.es.amazonaws.com/_plugins/_security/api/"
    assert [(m, u) for m, u, _, _ in security] == [("PUT", api + "roles/reko_app"),
                                                   ("PUT", api + "rolesmapping/reko_app"),
                                                   ("PUT", api + "rolesmapping/all_access"),
                                                   ("PUT", api + "rolesmapping/security_manager")]
    assert security[0][2] == resources["IndexAccess"]["Properties"]["AppRole"]
    assert security[1][2] == {"backend_roles": ["arn:aws:iam::123456789012:role/frames",
                                                "arn:aws:iam::123456789012:role/web"]}
    assert "arn:aws:iam::123456789012:role/setup" in security[2][2]["backend_roles"]  # the master keeps access
    for _, _, _, headers in security:
        assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
        assert "/us-east-1/es/aws4_request" in headers["Authorization"]
    assert reply[0] == "PUT" and reply[1].startswith("https://cloudformation-custom-resource-response")
    assert reply[2]["Status"] == "SUCCESS" and reply[2]["PhysicalResourceId"] == "IndexAccess"


def test_index_setup_reports_failure_and_ignores_delete(resources, monkeypatch, aws_env):
    module = _setup_module(resources)
    replies = []

    def urlopen(request, timeout):
        if "cloudformation" in request.full_url:
            replies.append(json.loads(request.data))
            return _Response()
        raise OSError("connection refused")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    module.handler(_setup_event(resources, Attempts="2", RetryDelaySeconds="0"), None)
    module.handler(_setup_event(resources, "Delete"), None)
    assert [r["Status"] for r in replies] == ["FAILED", "SUCCESS"]
    assert "connection refused" in replies[0]["Reason"]


# -- sam build ----------------------------------------------------------------------------------
#: Modules each package must import with only the runtime's boto3 beside it (the handler module
#: once it exists, and the modules it will need).
IMPORTS = {
    "OnUploadFunction": ["reko.app", "reko.pipeline.aws.s3_storage", "reko.pipeline.aws.dynamodb_catalog",
                         "reko.pipeline.aws.mediaconvert", "aws_lambda_powertools.utilities.idempotency"],
    "JobStateFunction": ["reko.app", "reko.pipeline.aws.s3_storage", "reko.pipeline.aws.dynamodb_catalog",
                         "reko.pipeline.aws.mediaconvert", "reko.pipeline.dedup", "PIL.Image",
                         "aws_lambda_powertools.utilities.idempotency"],
    "FramesFunction": ["reko.app", "reko.pipeline.aws.s3_storage", "reko.pipeline.aws.dynamodb_catalog",
                       "reko.pipeline.index.opensearch", "reko.pipeline.analyze", "reko.pipeline.persons",
                       "PIL.Image", "aws_lambda_powertools.utilities.batch",
                       "aws_lambda_powertools.utilities.idempotency"],
    "WebFunction": ["reko.app", "reko.webapp", "reko.webapp.api_search", "reko.webapp.api_videos",
                    "reko.webapp.api_persons", "reko.webapp.api_clips", "reko.webapp.api_meta",
                    "reko.webapp.site", "reko.pipeline.aws.s3_storage", "reko.pipeline.aws.dynamodb_catalog",
                    "reko.pipeline.aws.mediaconvert", "reko.pipeline.index.opensearch", "PIL.Image",
                    "apig_wsgi"],
}
#: What the python3.11 runtime has on its path besides the package (taken from this environment).
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")


@pytest.fixture(scope="module")
def sam_build(tmp_path_factory) -> Path:
    """``sam build`` of infra/template.yaml (no container) into a temporary directory."""
    out = tmp_path_factory.mktemp("sam-build")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PYTHON": sys.executable}
    result = subprocess.run([_cli("sam"), "build", "--template", str(TEMPLATE), "--build-dir", str(out / "build"),
                             "--parallel"], cwd=out, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out / "build"


def _dists(package: Path):
    from importlib.metadata import distributions

    return list(distributions(path=[str(package)]))


@pytest.mark.slow
@pytest.mark.parametrize("function", FUNCTIONS)
def test_sam_build_packages_only_what_the_function_needs(sam_build, function):
    package = sam_build / function
    assert package.is_dir()
    size = sum(f.stat().st_size for f in package.rglob("*") if f.is_file() and not f.is_symlink())
    assert size < LAMBDA_UNZIPPED_LIMIT_BYTES, f"{function}: {size / 2**20:.0f} MB unzipped"
    top = {_normal(p.name.split("-")[0] if p.name.endswith(".dist-info") else p.stem) for p in package.iterdir()}
    dists = _dists(package)
    names = {_normal(d.metadata["Name"]) for d in dists}
    forbidden = {_normal(f) for f in FORBIDDEN}
    assert not (top | names) & forbidden, f"{function} carries {(top | names) & forbidden}"
    assert names == _requirement_names(function) | {"reko"}, f"{function}: {names ^ (_requirement_names(function) | {'reko'})}"
    # the handler module (and every module of pipeline/aws/ in this checkout) is inside
    for source in (ROOT / "pipeline" / "aws").glob("*.py"):
        assert (package / "reko" / "pipeline" / "aws" / source.name).is_file(), source.name
    if HANDLERS.exists():
        assert (package / "reko" / "pipeline" / "aws" / "handlers.py").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("function", FUNCTIONS)
def test_sam_build_packages_are_complete_and_loadable(sam_build, function):
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    package = sam_build / function
    dists = _dists(package)
    present = {_normal(d.metadata["Name"]) for d in dists} | RUNTIME_PROVIDES
    environment = {**default_environment(), "python_version": "3.11", "python_full_version": "3.11.0",
                   "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
                   "implementation_name": "cpython", "extra": ""}
    for dist in dists:
        if dist.metadata["Name"] == "reko":
            continue  # its dependencies are the per-function lists (no ffmpeg, click, waitress on Lambda)
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate(environment):
                continue
            name = _normal(requirement.name)
            assert name in present or name in NOT_PACKAGED, f"{function}: {dist.metadata['Name']} needs {text}"
        # binary wheels must load on the python3.11 runtime (CPython 3.11, glibc 2.26, x86_64)
        wheel = Path(dist._path) / "WHEEL"  # type: ignore[attr-defined]
        tags = [line.split(":", 1)[1].strip() for line in wheel.read_text().splitlines() if line.startswith("Tag:")]
        assert any(_loadable(tag) for tag in tags), f"{function}: {dist.metadata['Name']} wheel tags {tags}"


def _loadable(tag: str) -> bool:
    python, abi, platform = tag.split("-")
    if platform == "any":
        return True
    if not (python in ("cp311", "cp3", "py3") or (python.startswith("cp3") and abi == "abi3"
                                                   and int(python[3:]) <= 11)):
        return False
    legacy = {"manylinux1_x86_64": (2, 5), "manylinux2010_x86_64": (2, 12), "manylinux2014_x86_64": (2, 17)}
    if platform in legacy:
        return legacy[platform] <= AL2_GLIBC
    match = re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64", platform)
    return bool(match) and (int(match[1]), int(match[2])) <= AL2_GLIBC


@pytest.mark.slow
@pytest.mark.parametrize("function", FUNCTIONS)
def test_sam_build_packages_import_with_only_the_runtime(sam_build, function, tmp_path):
    package = sam_build / function
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    for name in RUNTIME_MODULES:
        module = __import__(name)
        source = Path(module.__file__)
        source = source.parent if source.name == "__init__.py" else source
        (runtime / source.name).symlink_to(source)
    modules = (["reko.pipeline.aws.handlers"] if HANDLERS.exists() else []) + IMPORTS[function]
    script = (
        "import importlib, json, sys\n"
        f"sys.path[:0] = [{str(package)!r}, {str(runtime)!r}]\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"if {HANDLERS.exists()!r}:\n"
        "    handlers = sys.modules['reko.pipeline.aws.handlers']\n"
        f"    assert callable(getattr(handlers, {FUNCTIONS[function]!r}))\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n")
    # -S: no site-packages, -E: no PYTHON* variables; only the package and the runtime's modules
    result = subprocess.run([sys.executable, "-S", "-E", "-c", script], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120, env={"PATH": os.environ.get("PATH", ""),
                                                            "REKO_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 0, f"{function}: {result.stderr[-3000:]}"
    loaded = set(json.loads(result.stdout))
    assert not loaded & FORBIDDEN - {"boto3", "botocore"}, f"{function} imported {loaded & FORBIDDEN}"


# -- the template against the code's own descriptions --------------------------------------------
def test_tables_match_the_code(resources):
    """The tables are those reko.pipeline.aws.dynamodb_tables describes (and creates on moto)."""
    from reko.pipeline.aws.dynamodb_tables import TABLES

    logical = {"videos": "VideosTable", "persons": "PersonsTable", "faces": "FacesTable"}
    assert set(TABLES) == set(logical)
    for suffix, description in TABLES.items():
        props = resources[logical[suffix]]["Properties"]
        for key, value in description.items():
            assert props[key] == value, (suffix, key)


def _matches(pattern, value) -> bool:
    """EventBridge matching for the pattern forms the template uses (value lists, nesting)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and _matches(p, value[k]) for k, p in pattern.items())
    return value in pattern


def test_job_state_events_of_reko_jobs_reach_on_job_state(resources):
    """The EventBridge rule matches the job state events of the jobs reko starts (a request
    built by ``mediaconvert.ingest_job`` with the queue the template gives on_upload), and only
    the final ones."""
    from reko.pipeline.aws import mediaconvert

    (rule,) = [e["Properties"]["Pattern"] for e in resources["JobStateFunction"]["Properties"]["Events"].values()
               if e["Type"] == "EventBridgeRule"]
    queue_arn = "arn:aws:mediaconvert:us-east-1:123456789012:queues/reko"
    request = mediaconvert.ingest_job("s3://reko-media/uploads/news.mp4", "reko-media", "0123456789abcdef", 1.0,
                                      "arn:aws:iam::123456789012:role/mediaconvert", queue_arn)
    assert request["Queue"] == queue_arn
    # resolved as for a stack that creates its own queue
    resolved = json.loads(json.dumps(rule).replace(json.dumps(rule["detail"]["queue"][0]), json.dumps(queue_arn)))

    def event(status, queue=request["Queue"]):
        return mediaconvert.job_state_event("job-1", status, region="us-east-1", account_id="123456789012",
                                            queue_arn=queue, user_metadata=request["UserMetadata"], timestamp_ms=0)

    assert _matches(resolved, event("COMPLETE")) and _matches(resolved, event("ERROR"))
    assert not _matches(resolved, event("PROGRESSING"))
    assert not _matches(resolved, event("COMPLETE", "arn:aws:mediaconvert:us-east-1:123456789012:queues/Default"))
