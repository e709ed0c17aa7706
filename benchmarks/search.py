"""Search benchmark: SQLite FTS5 and OpenSearch side by side, at 100k and (optionally) 1M frames.

Generates realistic frame documents, loads them into both backends in the same run (the same
batches, timed separately), then runs the same text / person / label / combined queries against
each and reports indexing throughput (documents per second, ``index_frames`` wall time including
OpenSearch's refresh) and search latency p50/p95/p99 in ms (``backend.search`` wall time as the
app sees it: query, hits with full documents, exact total, facets).

Text comes from real corpora shipped inside registry packages (fetched once, cached under
``~/.cache/reko/bench-corpus/``), not made up:

* Korean: the ``konlpy`` 0.6.0 wheel (PyPI) ships ``konlpy/data/corpus/kolaw/constitution.txt``
  (the Constitution of the Republic of Korea) and ``kobill/*.txt`` (ten National Assembly
  bills), ≈ 140 kB of Hangul prose. Only the data files are read (``pip download --no-deps``).
* English: Debian's ``fortunes-min`` package (``apt-get download``, unpacked with ``dpkg -x``):
  ``literature``, ``fortunes``, ``riddles`` (≈ 100 kB).

Documents mimic OCR on broadcast video sampled at 1 fps after near-duplicate skipping:
videos of 2–30 min, a kept frame every 1–4 s; captions that persist for several frames
(geometric, mean ≈ 4) made of 2–7 consecutive words of the corpus, 60 % Korean (a fifth of them
with the spaces lost, as OCR often reads captions), 35 % of frames without text; a Zipf-
distributed population of 3,000 persons (each video has a cast of 1–6, the lead most on screen,
0–3 faces per frame); 3–8 labels per frame from a Zipf-weighted vocabulary of COCO-80 and common
Rekognition scene labels (``Person``/``Face`` whenever there are faces). Everything is seeded.

Query kinds: ``text``, ``person``, ``label``, ``combined`` (text and a person or a label in
the *same frame*) and ``within`` (issue 15: the same text and person/label pairs as
``combined``, but as a moment query: the person or label within ``--within-s`` seconds of the
text, :attr:`SearchQuery.near`). ``within`` against ``combined`` is the cost of moments.

Usage::

    bash infra/opensearch/start.sh
    .venv/bin/python benchmarks/search.py                       # 100k
    .venv/bin/python benchmarks/search.py --sizes 100000,1000000 --json out.json
    # build once, keep, and time again later without reloading:
    .venv/bin/python benchmarks/search.py --sizes 1000000 --workdir /var/tmp/rb --keep --index-name reko-bench-1m
    .venv/bin/python benchmarks/search.py --sizes 1000000 --workdir /var/tmp/rb --keep --index-name reko-bench-1m \
        --reuse --kinds combined,within

Sizes are cumulative: the 1M run adds 900k documents to the 100k already loaded.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reko.pipeline.index import SearchQuery, open_index  # noqa: E402
from reko.pipeline.index.base import NearClause  # noqa: E402

CACHE = Path(os.environ.get("REKO_BENCH_CACHE", Path.home() / ".cache" / "reko" / "bench-corpus"))
KONLPY_WHEEL = "konlpy==0.6.0"
FORTUNES_DEB = "fortunes-min"

COCO = ["Person", "Bicycle", "Car", "Motorcycle", "Airplane", "Bus", "Train", "Truck", "Boat",
        "Traffic Light", "Fire Hydrant", "Stop Sign", "Parking Meter", "Bench", "Bird", "Cat", "Dog",
        "Horse", "Sheep", "Cow", "Elephant", "Bear", "Zebra", "Giraffe", "Backpack", "Umbrella",
        "Handbag", "Tie", "Suitcase", "Frisbee", "Skis", "Snowboard", "Sports Ball", "Kite",
        "Baseball Bat", "Baseball Glove", "Skateboard", "Surfboard", "Tennis Racket", "Bottle",
        "Wine Glass", "Cup", "Fork", "Knife", "Spoon", "Bowl", "Banana", "Apple", "Sandwich",
        "Orange", "Broccoli", "Carrot", "Hot Dog", "Pizza", "Donut", "Cake", "Chair", "Couch",
        "Potted Plant", "Bed", "Dining Table", "Toilet", "TV", "Laptop", "Mouse", "Remote",
        "Keyboard", "Cell Phone", "Microwave", "Oven", "Toaster", "Sink", "Refrigerator", "Book",
        "Clock", "Vase", "Scissors", "Teddy Bear", "Hair Drier", "Toothbrush"]
SCENE = ["Text", "Outdoors", "Indoors", "Urban", "Road", "Street", "City", "Building", "Nature",
         "Sky", "Vehicle", "Transportation", "Crowd", "Clothing", "Furniture", "Room", "Screen",
         "Electronics", "Monitor", "Water", "Tree", "Plant", "Night", "Sport", "Food", "Studio",
         "News", "Stage", "Microphone", "Podium", "Flag", "Sign", "Billboard", "Intersection"]


# -- corpora -------------------------------------------------------------------------------

def fetch_corpora() -> tuple[list[str], list[str]]:
    """(Korean words, English words) in corpus order, from the packages in the docstring."""
    CACHE.mkdir(parents=True, exist_ok=True)
    ko_dir = CACHE / "konlpy"
    if not (ko_dir / "konlpy/data/corpus/kolaw/constitution.txt").exists():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary",
                            ":all:", KONLPY_WHEEL, "-d", tmp], check=True)
            with zipfile.ZipFile(next(Path(tmp).glob("konlpy-*.whl"))) as zf:
                zf.extractall(ko_dir, [n for n in zf.namelist() if n.startswith("konlpy/data/corpus/")])
    en_dir = CACHE / "fortunes"
    if not (en_dir / "usr/share/games/fortunes/literature").exists():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["apt-get", "download", FORTUNES_DEB], cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run(["dpkg", "-x", next(Path(tmp).glob("*.deb")), en_dir], check=True)
    ko_files = sorted((ko_dir / "konlpy/data/corpus").rglob("*.txt"))
    en_files = [en_dir / "usr/share/games/fortunes" / n for n in ("literature", "fortunes", "riddles")]
    korean = [w for f in ko_files for w in f.read_text("utf-8").split()
              if any("\uac00" <= ch <= "\ud7a3" for ch in w)]
    english = [w for f in en_files for line in f.read_text("utf-8", "replace").splitlines()
               if line.strip() != "%" and not line.strip().startswith("--") for w in line.split()]
    return korean, english


# -- documents -----------------------------------------------------------------------------

def zipf_weights(n: int, s: float = 1.1) -> list[float]:
    """Cumulative Zipf weights for ranks 1..n (for ``random.choices(cum_weights=...)``)."""
    out, total = [], 0.0
    for rank in range(1, n + 1):
        total += 1.0 / rank ** s
        out.append(total)
    return out


class Generator:
    """Seeded stream of realistic frame documents (see the module docstring)."""

    def __init__(self, korean: list[str], english: list[str], seed: int = 7):
        self.rng = random.Random(seed)
        self.korean, self.english = korean, english
        self.persons = [f"{self.rng.getrandbits(48):012x}" for _ in range(3000)]
        self.person_cum = zipf_weights(len(self.persons))
        self.labels = [label for pair in zip(SCENE, COCO) for label in pair] + COCO[len(SCENE):]
        self.label_cum = zipf_weights(len(self.labels), 0.9)
        self.videos = 0

    def caption(self) -> list[str]:
        """1–3 caption lines, each 2–7 consecutive corpus words (Korean 60 %, a fifth unspaced)."""
        rng = self.rng
        lines = []
        for _ in range(rng.choices((1, 2, 3), (0.6, 0.3, 0.1))[0]):
            words = self.korean if rng.random() < 0.6 else self.english
            start = rng.randrange(len(words) - 8)
            line = " ".join(words[start:start + rng.randint(2, 7)])
            if words is self.korean and rng.random() < 0.2:
                line = line.replace(" ", "")
            lines.append(line)
        return lines

    def video(self) -> Iterator[dict[str, Any]]:
        """The frame documents of one new video (2–30 min, a kept frame every 1–4 s)."""
        rng = self.rng
        self.videos += 1
        video_id = f"{rng.getrandbits(64):016x}"
        duration_ms = rng.randint(120, 1800) * 1000
        cast = list(dict.fromkeys(rng.choices(self.persons, cum_weights=self.person_cum, k=rng.randint(1, 6))))
        cast_weights = [1.0 / (i + 1) for i in range(len(cast))]
        lines: list[str] = []
        caption_left = 0
        scene: list[str] = []
        scene_left = 0
        frame_ms = 0
        while frame_ms < duration_ms:
            step = 1000 * rng.choices((1, 2, 3, 4), (0.6, 0.2, 0.1, 0.1))[0]
            if caption_left <= 0:
                lines = [] if rng.random() < 0.35 else self.caption()
                caption_left = 1 + int(rng.expovariate(1 / 3))
            caption_left -= 1
            if scene_left <= 0:
                scene = list(dict.fromkeys(rng.choices(self.labels, cum_weights=self.label_cum, k=8)))
                scene_left = rng.randint(5, 60)
            scene_left -= 1
            n_faces = rng.choices((0, 1, 2, 3), (0.45, 0.35, 0.15, 0.05))[0]
            persons = list(dict.fromkeys(rng.choices(cast, cast_weights, k=n_faces))) if n_faces else []
            labels = rng.sample(scene, min(len(scene), rng.randint(3, 8)))
            if persons:
                labels = list(dict.fromkeys(["Person", "Face", *labels]))
            yield self.doc(video_id, frame_ms, frame_ms + step, lines, persons, labels)
            frame_ms += step

    def doc(self, video_id, frame_ms, end_ms, lines, persons, labels) -> dict[str, Any]:
        """One frame document in reko's shape (boxes as ratios, confidences 0–100)."""
        rng = self.rng
        box = lambda: {"Left": round(rng.random() * 0.7, 4), "Top": round(rng.random() * 0.7, 4),  # noqa: E731
                       "Width": round(0.05 + rng.random() * 0.25, 4), "Height": round(0.03 + rng.random() * 0.2, 4)}
        return {
            "video_id": video_id, "frame_ms": frame_ms, "start_ms": frame_ms, "end_ms": end_ms,
            "frame_uri": f"frames/{video_id}/{frame_ms}.jpg", "width": 1280, "height": 720,
            "text": "\n".join(lines),
            "text_lines": [{"text": t, "confidence": round(70 + rng.random() * 30, 2), "box": box()} for t in lines],
            "labels": [{"name": n, "confidence": round(55 + rng.random() * 45, 2), "parents": [], "boxes": []}
                       for n in labels],
            "label_names": labels,
            "faces": [{"face_id": f"{rng.getrandbits(64):016x}", "person_id": p,
                       "confidence": round(90 + rng.random() * 10, 2), "box": box()} for p in persons],
            "person_ids": persons, "moderation": [], "analyzer": "local",
        }

    def docs(self, n: int) -> Iterator[dict[str, Any]]:
        """The next ``n`` documents (videos are not cut: the last one may run a little over)."""
        made = 0
        while made < n:
            for doc in self.video():
                yield doc
                made += 1


# -- queries -------------------------------------------------------------------------------

def text_term(rng: random.Random, korean: list[str], english: list[str]) -> str:
    """A word as a user would type it: a 2–4 syllable piece of a Korean word (substring search
    is the point), an English word of ≥ 3 letters, or now and then a quoted two-word phrase."""
    if rng.random() < 0.6:
        word = "".join(ch for ch in rng.choice(korean) if "\uac00" <= ch <= "\ud7a3")
        while len(word) < 2:
            word = "".join(ch for ch in rng.choice(korean) if "\uac00" <= ch <= "\ud7a3")
        size = min(len(word), rng.choice((2, 2, 3, 4)))
        start = rng.randrange(len(word) - size + 1)
        return word[start:start + size]
    if rng.random() < 0.15:
        start = rng.randrange(len(english) - 2)
        return '"' + " ".join(english[start:start + 2]).strip('".,;:!?()') + '"'
    word = ""
    while len(word) < 3:
        word = rng.choice(english).strip('".,;:!?()[]\'-').lower()
    return word


def queries(kind: str, n: int, gen: Generator, seed: int, within_ms: int = 5000) -> list[SearchQuery]:
    """``n`` queries of ``kind`` (text | person | label | combined | within), seeded; with the
    same seed, ``within`` asks for the pairs of ``combined`` as moments (the person or label
    within ``within_ms`` of the text)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        person = rng.choices(gen.persons, cum_weights=gen.person_cum)[0]
        label = rng.choices(gen.labels, cum_weights=gen.label_cum)[0]
        terms = " ".join(text_term(rng, gen.korean, gen.english) for _ in range(rng.choice((1, 1, 2))))
        if kind == "text":
            out.append(SearchQuery(terms))
        elif kind == "person":
            out.append(SearchQuery(person_ids=(person,)))
        elif kind == "label":
            out.append(SearchQuery(labels=(label.lower(),)))
        elif kind == "within":
            near = NearClause(person_ids=(person,)) if rng.random() < 0.5 else NearClause(labels=(label,))
            out.append(SearchQuery(terms, near=(near,), within_ms=within_ms))
        else:
            out.append(SearchQuery(terms, person_ids=(person,)) if rng.random() < 0.5
                       else SearchQuery(terms, labels=(label,)))
    return out


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of ``values`` (p in 0–100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


MIN_TIMED = 20  #: queries timed per cell even past --cell-budget-s


def measure(backend, qs: list[SearchQuery], limit: int, warmup: int, budget_s: float) -> dict[str, float]:
    """Latency percentiles (ms) and mean total of running ``qs`` (after ``warmup`` untimed
    ones) with ``limit_frames=limit``; stops after ``budget_s`` seconds once :data:`MIN_TIMED`
    queries were timed (``n`` says how many)."""
    qs = [dataclasses.replace(q, limit_frames=limit) for q in qs]
    for q in qs[:warmup]:
        backend.search(q)
    times, totals = [], []
    began = time.perf_counter()
    for q in qs[warmup:]:
        start = time.perf_counter()
        result = backend.search(q)
        times.append((time.perf_counter() - start) * 1000)
        totals.append(result.total_frames)
        if time.perf_counter() - began > budget_s and len(times) >= MIN_TIMED:
            break
    return {"n": len(times), "p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95),
            "p99_ms": percentile(times, 99), "max_ms": max(times),
            "mean_total_frames": statistics.mean(totals),
            "zero_hit_share": sum(t == 0 for t in totals) / len(totals)}


# -- main ----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (see the module docstring and ``--help``); returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000", help="cumulative corpus sizes, e.g. 100000,1000000")
    parser.add_argument("--backends", default="sqlite,opensearch")
    parser.add_argument("--opensearch-url", default=os.environ.get("REKO_TEST_OPENSEARCH_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--index-name", default=f"reko-bench-{os.getpid()}",
                        help="OpenSearch alias to use (dropped before and after; default unique per run)")
    parser.add_argument("--queries", type=int, default=100, help="timed queries per kind")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--cell-budget-s", type=float, default=120,
                        help="stop timing one backend/kind/limit after this long (at least 20 queries)")
    parser.add_argument("--limits", default="100,10000",
                        help="limit_frames values to time (10000 is SearchQuery's default, what the app asks)")
    parser.add_argument("--batch", type=int, default=10_000, help="documents per index_frames call")
    parser.add_argument("--workdir", type=Path, default=None, help="where the SQLite file goes (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file and the OpenSearch index")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--kinds", default="text,person,label,combined,within",
                        help="query kinds to time (within: moments, issue 15)")
    parser.add_argument("--within-s", type=float, default=5.0, help="the window of the within queries, s")
    parser.add_argument("--reuse", action="store_true",
                        help="keep what --workdir's SQLite file and --index-name already hold (a "
                             "previous --keep run with the same seed) and load only what is missing")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below
    sizes = [int(s) for s in args.sizes.split(",")]
    limits = [int(s) for s in args.limits.split(",")]
    kinds = tuple(args.kinds.split(","))
    seeds = {"text": 1000, "person": 1001, "label": 1002, "combined": 1003, "within": 1003}

    korean, english = fetch_corpora()
    print(f"corpus: {len(korean):,} Korean words (konlpy kolaw+kobill), {len(english):,} English words "
          f"(Debian fortunes-min)", flush=True)
    gen = Generator(korean, english)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="reko-bench-"))
    backends: dict[str, Any] = {}
    for name in args.backends.split(","):
        if name == "sqlite":
            path = workdir / "bench.db"
            if not args.reuse:
                path.unlink(missing_ok=True)
            backends[name] = open_index(f"sqlite:///{path}")
        else:
            from reko.pipeline.index.opensearch import OpenSearchIndex

            backends[name] = OpenSearchIndex(args.opensearch_url, index_name=args.index_name)
            if not args.reuse:
                backends[name].drop()
    report: dict[str, Any] = {"sizes": {}}
    loaded = 0
    index_s = {name: 0.0 for name in backends}
    if args.reuse:
        held = {name: backend.stats()["frames"] for name, backend in backends.items()}
        if len(set(held.values())) == 1 and held and next(iter(held.values())) >= sizes[0]:
            loaded = next(iter(held.values()))
            print(f"reusing {loaded:,} documents already loaded", flush=True)
            sizes = [max(size, loaded) for size in sizes]
        elif any(held.values()):
            parser.error(f"--reuse: the backends hold different corpora ({held}); run without --reuse")
    try:
        for size in sizes:
            stream = gen.docs(size - loaded)
            while True:
                batch = [d for _, d in zip(range(args.batch), stream)]
                if not batch:
                    break
                for name, backend in backends.items():
                    start = time.perf_counter()
                    backend.index_frames(batch)
                    index_s[name] += time.perf_counter() - start
                loaded += len(batch)
                if loaded % 100_000 < args.batch:
                    print(f"  loaded {loaded:,} docs  " + "  ".join(
                        f"{n}: {loaded / index_s[n]:,.0f} docs/s" for n in backends), flush=True)
            row: dict[str, Any] = {"docs": loaded, "videos": gen.videos}
            for name, backend in backends.items():
                row[name] = {"index_docs_per_s": loaded / index_s[name] if index_s[name] else None,
                             "stats": backend.stats()}
                if name == "sqlite":
                    row[name]["file_mb"] = (workdir / "bench.db").stat().st_size / 1e6
            for limit in limits:
                for kind in kinds:
                    qs = queries(kind, args.queries + args.warmup, gen, seed=seeds[kind],
                                 within_ms=int(args.within_s * 1000))
                    for name, backend in backends.items():
                        m = measure(backend, qs, limit, args.warmup, args.cell_budget_s)
                        row[name][f"{kind}@{limit}"] = m
                        print(f"{loaded:>9,} {name:<10} {kind:<8} limit {limit:>5}: p50 {m['p50_ms']:7.1f}  "
                              f"p95 {m['p95_ms']:7.1f}  p99 {m['p99_ms']:7.1f} ms  (mean total "
                              f"{m['mean_total_frames']:,.0f} frames, {m['zero_hit_share']:.0%} none, n={m['n']})", flush=True)
            report["sizes"][str(loaded)] = row
            print_table(row, backends, kinds, limits)
    finally:
        if not args.keep:
            for backend in backends.values():
                if hasattr(backend, "drop"):
                    backend.drop()
                backend.close()
            if args.workdir is None:
                (workdir / "bench.db").unlink(missing_ok=True)
                for extra in ("bench.db-wal", "bench.db-shm"):
                    (workdir / extra).unlink(missing_ok=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def print_table(row: dict[str, Any], backends, kinds, limits) -> None:
    """One Markdown table per size: backends side by side."""
    names = list(backends)
    print(f"\n### {row['docs']:,} frame documents ({row['videos']:,} videos)\n")
    print("| measure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    print("| indexing (docs/s) | " + " | ".join(
        f"{row[n]['index_docs_per_s']:,.0f}" if row[n]["index_docs_per_s"] else "(reused)" for n in names) + " |")
    for limit in limits:
        for kind in kinds:
            cells = [f"{row[n][f'{kind}@{limit}']['p50_ms']:.1f} / {row[n][f'{kind}@{limit}']['p95_ms']:.1f} / "
                     f"{row[n][f'{kind}@{limit}']['p99_ms']:.1f}" for n in names]
            print(f"| {kind}, limit {limit} (p50/p95/p99 ms) | " + " | ".join(cells) + " |")
    print(flush=True)


if __name__ == "__main__":
    sys.exit(main())
