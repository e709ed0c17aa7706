"""infra/dashboards/reko.ndjson: well-formed saved objects that only use fields reko maps.

No server: the NDJSON is checked against the OpenSearch mapping in
``reko.pipeline.index.opensearch`` (the module only needs opensearch-py to import).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

opensearch = pytest.importorskip("reko.pipeline.index.opensearch", reason="pip install 'reko[opensearch]'")

ROOT = Path(__file__).resolve().parents[1]
NDJSON = ROOT / "infra" / "dashboards" / "reko.ndjson"


def load() -> list[dict]:
    return [json.loads(line) for line in NDJSON.read_text("utf-8").splitlines() if line.strip()]


def mapped_fields(properties: dict, prefix: str = "") -> dict[str, dict]:
    """``{"label_names": spec, "label_names.raw": spec, …}`` from a mapping's properties."""
    out = {}
    for name, spec in properties.items():
        out[prefix + name] = spec
        out.update(mapped_fields(spec.get("fields", {}), f"{prefix}{name}."))
        out.update(mapped_fields(spec.get("properties", {}), f"{prefix}{name}."))
    return out


FIELDS = mapped_fields(opensearch.MAPPINGS["properties"])


def test_every_line_is_a_saved_object():
    objects = load()
    assert objects
    for obj in objects:
        assert set(obj) >= {"id", "type", "attributes"}, obj.get("id")
        assert obj["id"] and obj["type"] in {"index-pattern", "visualization", "dashboard"}
        assert obj["attributes"].get("title")
    assert len({(o["type"], o["id"]) for o in objects}) == len(objects)
    # the JSON-in-a-string attributes parse too
    for obj in objects:
        for name in ("visState", "uiStateJSON", "panelsJSON", "optionsJSON", "fields", "fieldFormatMap"):
            if name in obj["attributes"]:
                json.loads(obj["attributes"][name])
        meta = obj["attributes"].get("kibanaSavedObjectMeta")
        if meta:
            json.loads(meta["searchSourceJSON"])


def test_references_resolve_within_the_file():
    objects = load()
    ids = {(o["type"], o["id"]) for o in objects}
    for obj in objects:
        names = {ref["name"] for ref in obj.get("references", [])}
        for ref in obj.get("references", []):
            assert (ref["type"], ref["id"]) in ids, f"{obj['id']} → {ref}"
        meta = obj["attributes"].get("kibanaSavedObjectMeta")
        if meta and "indexRefName" in json.loads(meta["searchSourceJSON"]):
            assert json.loads(meta["searchSourceJSON"])["indexRefName"] in names
        for panel in json.loads(obj["attributes"].get("panelsJSON", "[]")):
            assert panel["panelRefName"] in names, obj["id"]


def test_the_index_pattern_matches_the_alias_and_its_fields_are_mapped():
    (pattern,) = [o for o in load() if o["type"] == "index-pattern"]
    title = pattern["attributes"]["title"]
    assert re.fullmatch(title.replace("*", ".*"), opensearch.DEFAULT_INDEX_NAME)
    assert re.fullmatch(title.replace("*", ".*"), f"{opensearch.DEFAULT_INDEX_NAME}-v{opensearch.MAPPING_VERSION}")
    for field in json.loads(pattern["attributes"]["fields"]):
        if not field["name"].startswith("_"):
            assert field["name"] in FIELDS, field["name"]
            if field["aggregatable"]:
                assert FIELDS[field["name"]]["type"] in ("keyword", "long", "integer"), field["name"]
    for name in json.loads(pattern["attributes"]["fieldFormatMap"]):
        assert name in FIELDS


def test_visualizations_use_only_mapped_aggregatable_fields():
    visualizations = [o for o in load() if o["type"] == "visualization"]
    assert {json.loads(v["attributes"]["visState"])["type"] for v in visualizations} >= {"line", "horizontal_bar"}
    used = set()
    for vis in visualizations:
        for agg in json.loads(vis["attributes"]["visState"])["aggs"]:
            field = agg["params"].get("field")
            if field:
                used.add(field)
                spec = FIELDS.get(field)
                assert spec is not None, f"{vis['id']}: {field} is not in the mapping"
                assert spec["type"] in ("keyword", "long", "integer"), f"{vis['id']}: {field} is not aggregatable"
        query = json.loads(vis["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]["query"]
        for field in re.findall(r"([\w.]+):", query):
            assert field in FIELDS, f"{vis['id']}: query field {field}"
    assert {"start_ms", "label_names.raw", "person_ids.raw", "duration_ms", "video_id"} <= used


def test_the_dashboard_shows_every_visualization():
    objects = load()
    (dashboard,) = [o for o in objects if o["type"] == "dashboard"]
    shown = {ref["id"] for ref in dashboard["references"] if ref["type"] == "visualization"}
    assert shown == {o["id"] for o in objects if o["type"] == "visualization"}
