"""The contract of :class:`reko.pipeline.catalog.VideoCatalog`, run over both backends: the SQLite
``Catalog`` and ``DynamoCatalog`` on moto (behind a resource whose scans return pages of two
items, so pagination is exercised), plus what only the DynamoDB catalog has (conditional
``create``, idempotent ``mark_batch_done``, lease expiry).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid

import boto3
import pytest

from reko.errors import FaultError, NotFoundError, StorageError
from reko.pipeline.catalog import Catalog, VideoRecord

REGION = "us-east-1"
VA, VB, VC, VD = "0123456789abcdef", "fedcba9876543210", "00000000000000aa", "00000000000000bb"
PROBE = {"duration_ms": 61_000, "width": 1280, "height": 720, "fps": 29.97, "size_bytes": 12_345_678}


class _SmallPageTable:
    """A boto3 Table whose query/scan return at most two evaluated items a page."""

    def __init__(self, table):
        self._table = table

    def scan(self, **kwargs):
        return self._table.scan(Limit=2, **kwargs)

    def query(self, **kwargs):
        return self._table.query(Limit=2, **kwargs)

    def __getattr__(self, name):
        return getattr(self._table, name)


class SmallPages:
    """A boto3 DynamoDB resource whose tables page by two items."""

    def __init__(self, resource):
        self._resource = resource

    def Table(self, name):
        return _SmallPageTable(self._resource.Table(name))

    def __getattr__(self, name):
        return getattr(self._resource, name)


@pytest.fixture
def aws(monkeypatch):
    """moto for this test; yields a boto3 DynamoDB resource."""
    moto = pytest.importorskip("moto")
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_SESSION_TOKEN", "testing"), ("AWS_DEFAULT_REGION", REGION)):
        monkeypatch.setenv(name, value)
    with moto.mock_aws():
        yield boto3.resource("dynamodb", region_name=REGION)


def dynamo_catalog(resource):
    from reko.pipeline.aws.dynamodb_catalog import DynamoCatalog
    from reko.pipeline.aws.dynamodb_tables import create_tables

    prefix = f"reko-{uuid.uuid4().hex[:8]}"
    create_tables(resource, prefix)
    return DynamoCatalog(prefix, resource=SmallPages(resource))


@pytest.fixture(params=["sqlite", "dynamodb"])
def catalog(request, tmp_path):
    """An empty VideoCatalog of each backend."""
    if request.param == "sqlite":
        made = Catalog(tmp_path / "data" / "catalog.db")
    else:
        made = dynamo_catalog(request.getfixturevalue("aws"))
    yield made
    made.close()


@pytest.fixture
def dynamo(aws):
    return dynamo_catalog(aws)


def start(catalog, video_id, filename="news.mp4", stored_path="videos/x.mp4", status="ingesting", **probe):
    return catalog.start(video_id, filename, stored_path, status=status, **{**PROBE, **probe})


# -- records -----------------------------------------------------------------------------------------
def test_start_creates_a_record(catalog):
    assert catalog.get(VA) is None
    before = time.time()
    record = start(catalog, VA)
    after = time.time()
    assert record == catalog.get(VA)
    assert (record.video_id, record.filename, record.stored_path, record.status) == \
        (VA, "news.mp4", "videos/x.mp4", "ingesting")
    assert (record.duration_ms, record.width, record.height, record.fps, record.size_bytes) == \
        (61_000, 1280, 720, 29.97, 12_345_678)
    assert (record.checkpoint_ms, record.frames_sampled, record.frames_analysed, record.error) == (-1, 0, 0, "")
    assert before <= record.created_at == record.updated_at <= after


def test_record_types_are_the_dataclass_types(catalog):
    record = start(catalog, VA, fps=25.0, duration_ms=4000)
    catalog.update(VA, checkpoint_ms=2000)
    record = catalog.get(VA)
    for name in ("duration_ms", "width", "height", "size_bytes", "checkpoint_ms", "frames_sampled",
                 "frames_analysed"):
        assert type(getattr(record, name)) is int, name
    for name in ("fps", "created_at", "updated_at"):
        assert type(getattr(record, name)) is float, name
    assert record.to_json()["fps"] == 25.0 and repr(record.to_json()["fps"]) == "25.0"


def test_start_queued(catalog):
    record = start(catalog, VA, status="queued")
    assert record.status == "queued" and catalog.get(VA).status == "queued"


def test_start_again_resumes_keeping_checkpoint_and_created_at(catalog):
    first = start(catalog, VA, filename="first.mp4", stored_path="videos/a.mp4", status="queued")
    catalog.update(VA, status="failed", error="ffmpeg died", checkpoint_ms=4000, frames_sampled=10,
                   frames_analysed=8)
    time.sleep(0.01)
    again = start(catalog, VA, filename="second.mp4", stored_path="videos/b.mp4", status="ingesting")
    assert again == catalog.get(VA)
    assert (again.status, again.error, again.stored_path) == ("ingesting", "", "videos/b.mp4")
    assert (again.checkpoint_ms, again.frames_sampled, again.frames_analysed) == (4000, 10, 8)
    assert again.filename == "first.mp4"
    assert again.created_at == first.created_at
    assert again.updated_at > first.updated_at


def test_update(catalog):
    record = start(catalog, VA)
    time.sleep(0.01)
    catalog.update(VA, status="ready", checkpoint_ms=60_000, frames_sampled=61, frames_analysed=40,
                   error="", filename="renamed.mp4")
    got = catalog.get(VA)
    assert (got.status, got.checkpoint_ms, got.frames_sampled, got.frames_analysed, got.filename) == \
        ("ready", 60_000, 61, 40, "renamed.mp4")
    assert got.updated_at > record.updated_at and got.created_at == record.created_at
    assert (got.stored_path, got.duration_ms) == (record.stored_path, record.duration_ms)
    catalog.update(VA, error="boom")
    assert catalog.get(VA).error == "boom" and catalog.get(VA).status == "ready"


def test_update_refuses_unknown_fields_and_statuses(catalog):
    start(catalog, VA)
    with pytest.raises(ValueError, match="not updatable"):
        catalog.update(VA, created_at=0)
    with pytest.raises(ValueError, match="unknown status"):
        catalog.update(VA, status="done")
    assert catalog.get(VA).status == "ingesting"


def test_update_of_an_unknown_video_creates_nothing(catalog):
    catalog.update(VA, status="ready")
    assert catalog.get(VA) is None
    assert catalog.list() == []


def test_list_newest_first_and_by_status(catalog):
    assert catalog.list() == []
    for video_id, status in ((VA, "ready"), (VB, "failed"), (VC, "queued"), (VD, "ready")):
        start(catalog, video_id, status="ingesting")
        catalog.update(video_id, status=status)
        time.sleep(0.01)
    assert [r.video_id for r in catalog.list()] == [VD, VC, VB, VA]
    assert [r.video_id for r in catalog.list(("ready",))] == [VD, VA]
    assert [r.video_id for r in catalog.list(("failed", "queued"))] == [VC, VB]
    assert catalog.list(("deleting",)) == []
    assert catalog.list() == [catalog.get(v) for v in (VD, VC, VB, VA)]


def test_list_and_get_never_show_a_lock(catalog):
    start(catalog, VA)
    with catalog.video_lock(VB, timeout_s=1):
        assert [r.video_id for r in catalog.list()] == [VA]
        assert catalog.get(VB) is None
        assert catalog.get("lock#" + VB) is None


def test_delete(catalog):
    start(catalog, VA)
    start(catalog, VB)
    assert catalog.delete(VA) is True
    assert catalog.get(VA) is None
    assert catalog.delete(VA) is False
    assert catalog.delete(VC) is False
    assert [r.video_id for r in catalog.list()] == [VB]


def test_malformed_ids_are_unknown_videos(catalog):
    start(catalog, VA)
    for bad in ("../etc", "", "lock#" + VA, VA.upper()):
        assert catalog.get(bad) is None
        assert catalog.delete(bad) is False
        catalog.update(bad, status="ready")
    assert [(r.video_id, r.status) for r in catalog.list()] == [(VA, "ingesting")]


# -- locking -----------------------------------------------------------------------------------------
def test_lock_second_holder_waits_for_the_first(catalog):
    taken, events = threading.Event(), []

    def first():
        with catalog.video_lock(VA, timeout_s=10):
            events.append("first in")
            taken.set()
            time.sleep(0.6)
            events.append("first out")

    def second():
        taken.wait(10)
        started = time.monotonic()
        with catalog.video_lock(VA, timeout_s=10):
            events.append(("second in", time.monotonic() - started))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert events[:2] == ["first in", "first out"]
    assert events[2][0] == "second in" and events[2][1] >= 0.3


def test_lock_times_out_and_other_videos_are_free(catalog):
    with catalog.video_lock(VA, timeout_s=1):
        started = time.monotonic()
        with pytest.raises(FaultError, match="busy"), catalog.video_lock(VA, timeout_s=0.3):
            pass
        assert time.monotonic() - started >= 0.3
        with catalog.video_lock(VB, timeout_s=0.2):
            pass
    with catalog.video_lock(VA, timeout_s=0):  # released: free at once
        pass


def test_lock_is_released_when_the_body_raises(catalog):
    with pytest.raises(RuntimeError), catalog.video_lock(VA, timeout_s=1):
        raise RuntimeError("ingest failed")
    with catalog.video_lock(VA, timeout_s=0):
        pass


def test_lock_refuses_a_malformed_id(catalog):
    with pytest.raises(NotFoundError), catalog.video_lock("../etc", timeout_s=0):
        pass


def test_a_dead_holder_loses_the_lock(catalog, request, tmp_path):
    """SQLite: the holder process is SIGKILLed (the kernel drops its file lock); DynamoDB: the
    holder never releases, and its lease expires."""
    if "sqlite" in request.node.callspec.id:
        code = ("import sys, time\nfrom reko.pipeline.catalog import Catalog\n"
                f"held = Catalog({str(catalog.path)!r}).video_lock({VA!r})\nheld.__enter__()\n"
                "print('held', flush=True)\ntime.sleep(60)\n")
        holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "held"
            with pytest.raises(FaultError), catalog.video_lock(VA, timeout_s=0.3):
                pass
        finally:
            holder.kill()
            holder.wait(10)
        with catalog.video_lock(VA, timeout_s=5):
            pass
        return
    abandoned = catalog.video_lock(VA, lease_s=0.8)
    abandoned.__enter__()
    with pytest.raises(FaultError), catalog.video_lock(VA, timeout_s=0.2):
        pass
    started = time.monotonic()
    with catalog.video_lock(VA, timeout_s=5):
        assert time.monotonic() - started >= 0.3
        abandoned.__exit__(None, None, None)  # the old holder's late release leaves ours alone
        with pytest.raises(FaultError), catalog.video_lock(VA, timeout_s=0.2):
            pass


# -- DynamoDB only -----------------------------------------------------------------------------------
def test_dynamo_create_is_conditional(dynamo):
    before = time.time()
    assert dynamo.create(VA, "first.mp4", source_key="uploads/first.mp4") is True
    assert dynamo.create(VA, "second.mp4", source_key="uploads/second.mp4") is False
    record = dynamo.get(VA)
    assert (record.filename, record.status, record.checkpoint_ms, record.error, record.stored_path) == \
        ("first.mp4", "queued", -1, "", "")
    assert type(record.fps) is float and record.fps == 0.0
    assert before <= record.created_at <= time.time()
    assert dynamo.item(VA)["source_key"] == "uploads/first.mp4"
    resumed = start(dynamo, VA, filename="other.mp4", stored_path="videos/p.mp4")
    assert (resumed.filename, resumed.created_at, resumed.status) == ("first.mp4", record.created_at, "ingesting")
    assert resumed.duration_ms == PROBE["duration_ms"]  # the probe fills in what create did not know
    with pytest.raises(NotFoundError):
        dynamo.create("not-an-id", "x.mp4")


def test_dynamo_mark_batch_done_is_idempotent(dynamo):
    dynamo.create(VA, "a.mp4")
    assert dynamo.mark_batch_done(VA, "b0") == (1, -1)  # total not known yet
    dynamo.update(VA, batches_total=3, job_id="job-1")
    assert dynamo.mark_batch_done(VA, "b0") == (1, 3)
    assert dynamo.mark_batch_done(VA, "b1") == (2, 3)
    assert dynamo.mark_batch_done(VA, "b1") == (2, 3)
    assert dynamo.mark_batch_done(VA, "b2") == (3, 3)
    item = dynamo.item(VA)
    assert item["batches_done"] == ["b0", "b1", "b2"] and item["job_id"] == "job-1"
    assert dynamo.get(VA).status == "queued"  # the caller decides when it is ready
    dynamo.delete(VA)
    assert dynamo.mark_batch_done(VA, "b3") == (0, -1)
    assert dynamo.get(VA) is None  # not re-created by a late batch


def test_dynamo_faults_become_storage_errors(aws):
    from reko.pipeline.aws.dynamodb_catalog import DynamoCatalog

    missing = DynamoCatalog("no-such-prefix", resource=aws)
    calls = [lambda: missing.get(VA), lambda: missing.list(), lambda: start(missing, VA),
             lambda: missing.update(VA, status="ready"), lambda: missing.delete(VA),
             lambda: missing.create(VA, "a.mp4"), lambda: missing.mark_batch_done(VA, "b0"),
             lambda: missing.item(VA), lambda: missing.video_lock(VA, timeout_s=0).__enter__()]
    for call in calls:
        with pytest.raises(StorageError) as info:
            call()
        assert "check the table" in str(info.value)
        assert "no-such-prefix" not in str(info.value) and "no-such-prefix" in info.value.detail


def test_dynamo_resource_is_made_on_first_use(aws):
    from reko.pipeline.aws.dynamodb_catalog import DynamoCatalog
    from reko.pipeline.aws.dynamodb_tables import create_tables

    create_tables(aws, "lazy")
    made = DynamoCatalog("lazy")
    assert made._resource is None and made._table is None
    start(made, VA)
    assert [r.video_id for r in made.list()] == [VA]


def test_dynamo_without_a_region_is_a_storage_error(aws, monkeypatch, tmp_path):
    from reko.pipeline.aws.dynamodb_catalog import DynamoCatalog

    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    for call in (lambda c: c.get(VA), lambda c: c.list(), lambda c: c.create(VA, "a.mp4"),
                 lambda c: c.video_lock(VA, timeout_s=0).__enter__()):
        with pytest.raises(StorageError, match="check the table"):
            call(DynamoCatalog("lazy"))


def test_dynamo_parse_url():
    from reko.pipeline.aws.dynamodb_catalog import parse_dynamodb_url

    assert parse_dynamodb_url("dynamodb://reko-prod") == "reko-prod"
    assert parse_dynamodb_url("dynamodb://reko-prod/") == "reko-prod"
    for bad in ("dynamodb://", "sqlite:///x.db", "reko-prod"):
        with pytest.raises(StorageError):
            parse_dynamodb_url(bad)


def test_record_fields_are_what_the_contract_compares():
    assert list(VideoRecord.__dataclass_fields__) == [
        "video_id", "filename", "stored_path", "duration_ms", "width", "height", "fps", "size_bytes",
        "status", "checkpoint_ms", "frames_sampled", "frames_analysed", "error", "created_at", "updated_at"]
