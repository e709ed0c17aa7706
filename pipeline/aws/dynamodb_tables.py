"""The DynamoDB tables of reko on AWS, described once.

:data:`TABLES` is the single description of the three tables (key schema, attribute types,
global secondary indexes) in the shape both ``CreateTable`` and CloudFormation's
``AWS::DynamoDB::Table`` properties use, so the SAM template's tables can be compared with it;
:func:`create_tables` creates them (tests on moto, a local stack on DynamoDB Local).

* ``<prefix>-videos`` (:mod:`reko.pipeline.aws.dynamodb_catalog`): partition key ``video_id``.
* ``<prefix>-persons`` (:mod:`reko.pipeline.aws.dynamodb_persons`): partition key ``person_id``.
* ``<prefix>-faces`` (the same module): partition key ``face_id``; GSI ``by_person``
  (partition ``person_id``: a face without a person is absent from it) and GSI ``by_frame``
  (partition ``video_id``, sort ``frame_ms``, a number). Both project every attribute.
"""

from __future__ import annotations

import copy
from typing import Any

from ...errors import StorageError

BILLING_MODE = "PAY_PER_REQUEST"

#: table name suffix (``<prefix>-<suffix>``) → ``AttributeDefinitions``, ``KeySchema`` and
#: (faces only) ``GlobalSecondaryIndexes``, exactly as passed to ``CreateTable``.
TABLES: dict[str, dict[str, Any]] = {
    "videos": {
        "AttributeDefinitions": [{"AttributeName": "video_id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "video_id", "KeyType": "HASH"}],
    },
    "persons": {
        "AttributeDefinitions": [{"AttributeName": "person_id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "person_id", "KeyType": "HASH"}],
    },
    "faces": {
        "AttributeDefinitions": [{"AttributeName": "face_id", "AttributeType": "S"},
                                 {"AttributeName": "person_id", "AttributeType": "S"},
                                 {"AttributeName": "video_id", "AttributeType": "S"},
                                 {"AttributeName": "frame_ms", "AttributeType": "N"}],
        "KeySchema": [{"AttributeName": "face_id", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {"IndexName": "by_person",
             "KeySchema": [{"AttributeName": "person_id", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": "by_frame",
             "KeySchema": [{"AttributeName": "video_id", "KeyType": "HASH"},
                           {"AttributeName": "frame_ms", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}},
        ],
    },
}


def table_name(prefix: str, suffix: str) -> str:
    """``<prefix>-<suffix>``, the name of one of :data:`TABLES` (``suffix`` one of its keys)."""
    if suffix not in TABLES:
        raise ValueError(f"unknown table {suffix!r}; one of {sorted(TABLES)}")
    return f"{prefix}-{suffix}"


def create_table_request(prefix: str, suffix: str) -> dict[str, Any]:
    """The ``CreateTable`` parameters of one table (on-demand billing), a fresh dict."""
    return {"TableName": table_name(prefix, suffix), "BillingMode": BILLING_MODE,
            **copy.deepcopy(TABLES[suffix])}


def create_tables(resource: Any, prefix: str, *, wait_delay_s: float = 1.0,
                  wait_attempts: int = 120) -> list[str]:
    """Create ``<prefix>-videos``, ``<prefix>-persons`` and ``<prefix>-faces`` (see
    :data:`TABLES`, ``PAY_PER_REQUEST``) with a boto3 DynamoDB ``resource``, and wait until each
    is ``ACTIVE`` (polling every ``wait_delay_s`` s, at most ``wait_attempts`` times). A table
    that already exists is left as it is (so a local stack can call this on every start).
    Returns the three table names.

    Raises:
        StorageError: DynamoDB refused a table or it did not become active in time.
    """
    import botocore.exceptions

    client = resource.meta.client
    names = []
    for suffix in TABLES:
        request = create_table_request(prefix, suffix)
        names.append(request["TableName"])
        try:
            client.create_table(**request)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise StorageError(f"cannot create the DynamoDB table for {suffix}; check the "
                                   "credentials, region and permissions",
                                   detail=f"{request['TableName']}: {exc}") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise StorageError("cannot reach DynamoDB; check the credentials, region and "
                               "endpoint", detail=f"{request['TableName']}: {exc}") from None
    waiter = client.get_waiter("table_exists")
    for name in names:
        try:
            waiter.wait(TableName=name, WaiterConfig={"Delay": wait_delay_s, "MaxAttempts": wait_attempts})
        except (botocore.exceptions.WaiterError, botocore.exceptions.ClientError,
                botocore.exceptions.BotoCoreError) as exc:
            raise StorageError("a DynamoDB table did not become active; check it in the console",
                               detail=f"{name}: {exc}") from None
    return names
