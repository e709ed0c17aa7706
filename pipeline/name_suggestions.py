"""Names from name captions (issue 15, item 2): names proposed for persons from the on-screen
text lines that appear together with their face — never applied automatically.

News lower-thirds show who is speaking: ``홍길동 기자``, ``김철수 / 국회의원``, ``국민의힘 김철수
의원``, a name line over a title line, ``JOHN SMITH, Reporter``. For every person, reko reads
the text lines of the frames their face is in, finds name patterns (:func:`name_candidates`),
and ranks each name by how much of its screen time it shares with that person's face, how
specific it is to them, and where it sits (:func:`suggest_names`):

* **Korean**: 2–4 Hangul syllables (the name) followed by a title word of :data:`KO_TITLES`
  (``기자``, ``앵커``, ``의원``, ``국회의원``, ``대표``, ``장관``, ``교수``, ``위원장`` …), with an
  optional separator (``/``, ``|``, ``,``, ``·``, ``:``) and optionally an affiliation word between
  (``김철수 서울시 의원`` is not taken: only one word, the title, may follow the name); a line
  with no match is tried again without spaces (OCR splits names: ``김 철수 기자``), for titles
  of two syllables or more; or a line
  that is only a name with, in the same frame, a line below it that ends in a title. A name
  whose first syllable(s) are not a Korean surname (:data:`KO_SURNAMES`) counts half, and a
  name that is itself a common word or title (:data:`KO_NOT_NAMES`, ``국회``+``의원``) is
  no name.
* **Latin**: 2–4 capitalised words, then ``,`` / ``|`` / ``-`` / ``–`` / ``:``, then a title
  containing a word of :data:`EN_TITLES` (``Reporter``, ``Correspondent``, ``Senator`` …);
  an all-capitals name is shown in title case (``JOHN SMITH`` → ``John Smith``).

Evidence and score, per person and name: ``together_ms`` (the summed spans of the frames where
both the person's face and the name are on screen; ms), ``name_ms`` (all frames showing the
name in the videos the person appears in), ``specificity`` = ``together_ms / name_ms`` (a name shown over many people belongs to
none of them), and a position weight per frame: ×1.5 when the line sits in the lower third of
the frame (its centre below 60 % of the height), ×1.5 again when it is below the face's top
and overlaps the face's column widened by one face width (boxes are Rekognition ratios). The
score is ``weighted_together_s × specificity × surname factor``. A suggestion needs
``together_ms`` ≥ :data:`MIN_TOGETHER_MS` and ``specificity`` ≥ :data:`MIN_SPECIFICITY`;
suggestions are best first. Different readings of one name (OCR spacing, capitals) are one
name (keyed by its letters without spaces, case-folded), shown in its most frequent spelling.

Pure functions over frame documents and face rows: no index, no storage (the application
layer gathers them, :meth:`reko.app.Reko.person_name_suggestions`).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

#: Korean titles that follow a name in news lower-thirds (longest first when matching)
KO_TITLES = (
    "기자", "앵커", "아나운서", "캐스터", "특파원", "리포터", "기상캐스터", "논설위원", "해설위원", "편집국장", "보도국장",
    "의원", "국회의원", "시의원", "구의원", "도의원", "대표", "원내대표", "최고위원", "대변인", "위원장", "위원",
    "장관", "차관", "총리", "국무총리", "대통령", "부총리", "청장", "처장", "실장", "비서관", "수석", "대사", "영사",
    "시장", "도지사", "지사", "구청장", "군수", "교육감", "검사", "검사장", "검찰총장", "판사", "변호사", "대법관",
    "교수", "부교수", "조교수", "연구원", "연구위원", "박사", "의사", "원장", "회장", "부회장", "사장", "부사장",
    "이사", "이사장", "상무", "전무", "본부장", "센터장", "소장", "감독", "코치", "선수", "작가", "평론가", "대표이사",
    "씨", "군", "양", "님", "경위", "경감", "경정", "총경", "소방관", "소방위", "목사", "신부", "스님", "주교",
)
#: Korean surnames (one and two syllables), by frequency (Statistics Korea census lists)
KO_SURNAMES = frozenset((
    "김 이 박 최 정 강 조 윤 장 임 한 오 서 신 권 황 안 송 류 유 전 홍 고 문 양 손 배 백 허 남 심 노 하 곽 성 차 주 우 "
    "구 민 진 지 엄 채 원 천 방 공 현 함 변 염 여 추 도 소 석 선 설 마 길 연 위 표 명 기 반 라 나 왕 금 옥 육 인 맹 "
    "제 모 탁 국 어 은 편 용 예 경 봉 사 부 황보 남궁 제갈 선우 독고 사공 서문 동방").split())
#: words that look like a name before a title but are not (institutions, common nouns)
KO_NOT_NAMES = frozenset((
    "국회 정부 청와대 대통령실 국방 외교 법무 행정 교육 경제 사회 문화 속보 단독 현장 뉴스 오늘 내일 어제 시청 도청 "
    "구청 본회의 상임 전문 공동 수석 부장 차장 지방 중앙 여당 야당 정당 당대표 현직 전직 신임 초대 명예 객원 전 현 "
    "관계자 시민 주민 학생 목격자 담당 취재 영상 편집 그래픽 출처 제공 인터뷰 연결 화상 전화 스튜디오").split())
#: English words that make the part after "NAME," a title
EN_TITLES = frozenset((
    "reporter correspondent anchor presenter host journalist editor producer analyst commentator "
    "senator representative congressman congresswoman lawmaker mp minister secretary president "
    "vice chairman chairwoman chair ceo cfo cto founder director spokesperson spokesman spokeswoman "
    "governor mayor ambassador commissioner chief officer professor dr doctor researcher scientist "
    "lawyer attorney judge prosecutor coach player captain commander astronaut general colonel "
    "economist author expert witness resident student").split())

MIN_TOGETHER_MS = 1000  #: a name must share at least this much screen time with the face (ms)
MIN_SPECIFICITY = 0.5  #: and at least this share of its own screen time
LOWER_THIRD_Y = 0.6  #: a line whose centre is below this ratio of the frame height is a lower third
POSITION_BONUS = 1.5  #: weight factor for a lower-third line, and again for one under the face
MAX_EVIDENCE = 20  #: evidence frames kept per suggestion

_HANGUL = "\uac00-\ud7a3"
_SEP = r"\s*[/|,·:ㆍ]?\s*"
_KO_TITLE = "|".join(sorted(map(re.escape, KO_TITLES), key=len, reverse=True))
_KO_NAME_TITLE = re.compile(rf"(?:^|(?<=[\s/|,·:ㆍ(\[]))([{_HANGUL}]{{2,4}}){_SEP}({_KO_TITLE})(?=$|[\s/|,·:ㆍ)\].!?])")
_KO_NAME_ONLY = re.compile(rf"^\s*([{_HANGUL}]{{2,4}})\s*$")
_KO_ENDS_WITH_TITLE = re.compile(rf"(?:^|[\s/|,·:ㆍ])({_KO_TITLE})\s*$")
_EN_WORD = r"[A-Z][A-Za-z'’.\-]*[A-Za-z.]"
_EN_NAME_TITLE = re.compile(rf"^\s*((?:{_EN_WORD})(?:\s+{_EN_WORD}){{1,3}})\s*(?:,|\||/|–|—|-|:)\s*(.+?)\s*$")


@dataclass(frozen=True)
class Candidate:
    """A name read from a caption: ``name`` as shown (``김철수``, ``John Smith``), its
    ``title`` (``국회의원``, ``Reporter``), ``key`` (letters, case-folded: one name however OCR
    spaced or cased it), ``surname`` (False: a Korean name whose first syllable is no known
    surname; always True for Latin names), the ``line`` it came from and its ``box``
    (BoundingBox ratios; ``{}`` when unknown)."""

    name: str
    title: str
    key: str
    surname: bool
    line: str
    box: Mapping[str, float]


def name_key(name: str) -> str:
    """The letters of ``name``, NFKC-normalised and case-folded: the identity of a name."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", name).casefold() if ch.isalnum())


def _ko_candidate(name: str, title: str, line: str, box: Mapping[str, float]) -> Candidate | None:
    if name in KO_NOT_NAMES or name in KO_TITLES:
        return None
    # 국회+의원 and 서울시+의원 are titles (국회의원, 시의원), not a name and a title
    if any(name[i:] + title in KO_TITLES for i in range(len(name))):
        return None
    if any(name.endswith(t) for t in KO_TITLES if 2 <= len(t) < len(name)):  # 박교수: a title, no name
        return None
    surname = name[:1] in KO_SURNAMES or name[:2] in KO_SURNAMES
    return Candidate(name=name, title=title, key=name_key(name), surname=surname, line=line, box=box)


def name_candidates(lines: Iterable[Mapping[str, Any]]) -> list[Candidate]:
    """Name candidates in the text lines of one frame (``{"text", "box"}`` each, as in
    :class:`reko.pipeline.documents.TextLine`), in line order; see the module docstring for
    the patterns. Text is NFKC-normalised first; each name once per frame."""
    lines = [{"text": " ".join(unicodedata.normalize("NFKC", str(line.get("text", ""))).split()),
              "box": line.get("box") or {}} for line in lines]
    found: dict[str, Candidate] = {}

    def add(c: Candidate | None) -> None:
        if c is not None and c.key not in found:
            found[c.key] = c

    for i, line in enumerate(lines):
        text, box = line["text"], line["box"]
        if not text:
            continue
        matches = list(_KO_NAME_TITLE.finditer(text))
        if not matches:  # OCR splits names ("김 철수 기자"): again without spaces, long titles only
            matches = [m for m in _KO_NAME_TITLE.finditer(text.replace(" ", "")) if len(m.group(2)) >= 2]
        for m in matches:
            add(_ko_candidate(m.group(1), m.group(2), text, box))
        only = _KO_NAME_ONLY.match(text)
        if only:  # a name line: its title on the line just below (two-line lower third)
            for other in lines[i + 1:] + lines[:i]:
                title = _KO_ENDS_WITH_TITLE.search(other["text"])
                if title and _below(box, other["box"]):
                    add(_ko_candidate(only.group(1), title.group(1), f"{text} / {other['text']}", box))
                    break
        latin = _EN_NAME_TITLE.match(text)
        if latin:
            name, en_title = latin.group(1), latin.group(2)
            if any(w.strip(".,").casefold() in EN_TITLES for w in re.split(r"[\s/,&-]+", en_title)) and \
                    not any(w.strip(".,").casefold() in EN_TITLES for w in name.split()):
                shown = name.title() if name.isupper() else name
                add(Candidate(name=shown, title=en_title, key=name_key(name), surname=True, line=text, box=box))
    return list(found.values())


def _below(upper: Mapping[str, float], lower: Mapping[str, float]) -> bool:
    """Whether the box ``lower`` starts below the top of ``upper`` and within two of its line
    heights of its bottom (a title line under a name line); True when either box is unknown."""
    if not upper or not lower:
        return True
    top, height = upper.get("Top", 0.0), upper.get("Height", 0.0)
    return top < lower.get("Top", 0.0) <= top + 3 * max(height, 0.01)


def _position_weight(box: Mapping[str, float], face: Mapping[str, float] | None) -> float:
    weight = 1.0
    if box and box.get("Top", 0.0) + box.get("Height", 0.0) / 2 >= LOWER_THIRD_Y:
        weight *= POSITION_BONUS
    if box and face:
        left, right = face.get("Left", 0.0) - face.get("Width", 0.0), face.get("Left", 0.0) + 2 * face.get("Width", 0.0)
        if box.get("Top", 0.0) >= face.get("Top", 0.0) and \
                box.get("Left", 0.0) < right and box.get("Left", 0.0) + box.get("Width", 0.0) > left:
            weight *= POSITION_BONUS
    return weight


@dataclass
class NameSuggestion:
    """A name proposed for a person: ``name`` (most frequent spelling), ``title`` (most
    frequent), ``score`` (higher is better; see the module docstring), ``together_ms`` and
    ``name_ms`` (screen time shared with the face, and of the name overall; ms),
    ``specificity`` 0–1, ``frames`` (how many frames show both), and ``evidence``: up to
    :data:`MAX_EVIDENCE` of those frames (``video_id``, ``frame_ms``, ``start_ms``,
    ``end_ms``, the ``line`` read, its ``box``), earliest first."""

    name: str
    title: str
    score: float
    together_ms: int
    name_ms: int
    specificity: float
    frames: int
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The ``reko persons --suggest --json`` / API shape."""
        return {"name": self.name, "title": self.title, "score": round(self.score, 3),
                "together_ms": self.together_ms, "name_ms": self.name_ms,
                "specificity": round(self.specificity, 3), "frames": self.frames, "evidence": self.evidence}


def suggest_names(frames: Iterable[Mapping[str, Any]], named: Iterable[str] = ()) -> dict[str, list[NameSuggestion]]:
    """Name suggestions for every person in ``frames`` (frame documents: ``video_id``,
    ``frame_ms``, ``start_ms``, ``end_ms``, ``text_lines``, ``faces`` with ``person_id`` and
    ``box``), best first; persons in ``named`` (already named) get none. Persons with no
    suggestion are left out. Pass every frame of the videos concerned: a name's screen time
    away from the person, in the videos the person is in, lowers its specificity."""
    skip = set(named)
    name_ms: dict[tuple[str, str], int] = defaultdict(int)  # (video_id, key) → ms
    person_videos: dict[str, set[str]] = defaultdict(set)
    spellings: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    titles: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    surnames: dict[str, bool] = {}
    together: dict[tuple[str, str], dict[str, Any]] = {}
    for doc in frames:
        span = max(0, int(doc["end_ms"]) - int(doc["start_ms"]))
        faces: dict[str, Mapping[str, float]] = {}
        for face in doc.get("faces") or []:
            pid = face.get("person_id")
            if pid and pid not in skip and pid not in faces:
                faces[pid] = face.get("box") or {}
                person_videos[pid].add(doc["video_id"])
        candidates = name_candidates(doc.get("text_lines") or [])
        for c in candidates:
            name_ms[(doc["video_id"], c.key)] += span
            spellings[c.key][c.name] += 1
            titles[c.key][c.title] += 1
            surnames[c.key] = surnames.get(c.key, False) or c.surname
            for pid, box in faces.items():
                entry = together.setdefault((pid, c.key), {"ms": 0, "weighted_ms": 0.0, "frames": 0, "evidence": []})
                entry["ms"] += span
                entry["weighted_ms"] += span * _position_weight(c.box, box)
                entry["frames"] += 1
                entry["evidence"].append({"video_id": doc["video_id"], "frame_ms": int(doc["frame_ms"]),
                                          "start_ms": int(doc["start_ms"]), "end_ms": int(doc["end_ms"]),
                                          "line": c.line, "box": dict(c.box)})
    out: dict[str, list[NameSuggestion]] = defaultdict(list)
    for (pid, key), entry in together.items():
        shown = sum(name_ms.get((video_id, key), 0) for video_id in person_videos[pid])
        specificity = entry["ms"] / shown if shown else 0.0
        if entry["ms"] < MIN_TOGETHER_MS or specificity < MIN_SPECIFICITY:
            continue
        score = entry["weighted_ms"] / 1000 * specificity * (1.0 if surnames[key] else 0.5)
        evidence = sorted(entry["evidence"], key=lambda e: (e["video_id"], e["frame_ms"]))[:MAX_EVIDENCE]
        out[pid].append(NameSuggestion(
            name=max(spellings[key].items(), key=lambda kv: (kv[1], kv[0]))[0],
            title=max(titles[key].items(), key=lambda kv: (kv[1], kv[0]))[0],
            score=score, together_ms=entry["ms"], name_ms=shown, specificity=specificity,
            frames=entry["frames"], evidence=evidence))
    return {pid: sorted(items, key=lambda s: (-s.score, s.name)) for pid, items in out.items()}
