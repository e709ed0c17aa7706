"""Requests per second of the Rekognition endpoint (``reko serve-rekognition``) for DetectText on
a 720p frame, against the in-process engine measured in the same run.

The frame is the demo video's (real footage, 1280×720) at 8.5 s, with the burned-in Korean
caption "실시간 교통 정보 안내". The baseline is ``LocalRekognition.detect_text`` called in this
process (engine loaded and warmed up first); the endpoint runs as its own process (``reko
serve-rekognition --port 0 --preload text``) and is called by unmodified boto3 clients (signed
JSON 1.1 over HTTP, one client per thread) for ``--seconds`` at each concurrency. Both warm up
before timing; ``--rounds`` rounds measure every configuration in turn and the medians are
reported (the machine may be shared: load shifts every configuration alike). Results are
printed as a table with the ratio to the baseline; the endpoint's
extra cost per request (JSON, base64, HTTP, botocore) is the difference of the mean latencies.

Usage: ``.venv/bin/python benchmarks/rekognition_endpoint.py [--seconds 15] [--rounds 3] [--concurrency 1,2]``
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reko.pipeline import media, samples  # noqa: E402


def frame_720p(workdir: Path) -> bytes:
    """A JPEG (quality ≈ 95) of the demo video at 8.5 s, 1280×720."""
    video = samples.build_demo(workdir)
    out = workdir / "frame-720p.jpg"
    media.run_ffmpeg(["-v", "error", "-y", "-ss", "8.5", "-i", str(video), "-frames:v", "1", "-q:v", "2", str(out)],
                     "extracting a frame")
    return out.read_bytes()


def in_process(client, jpeg: bytes, seconds: float) -> list[float]:
    """Latencies (s) of back-to-back in-process DetectText calls for ``seconds``."""
    latencies = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        started = time.perf_counter()
        client.detect_text(Image={"Bytes": jpeg})
        latencies.append(time.perf_counter() - started)
    return latencies


def start_endpoint(data_dir: Path) -> tuple[subprocess.Popen, str]:
    """``reko serve-rekognition --port 0`` as a subprocess; returns (process, URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REKO_", "AWS_"))}
    env.update(REKO_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "endpoint.log"
    process = subprocess.Popen([str(Path(sys.executable).with_name("reko")), "serve-rekognition", "--port", "0",
                                "--preload", "text"], env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = re.search(r"Rekognition endpoint at (http://[\d.]+:\d+)", log.read_text())
        if found:
            return process, found.group(1)
        if process.poll() is not None:
            raise SystemExit(f"the endpoint exited:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)
    process.kill()
    raise SystemExit("the endpoint did not start in 120 s")


def over_http(url: str, jpeg: bytes, seconds: float, concurrency: int) -> tuple[list[float], float]:
    """(latencies, wall seconds) of ``concurrency`` boto3 clients calling DetectText for ``seconds``."""
    import boto3

    def client():
        return boto3.client("rekognition", endpoint_url=url, region_name="us-east-1",
                            aws_access_key_id="bench", aws_secret_access_key="bench")

    clients = [client() for _ in range(concurrency)]
    for c in clients:
        c.detect_text(Image={"Bytes": jpeg})
    latencies: list[float] = []
    lock = threading.Lock()
    end = time.perf_counter() + seconds

    def run(c) -> None:
        while time.perf_counter() < end:
            started = time.perf_counter()
            response = c.detect_text(Image={"Bytes": jpeg})
            assert response["TextDetections"]
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="timed seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds; each measures every configuration once, in turn (the median is "
                             "reported, so load from other processes shifts all alike)")
    parser.add_argument("--concurrency", default="1,2", help="client threads to try, comma-separated")
    args = parser.parse_args()
    from reko.pipeline.analysis.local import LocalRekognition

    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    with tempfile.TemporaryDirectory(prefix="reko-bench-endpoint-") as tmp:
        work = Path(tmp)
        jpeg = frame_720p(work)
        print(f"frame: 1280x720 JPEG, {len(jpeg) / 1024:.0f} KiB; {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f}; {args.rounds} rounds of {args.seconds:g} s per configuration")
        local = LocalRekognition(work / "in-process")
        for _ in range(2):
            local.detect_text(Image={"Bytes": jpeg})
        process, url = start_endpoint(work / "endpoint")
        rates: dict[str, list[float]] = {"in-process": []}
        means: dict[str, list[float]] = {"in-process": []}
        try:
            over_http(url, jpeg, 2.0, 1)  # warm up the endpoint
            for _ in range(args.rounds):
                base = in_process(local, jpeg, args.seconds)
                rates["in-process"].append(len(base) / sum(base))
                means["in-process"].append(statistics.mean(base))
                for concurrency in concurrencies:
                    latencies, wall = over_http(url, jpeg, args.seconds, concurrency)
                    rates.setdefault(f"http-{concurrency}", []).append(len(latencies) / wall)
                    means.setdefault(f"http-{concurrency}", []).append(statistics.mean(latencies))
        finally:
            process.terminate()
            process.wait(15)
        base_rate = statistics.median(rates["in-process"])
        base_mean = statistics.median(means["in-process"])
        print(f"{'in-process LocalRekognition.detect_text':44s} {base_rate:6.2f} req/s  mean "
              f"{base_mean * 1000:5.0f} ms  (baseline; rounds {', '.join(f'{r:.2f}' for r in rates['in-process'])})")
        for concurrency in concurrencies:
            key = f"http-{concurrency}"
            rate, mean = statistics.median(rates[key]), statistics.median(means[key])
            print(f"{f'endpoint, boto3 over HTTP, {concurrency} client(s)':44s} {rate:6.2f} req/s  mean "
                  f"{mean * 1000:5.0f} ms  {rate / base_rate:5.2f}x baseline  "
                  f"(rounds {', '.join(f'{r:.2f}' for r in rates[key])})")
        print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
