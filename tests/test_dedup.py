"""Near-duplicate skipping on real footage: it skips static frames and never loses a caption."""

from conftest import STILL_CAPTIONS

from reko.pipeline import dedup, media


def _kept(path, threshold):
    filt = dedup.DuplicateFilter(threshold)
    frames = list(media.sample_frames(media.probe(path), 1.0))
    return [f.pts_ms for f in frames if not filt.is_duplicate(f.image)], len(frames)


def test_static_shot_is_skipped_but_every_caption_change_is_kept(still_video):
    kept, sampled = _kept(still_video, 4)
    assert sampled == 8
    # 0 s: first frame; 3 s: "속보" appears; 6 s: "속보" gone and "A" appears. Noise-only
    # frames in between (1, 2, 4, 5, 7 s) are skipped.
    assert kept == [0, 3000, 6000]
    for cap in STILL_CAPTIONS:
        assert any(cap.start_ms <= ms <= cap.end_ms for ms in kept)


def test_disabled_filter_keeps_every_frame(still_video):
    kept, sampled = _kept(still_video, -1)
    assert len(kept) == sampled == 8


def test_moving_real_footage_is_analysed(demo_video):
    kept, sampled = _kept(demo_video, 4)
    assert len(kept) == sampled  # a moving street / talking head: every sampled frame differs


def test_reference_is_the_last_analysed_frame_not_the_previous_sample():
    import numpy as np

    base = np.full((72, 128, 3), 100, np.uint8)
    step1, step2 = base.copy(), base.copy()
    step1[0, :3] = 200  # 3 cells changed: under the threshold
    step2[0, :6] = 200  # 3 more: 3 from step1, but 6 from base
    filt = dedup.DuplicateFilter(4)
    assert not filt.is_duplicate(base)
    assert filt.is_duplicate(step1)
    assert not filt.is_duplicate(step2), "drift must be measured against the analysed frame"
    assert filt.is_duplicate(step2.copy())
