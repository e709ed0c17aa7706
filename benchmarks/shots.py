"""Shot boundaries: the planner's fingerprint rule at 1 sample/s against PySceneDetect.

On ``benchmarks/ingest.py``'s clip (real footage: bikes, carphone, bigbuckbunny and a still
photo, twice, with captions), in one run:

* PySceneDetect (``scenedetect``, if installed) ``ContentDetector`` on every frame (25 fps):
  its cuts and its wall time;
* the planner's rule on the 1 fps samples: the fraction of fingerprint cells changed between
  consecutive samples, and a cut where it is ≥ ``CUT_FRACTION``;
* for each sample, whether PySceneDetect saw a cut since the previous sample; the fraction at
  those samples vs the others; joins between different clips (known from the build) found.

What it shows (numbers quoted in ``reko.pipeline.planner.CUT_FRACTION``): the joins between
clips change far more cells than anything else; PySceneDetect's extra cuts inside the street
footage are 1–2 s shots of the same street, which change as many cells between samples as
motion does — at one sample per second no detector on the samples can separate them, and
running PySceneDetect on every frame costs more wall time than the whole analysis budget.

Usage: ``.venv/bin/python benchmarks/shots.py [--keep DIR]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import build_clip  # noqa: E402

from reko.pipeline import media  # noqa: E402
from reko.pipeline.dedup import fingerprint  # noqa: E402
from reko.pipeline.planner import CUT_FRACTION, changed_mask  # noqa: E402

#: Joins between different clips in the benchmark clip (ms): bikes 10 s, carphone 4 s,
#: bigbuckbunny 5.3 s, the still 20 s, twice.
JOINS_MS = (10000, 14000, 19320, 39320, 49320, 53320, 58640)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep built media here")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="reko-shots-"))
    workdir.mkdir(parents=True, exist_ok=True)
    clip = build_clip(workdir)
    info = media.probe(clip)

    started = time.perf_counter()
    samples = [(f.pts_ms, fingerprint(f.image)) for f in media.sample_frames(info, 1.0)]
    sample_s = time.perf_counter() - started
    fractions = {ms: float(changed_mask(fp, prev).mean())
                 for (_, prev), (ms, fp) in zip(samples, samples[1:])}

    try:
        from scenedetect import ContentDetector, detect
    except ImportError:
        cuts_ms, detect_s = None, 0.0
        print("scenedetect is not installed (pip install scenedetect): PySceneDetect skipped")
    else:
        started = time.perf_counter()
        scenes = detect(str(clip), ContentDetector())
        detect_s = time.perf_counter() - started
        cuts_ms = [round(s[0].seconds * 1000) for s in scenes[1:]]

    print(f"clip {clip.name}: {info.duration_ms / 1000:.1f} s, {len(samples)} samples at 1 fps")
    print(f"sampling + fingerprints: {sample_s:.2f} s wall; PySceneDetect ContentDetector on every "
          f"frame: {detect_s:.2f} s wall")
    if cuts_ms is not None:
        print(f"PySceneDetect cuts (ms): {cuts_ms}")
    print(f"\n{'sample ms':>9} {'changed':>8} {'rule':>5} {'scenedetect':>11} {'clip join':>9}")
    times = sorted(fractions)
    previous = {ms: prev for prev, ms in zip([samples[0][0]] + times, times)}
    found_joins, cut_fr, other_fr = 0, [], []
    for ms in times:
        rule = fractions[ms] >= CUT_FRACTION
        sd = cuts_ms is not None and any(previous[ms] < c <= ms for c in cuts_ms)
        join = any(previous[ms] < j <= ms for j in JOINS_MS)
        found_joins += int(join and rule)
        (cut_fr if sd else other_fr).append(fractions[ms])
        if rule or sd or join:
            print(f"{ms:9d} {fractions[ms]:8.2f} {'cut' if rule else '':>5} "
                  f"{'cut' if sd else '':>11} {'join' if join else '':>9}")
    false_cuts = sum(1 for ms in times if fractions[ms] >= CUT_FRACTION
                     and not any(previous[ms] < j <= ms for j in JOINS_MS))
    print(f"\nclip joins found by the rule: {found_joins} of {len(JOINS_MS)}; "
          f"false cuts: {false_cuts}")
    if cuts_ms is not None:
        print(f"changed fraction at samples after a PySceneDetect cut: "
              f"{min(cut_fr):.2f}–{max(cut_fr):.2f} (n={len(cut_fr)}); at other samples: "
              f"{min(other_fr):.2f}–{max(other_fr):.2f} (n={len(other_fr)})")


if __name__ == "__main__":
    main()
