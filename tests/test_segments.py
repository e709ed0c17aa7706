from reko.pipeline.index import FrameHit
from reko.pipeline.segments import merge_segments


def hit(video, start, end, score=1.0, text="t", persons=()):
    return FrameHit({"video_id": video, "frame_ms": start, "start_ms": start, "end_ms": end,
                     "text": text, "person_ids": list(persons)}, score)


def test_neighbours_within_the_gap_merge_and_the_best_frame_is_kept():
    hits = [hit("a", 0, 1000, 1.0, "x"), hit("a", 2000, 3000, 5.0, "best", ["p1"]),
            hit("a", 4400, 5000, 2.0, persons=["p2"]), hit("a", 9000, 10000)]
    segs = merge_segments(hits, gap_ms=1500, pad_ms=0)
    assert [(s.start_ms, s.end_ms, s.hits) for s in segs] == [(0, 5000, 3), (9000, 10000, 1)]
    assert (segs[0].frame_ms, segs[0].text, segs[0].score) == (2000, "best", 5.0)
    assert segs[0].person_ids == ["p1", "p2"]


def test_a_gap_larger_than_the_setting_splits():
    segs = merge_segments([hit("a", 0, 1000), hit("a", 2501, 3000)], gap_ms=1500, pad_ms=0)
    assert len(segs) == 2
    assert len(merge_segments([hit("a", 0, 1000), hit("a", 2500, 3000)], gap_ms=1500, pad_ms=0)) == 1


def test_padding_is_clamped_to_the_video():
    segs = merge_segments([hit("a", 200, 1000), hit("a", 9000, 9800)], gap_ms=0, pad_ms=500,
                          durations_ms={"a": 10000})
    assert [(s.start_ms, s.end_ms) for s in segs] == [(0, 1500), (8500, 10000)]


def test_segments_are_grouped_per_video_best_video_first():
    hits = [hit("a", 0, 1000, 1.0), hit("b", 0, 1000, 9.0), hit("a", 5000, 6000, 2.0), hit("b", 8000, 9000, 1.0)]
    segs = merge_segments(hits, gap_ms=0, pad_ms=0)
    assert [(s.video_id, s.start_ms) for s in segs] == [("b", 0), ("b", 8000), ("a", 0), ("a", 5000)]
