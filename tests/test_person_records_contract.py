"""The contract of :class:`reko.pipeline.person_records.PersonRecords`, run over both backends:
SQLite (``SqlitePersonRecords``) and DynamoDB (``DynamoPersonRecords`` on moto).

The DynamoDB backend runs behind a resource that makes every Query/Scan return pages of two
items (so pagination, including empty filtered pages, is exercised by every test) and every
other BatchGetItem leave half of its keys unprocessed (so the retry is exercised).
Expected values are computed by hand in each test.
"""

from __future__ import annotations

import dataclasses
import uuid

import boto3
import pytest

from reko.errors import StorageError
from reko.pipeline.person_records import FaceRow, Person, SqlitePersonRecords

REGION = "us-east-1"


# -- DynamoDB on moto, with small pages and partial batch reads ------------------------------------
class _SmallPageTable:
    """A boto3 Table whose query/scan return at most ``limit`` evaluated items a page."""

    def __init__(self, table, limit: int):
        self._table, self._limit = table, limit

    def query(self, **kwargs):
        return self._table.query(Limit=self._limit, **kwargs)

    def scan(self, **kwargs):
        return self._table.scan(Limit=self._limit, **kwargs)

    def __getattr__(self, name):
        return getattr(self._table, name)


class StingyResource:
    """A boto3 DynamoDB resource that pages by ``limit`` and, every other BatchGetItem (or every
    one with ``always_unprocessed``), answers only the first half of the keys and returns the
    rest as ``UnprocessedKeys``, as DynamoDB does under throttling."""

    def __init__(self, resource, limit: int = 2, always_unprocessed: bool = False):
        self._resource, self._limit, self._always = resource, limit, always_unprocessed
        self.batch_calls: list[int] = []  # keys asked per call

    def Table(self, name):
        return _SmallPageTable(self._resource.Table(name), self._limit)

    def batch_get_item(self, RequestItems):
        self.batch_calls.append(sum(len(r["Keys"]) for r in RequestItems.values()))
        if not self._always and len(self.batch_calls) % 2 == 0:
            return self._resource.batch_get_item(RequestItems=RequestItems)
        asked, unprocessed = {}, {}
        for table, request in RequestItems.items():
            keys = request["Keys"]
            half = 0 if self._always else (len(keys) + 1) // 2
            if keys[:half]:
                asked[table] = {**request, "Keys": keys[:half]}
            if keys[half:]:
                unprocessed[table] = {**request, "Keys": keys[half:]}
        response = self._resource.batch_get_item(RequestItems=asked) if asked else {"Responses": {}}
        return {**response, "UnprocessedKeys": unprocessed}

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


def dynamo_records(resource, **stingy):
    from reko.pipeline.aws.dynamodb_persons import DynamoPersonRecords
    from reko.pipeline.aws.dynamodb_tables import create_tables

    prefix = f"reko-{uuid.uuid4().hex[:8]}"
    create_tables(resource, prefix)
    proxy = StingyResource(resource, **stingy)
    return DynamoPersonRecords(prefix, resource=proxy), proxy


@pytest.fixture(params=["sqlite", "dynamodb"])
def records(request, tmp_path):
    """An empty PersonRecords of each backend."""
    if request.param == "sqlite":
        store = SqlitePersonRecords(tmp_path / "persons.db")
    else:
        store, _ = dynamo_records(request.getfixturevalue("aws"))
    yield store
    store.close()


def face(face_id, person_id, video_id="v1", frame_ms=0, span_ms=500, *, removed=False, good=True,
         associated=True, confidence=99.87654321, box=None):
    return FaceRow(face_id=face_id, person_id=person_id, video_id=video_id, frame_ms=frame_ms,
                   span_ms=span_ms, box=box or {"Left": 0.12345, "Top": 0.5, "Width": 0.1, "Height": 0.25},
                   confidence=confidence, good=good, associated=associated, removed=removed)


def frames(rows):
    return [(r.video_id, r.frame_ms) for r in rows]


# -- persons ----------------------------------------------------------------------------------------
def test_add_person_is_insert_or_ignore(records):
    assert records.thumbnail_score("p1") is None
    records.add_person("p1", "v1", 1000)
    score = records.thumbnail_score("p1")
    assert score == 0.0 and type(score) is float
    records.set_thumbnail("p1", "f1", 12.75)
    records.rename("p1", "Kim")
    records.add_person("p1", "v2", 5)  # known: nothing changes, not even where it started
    assert records.thumbnail_score("p1") == 12.75
    assert records.names() == {"p1": "Kim"}
    assert records.started_after("v1", 999) == ["p1"]
    assert records.started_after("v2", -1) == []


def test_unknown_person_is_never_created_by_updates(records):
    records.rename("ghost", "Nobody")
    records.set_thumbnail("ghost", "f1", 3.0)
    records.delete_person("ghost")
    assert records.thumbnail_score("ghost") is None
    assert records.names() == {}
    assert records.persons() == []
    assert records.person_ids_named("Nobody") == []


def test_set_thumbnail_replaces_face_and_score(records):
    records.add_person("p1", "v1", 0)
    records.set_thumbnail("p1", "f1", 2.5)
    records.set_thumbnail("p1", "f2", 1.25)
    assert records.thumbnail_score("p1") == 1.25
    assert [p.thumbnail_face_id for p in records.persons()] == ["f2"]


def test_names_and_rename(records):
    for pid in ("p1", "p2", "p3"):
        records.add_person(pid, "v1", 0)
    assert records.names() == {}
    records.rename("p1", "Kim Minsu")
    records.rename("p2", "김민수")
    assert records.names() == {"p1": "Kim Minsu", "p2": "김민수"}
    records.rename("p1", "")
    assert records.names() == {"p2": "김민수"}
    assert {p.person_id: p.name for p in records.persons()} == {"p1": "", "p2": "김민수", "p3": ""}


def test_person_ids_named(records):
    for pid in ("p1", "p2", "p3", "p4"):
        records.add_person(pid, "v1", 0)
    records.rename("p1", "Kim Minsu")
    records.rename("p2", "kim MINSU")
    records.rename("p4", "p3")  # a name that is also someone's id
    assert records.person_ids_named("KIM MINSU") == ["p1", "p2"]
    assert records.person_ids_named("  kim minsu ") == ["p1", "p2"]  # the name is compared stripped
    assert records.person_ids_named("Kim") == []  # whole names only
    assert records.person_ids_named("p1") == ["p1"]
    assert records.person_ids_named(" p1") == []  # ids exactly
    assert records.person_ids_named("P1") == []
    assert records.person_ids_named("p3") == ["p3", "p4"]
    assert records.person_ids_named("") == []  # unnamed persons never match an empty name
    assert records.person_ids_named("nobody") == []


def test_person_ids_named_folds_case_beyond_ascii(records):
    records.add_person("p1", "v1", 0)
    records.rename("p1", "Émile Zoé")
    assert records.person_ids_named("ÉMILE ZOÉ") == ["p1"]


def test_delete_person_keeps_its_faces(records):
    records.add_person("p1", "v1", 0)
    records.add_person("p2", "v1", 0)
    records.put_face(face("f1", "p1", frame_ms=0))
    records.delete_person("p1")
    assert [p.person_id for p in records.persons()] == ["p2"]
    assert records.thumbnail_score("p1") is None
    assert [r.face_id for r in records.faces_of("p1")] == ["f1"]
    assert records.face("f1").person_id == "p1"


def test_started_after_is_strict_and_per_video(records):
    records.add_person("pa", "v1", 1000)
    records.add_person("pb", "v1", 2000)
    records.add_person("pc", "v2", 3000)
    records.add_person("pd", "v1", 0)
    assert records.started_after("v1", 1000) == ["pb"]
    assert sorted(records.started_after("v1", 999)) == ["pa", "pb"]
    assert sorted(records.started_after("v1", -1)) == ["pa", "pb", "pd"]
    assert records.started_after("v2", 2999) == ["pc"]
    assert records.started_after("v2", 3000) == []
    assert records.started_after("v3", -1) == []


# -- aggregates ------------------------------------------------------------------------------------
def test_persons_aggregates_and_order(records):
    for pid in ("p1", "p2", "p0", "p3", "p4"):
        records.add_person(pid, "v1", 0)
    records.rename("p2", "Lee")
    records.set_thumbnail("p1", "f2", 3.0)
    records.put_face(face("f1", "p1", "v1", 1000, 500))
    records.put_face(face("f2", "p1", "v1", 1000, 700))   # same frame: its span counts once (the larger)
    records.put_face(face("f3", "p1", "v2", 2000, 400))
    records.put_face(face("f4", "p2", "v1", 1000, 500))
    records.put_face(face("f5", "p2", "v1", 3000, 500, removed=True))  # removed: not counted
    records.put_face(face("f6", None, "v1", 4000, 500))   # nobody's
    records.put_face(face("f7", "p1", "v1", 5000, 300))
    records.mark_removed("f7")                             # removed later: not counted
    records.put_face(face("f8", "ghost", "v1", 6000, 900))  # a person no longer recorded
    records.put_face(face("f9", "p0", "v3", 0, 250))
    records.put_face(face("f10", "p0", "v3", 250, 250))
    assert records.persons() == [
        Person("p1", "", face_count=3, screen_time_ms=1100, videos=2, thumbnail_face_id="f2"),
        Person("p0", "", face_count=2, screen_time_ms=500, videos=1, thumbnail_face_id=None),  # tie: by id
        Person("p2", "Lee", face_count=1, screen_time_ms=500, videos=1, thumbnail_face_id=None),
        Person("p3", "", face_count=0, screen_time_ms=0, videos=0, thumbnail_face_id=None),
        Person("p4", "", face_count=0, screen_time_ms=0, videos=0, thumbnail_face_id=None),
    ]


def test_screen_time_counts_a_frame_once_per_person_not_once_overall(records):
    records.add_person("p1", "v1", 0)
    records.add_person("p2", "v1", 0)
    records.put_face(face("f1", "p1", "v1", 0, 400))
    records.put_face(face("f2", "p2", "v1", 0, 400))
    records.put_face(face("f3", "p2", "v1", 0, 400))
    by_id = {p.person_id: (p.face_count, p.screen_time_ms, p.videos) for p in records.persons()}
    assert by_id == {"p1": (1, 400, 1), "p2": (2, 400, 1)}


# -- faces -----------------------------------------------------------------------------------------
def test_face_round_trip_keeps_types(records):
    row = face("f1", "p1", "v1", 1234, 333, good=False, associated=False, confidence=87.123456789,
               box={"Left": 0.1, "Top": 0.2, "Width": 0.333333, "Height": 1.0})
    records.put_face(row)
    got = records.face("f1")
    assert got == row
    assert type(got.frame_ms) is int and type(got.span_ms) is int
    assert type(got.confidence) is float and all(type(v) is float for v in got.box.values())
    assert got.good is False and got.associated is False and got.removed is False
    assert records.face("nope") is None


def test_face_without_person(records):
    records.put_face(face("f1", None))
    assert records.face("f1").person_id is None
    assert records.faces_by_id(["f1"])["f1"].person_id is None


def test_put_face_replaces(records):
    records.put_face(face("f1", "p1", "v1", 1000, 500))
    replacement = face("f1", "p2", "v2", 2000, 250, good=False, box={"Left": 0.5, "Top": 0.5, "Width": 0.2, "Height": 0.2})
    records.put_face(replacement)
    assert records.face("f1") == replacement
    assert records.faces_of("p1") == []
    assert records.faces_of("p2") == [replacement]
    assert records.faces_after("v1", -1) == []
    records.put_face(face("f1", None, "v2", 2000, 250))
    assert records.faces_of("p2") == []


def test_faces_of_orders_by_video_then_time_and_skips_removed(records):
    for face_id, video, ms in (("a", "v2", 500), ("b", "v1", 3000), ("c", "v1", 200), ("d", "v1", 1000),
                               ("e", "v10", 0), ("f", "v1", 30000)):
        records.put_face(face(face_id, "p1", video, ms))
    records.put_face(face("g", "p1", "v1", 100, removed=True))
    records.put_face(face("h", "p1", "v1", 150))
    records.mark_removed("h")
    records.put_face(face("i", "p2", "v1", 0))
    got = records.faces_of("p1")
    # string order of videos ("v1" < "v10" < "v2"), numeric order of times (200 < 1000 < 3000 < 30000)
    assert frames(got) == [("v1", 200), ("v1", 1000), ("v1", 3000), ("v1", 30000), ("v10", 0), ("v2", 500)]
    assert [r.face_id for r in got] == ["c", "d", "b", "f", "e", "a"]
    assert records.faces_of("nobody") == []


def test_mark_removed(records):
    records.put_face(face("f1", "p1", "v1", 1000, 500))
    records.mark_removed("f1")
    expected = face("f1", None, "v1", 1000, 500, removed=True)
    assert records.face("f1") == expected
    assert records.faces_by_id(["f1"]) == {"f1": expected}
    assert records.faces_of("p1") == []
    assert records.faces_after("v1", 999) == [expected]  # removed faces are still the video's rows
    records.move_faces("p1", "p2")                        # it has no person any more: not moved
    assert records.face("f1").person_id is None
    records.mark_removed("unknown")                       # no row appears for an unknown face
    assert records.face("unknown") is None
    assert records.faces_by_id(["unknown"]) == {}


def test_move_faces(records):
    for pid in ("p1", "p2", "p3"):
        records.add_person(pid, "v1", 0)
    records.put_face(face("f1", "p1", "v1", 1000))
    records.put_face(face("f2", "p1", "v2", 0))
    records.put_face(face("f3", "p2", "v1", 500))
    records.put_face(face("f4", "p3", "v1", 1000))
    records.put_face(face("f5", "p1", "v1", 2000, removed=True))  # removed but still p1's row
    for i in range(5):
        records.put_face(face(f"g{i}", "p1", "v3", i * 100))
    records.move_faces("p1", "p2")
    assert records.faces_of("p1") == []
    assert [r.face_id for r in records.faces_of("p2")] == ["f3", "f1", "f2", "g0", "g1", "g2", "g3", "g4"]
    assert records.face("f5").person_id == "p2" and records.face("f5").removed
    assert [r.face_id for r in records.faces_of("p3")] == ["f4"]
    records.move_faces("p2", "p2")
    records.move_faces("nobody", "p3")
    assert [r.face_id for r in records.faces_of("p3")] == ["f4"]
    assert {p.person_id: p.face_count for p in records.persons()} == {"p1": 0, "p2": 8, "p3": 1}


def test_faces_after_boundaries(records):
    rows = [face("f0", "p1", "v1", 0), face("f1a", "p1", "v1", 1000), face("f1b", "p2", "v1", 1000),
            face("f2", None, "v1", 2000), face("f3", "p1", "v1", 3000, removed=True),
            face("x", "p1", "v2", 5000)]
    for row in rows:
        records.put_face(row)

    def ids(after):
        return sorted(r.face_id for r in records.faces_after("v1", after))

    assert ids(1000) == ["f2", "f3"]
    assert ids(999) == ["f1a", "f1b", "f2", "f3"]
    assert ids(-1) == ["f0", "f1a", "f1b", "f2", "f3"]
    assert ids(3000) == []
    assert sorted(records.faces_after("v1", 1999), key=lambda r: r.face_id) == [rows[3], rows[4]]
    assert records.faces_after("v9", -1) == []


def test_delete_faces_after(records):
    records.add_person("p1", "v1", 0)
    for name, ms in (("f0", 0), ("f1a", 1000), ("f1b", 1000), ("f2", 2000), ("f3", 3000)):
        records.put_face(face(name, "p1", "v1", ms))
    records.put_face(face("x", "p1", "v2", 5000))
    records.delete_faces_after("v1", 1000)
    assert sorted(r.face_id for r in records.faces_after("v1", -1)) == ["f0", "f1a", "f1b"]
    assert records.face("f2") is None and records.face("f3") is None
    assert records.face("x") is not None
    records.delete_faces_after("v1", -1)
    assert records.faces_after("v1", -1) == []
    assert [r.face_id for r in records.faces_of("p1")] == ["x"]
    assert [p.person_id for p in records.persons()] == ["p1"]  # persons are not touched
    records.delete_faces_after("v9", -1)  # nothing there: no error


def test_faces_by_id(records):
    rows = [face(f"f{i:03d}", f"p{i % 3}" if i % 5 else None, f"v{i % 2}", i * 40, removed=i % 7 == 0)
            for i in range(230)]
    for row in rows:
        records.put_face(row)
    wanted = [r.face_id for r in rows] + ["missing-1", "f001", "missing-2", "f100"]
    got = records.faces_by_id(wanted)
    assert got == {r.face_id: r for r in rows}
    assert records.faces_by_id([]) == {}
    assert records.faces_by_id(["missing"]) == {}
    assert records.faces_by_id(["f007", "f007"]) == {"f007": rows[7]}
    assert got["f007"].removed and not got["f008"].removed


# -- DynamoDB only ---------------------------------------------------------------------------------
def test_dynamo_items_never_hold_a_null_person(aws):
    store, _ = dynamo_records(aws)
    store.put_face(face("f1", None))
    store.put_face(face("f2", "p1"))
    store.mark_removed("f2")
    table = aws.Table(store.faces_table_name)
    for face_id in ("f1", "f2"):
        item = table.get_item(Key={"face_id": face_id})["Item"]
        assert "person_id" not in item
    assert table.query(IndexName="by_person", KeyConditionExpression="person_id = :p",
                       ExpressionAttributeValues={":p": "p1"})["Items"] == []
    assert table.get_item(Key={"face_id": "f2"})["Item"]["removed"] is True


def test_dynamo_rejects_an_empty_person_id(aws):
    store, _ = dynamo_records(aws)
    with pytest.raises(ValueError):
        store.put_face(face("f1", ""))


def test_dynamo_batch_get_retries_unprocessed_keys(aws):
    store, proxy = dynamo_records(aws)
    rows = [face(f"f{i:03d}", "p1", "v1", i) for i in range(130)]
    for row in rows:
        store.put_face(row)
    assert store.faces_by_id([r.face_id for r in rows]) == {r.face_id: r for r in rows}
    # chunks of 100 and 30; each first call answers half and leaves half unprocessed
    assert proxy.batch_calls == [100, 50, 30, 15]


def test_dynamo_batch_get_gives_up_with_a_storage_error(aws, monkeypatch):
    import reko.pipeline.aws.dynamodb_persons as module

    store, proxy = dynamo_records(aws, always_unprocessed=True)
    store.put_face(face("f1", "p1"))
    monkeypatch.setattr(module.time, "sleep", lambda s: None)
    with pytest.raises(StorageError, match="try again later"):
        store.faces_by_id(["f1"])
    assert len(proxy.batch_calls) == module.BATCH_GET_ROUNDS


def test_dynamo_faults_become_storage_errors(aws):
    from reko.pipeline.aws.dynamodb_persons import DynamoPersonRecords

    store = DynamoPersonRecords("no-such-prefix", resource=aws)
    calls = [lambda: store.add_person("p1", "v1", 0), lambda: store.persons(), lambda: store.names(),
             lambda: store.rename("p1", "x"), lambda: store.face("f1"), lambda: store.put_face(face("f1", "p1")),
             lambda: store.faces_of("p1"), lambda: store.faces_after("v1", -1),
             lambda: store.delete_faces_after("v1", -1), lambda: store.mark_removed("f1"),
             lambda: store.faces_by_id(["f1"]), lambda: store.thumbnail_score("p1"),
             lambda: store.move_faces("p1", "p2"), lambda: store.started_after("v1", 0)]
    for call in calls:
        with pytest.raises(StorageError) as info:
            call()
        assert "check the persons and faces tables" in str(info.value)
        assert "no-such-prefix" not in str(info.value) and "no-such-prefix" in info.value.detail


def test_dynamo_resource_is_made_on_first_use(aws):
    from reko.pipeline.aws.dynamodb_persons import DynamoPersonRecords
    from reko.pipeline.aws.dynamodb_tables import create_tables

    create_tables(aws, "lazy")
    store = DynamoPersonRecords("lazy")
    assert store._resource is None and store._tables is None
    store.add_person("p1", "v1", 0)
    assert store._resource is not None
    assert [p.person_id for p in store.persons()] == ["p1"]


def test_dynamo_without_a_region_is_a_storage_error(aws, monkeypatch, tmp_path):
    from reko.pipeline.aws.dynamodb_persons import DynamoPersonRecords

    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    for call in (lambda s: s.add_person("p1", "v1", 0), lambda s: s.faces_by_id(["f1"]),
                 lambda s: s.mark_removed("f1")):
        with pytest.raises(StorageError, match="check the persons and faces tables"):
            call(DynamoPersonRecords("lazy"))


def test_create_tables_matches_the_description(aws):
    from reko.pipeline.aws.dynamodb_tables import TABLES, create_tables

    names = create_tables(aws, "stack")
    assert names == ["stack-videos", "stack-persons", "stack-faces"]
    assert create_tables(aws, "stack") == names  # existing tables are left alone
    client = aws.meta.client
    for suffix, spec in TABLES.items():
        table = client.describe_table(TableName=f"stack-{suffix}")["Table"]
        assert table["TableStatus"] == "ACTIVE"
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["KeySchema"] == spec["KeySchema"]
        assert sorted(table["AttributeDefinitions"], key=str) == sorted(spec["AttributeDefinitions"], key=str)
        gsis = {g["IndexName"]: (g["KeySchema"], g["Projection"]) for g in table.get("GlobalSecondaryIndexes", [])}
        assert gsis == {g["IndexName"]: (g["KeySchema"], g["Projection"])
                        for g in spec.get("GlobalSecondaryIndexes", [])}
    assert set(TABLES) == {"videos", "persons", "faces"}
    assert [g["IndexName"] for g in TABLES["faces"]["GlobalSecondaryIndexes"]] == ["by_person", "by_frame"]


def test_person_dataclass_fields_are_what_the_contract_compares():
    # the equality assertions above compare every field of these dataclasses
    assert [f.name for f in dataclasses.fields(Person)] == [
        "person_id", "name", "face_count", "screen_time_ms", "videos", "thumbnail_face_id"]
    assert [f.name for f in dataclasses.fields(FaceRow)] == [
        "face_id", "person_id", "video_id", "frame_ms", "span_ms", "box", "confidence", "good",
        "associated", "removed"]
