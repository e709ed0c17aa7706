"""Published AWS prices that ``reko estimate`` uses, per region, each with its source and date.

Data only: nothing here calls AWS (there is no network at estimate time) and nothing is guessed.
A price reko could not read from a source is absent (``None``) and the estimate says so instead
of inventing one. Prices change: the ``read`` date of every entry says when it was checked.

Amazon Rekognition Image (https://aws.amazon.com/rekognition/pricing/) bills every image an API
analyses ("Running multiple APIs on one image counts as processing multiple images"), in
monthly volume tiers, at two rates:

* Group 1 — CompareFaces, IndexFaces, SearchFacesByImage, SearchFaces (and the user-vector
  operations);
* Group 2 — DetectFaces, DetectModerationLabels, DetectLabels, DetectText, RecognizeCelebrities,
  DetectProtectiveEquipment.

(Group membership: the pricing page's text, e.g. its Vietnamese edition
https://aws.amazon.com/vi/rekognition/pricing/, read 2026-11-30.) The page renders its rate
tables from a template, so the figures below come from where the numbers are written out:

* Group 2, first 1 million images a month: $0.0010 per image — the page's own pricing example
  (DetectLabels), as transcribed verbatim from https://aws.amazon.com/rekognition/pricing/ on
  2026-10-07 by API Evangelist
  (https://raw.githubusercontent.com/api-evangelist/amazon-rekognition/refs/heads/main/plans/amazon-rekognition-plans-pricing.yml);
* Group 1, first 1 million images a month: $0.001 per image — not readable on the page without
  its template; the figure that public cost sheets citing the page give for IndexFaces,
  SearchFacesByImage and AssociateFaces (e.g. "Group 1 AssociateFaces First 1 million images
  $0.001"), equal to Group 2's first tier. A secondary source: check it on the page.

Only the first tier (up to 1 million images per group and month) is recorded: an estimate per
video assumes the account's monthly volume stays inside it (the most expensive tier, so the
estimate is an upper bound above that volume).

AWS Elemental MediaConvert (https://aws.amazon.com/mediaconvert/pricing/) bills per *normalized*
output minute: each output's minutes times multipliers for resolution, frame rate, codec and
passes, at Basic- or Professional-tier rates with volume discounts. Neither the multipliers nor
the per-tier rates could be read from a source reko can cite (the page renders them from
templates; only third-party figures that disagree with each other were found), so
:attr:`RegionPrices.mediaconvert_usd_per_minute` is empty and estimates report MediaConvert
*minutes* without a cost. What is recorded is how minutes are counted: each output's duration
is billed in one-second steps, at least 10 seconds ("Die Dauer jeder Ausgabe wird in
Ein-Sekunden-Schritten berechnet ... Der Mindestabrechnungstakt sind 10 Sekunden", the pricing
page's German edition as mirrored at http://cubic.app2one.com/de/mediaconvert/pricing, read
2026-11-30), and a frame capture output reports the input's duration like a video output
(https://docs.aws.amazon.com/mediaconvert/latest/ug/file-group-with-frame-capture-output.html:
``durationInMs`` 185000 for the frame capture output of a 180 s job).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from ...errors import SettingsError

REKOGNITION_PRICING_URL = "https://aws.amazon.com/rekognition/pricing/"
MEDIACONVERT_PRICING_URL = "https://aws.amazon.com/mediaconvert/pricing/"

#: Rekognition image APIs → pricing group (1 or 2), as listed on the pricing page.
REKOGNITION_GROUPS: Mapping[str, int] = MappingProxyType({
    "CompareFaces": 1, "IndexFaces": 1, "SearchFacesByImage": 1, "SearchFaces": 1,
    "DetectFaces": 2, "DetectModerationLabels": 2, "DetectLabels": 2, "DetectText": 2,
    "RecognizeCelebrities": 2, "DetectProtectiveEquipment": 2,
})

#: MediaConvert resolution categories by output height in lines: SD below 720, HD 720–1080,
#: UHD above 1080 (the categories the pricing page prices separately).
MEDIACONVERT_TIERS = ("SD", "HD", "UHD")
MEDIACONVERT_MIN_BILLED_S = 10  #: an output is billed for at least 10 s (see the module doc)


@dataclass(frozen=True)
class Price:
    """One published price: ``usd`` per ``unit``, read from ``source`` on ``read`` (ISO date);
    ``note`` says how it was read when not straight from the provider's page."""

    usd: float
    unit: str
    source: str
    read: str
    note: str = ""

    def to_json(self) -> dict[str, object]:
        """``{"usd", "unit", "source", "read", "note"}``."""
        return {"usd": self.usd, "unit": self.unit, "source": self.source, "read": self.read,
                "note": self.note}


@dataclass(frozen=True)
class RegionPrices:
    """The prices of one AWS region.

    ``rekognition_group_usd`` maps a Rekognition pricing group (1, 2) to the price per image of
    the first tier (first 1 million images per month and group). ``mediaconvert_usd_per_minute``
    maps a resolution category (:data:`MEDIACONVERT_TIERS`) to a price per output minute; it is
    empty when no citable price is known (then MediaConvert costs are left out).
    """

    region: str
    rekognition_group_usd: Mapping[int, Price]
    mediaconvert_usd_per_minute: Mapping[str, Price] = field(default_factory=dict)

    def rekognition_usd_per_call(self, api: str) -> float:
        """Price in USD of one call of Rekognition image API ``api`` (e.g. ``DetectText``).

        Raises:
            KeyError: ``api`` is not a priced image API (:data:`REKOGNITION_GROUPS`).
        """
        return self.rekognition_group_usd[REKOGNITION_GROUPS[api]].usd

    def to_json(self) -> dict[str, object]:
        """The table with its sources (for ``reko estimate --json``)."""
        return {
            "region": self.region,
            "rekognition_per_image_first_1m": {f"group{g}": p.to_json()
                                               for g, p in sorted(self.rekognition_group_usd.items())},
            "rekognition_groups": dict(REKOGNITION_GROUPS),
            "mediaconvert_per_minute": {t: p.to_json() for t, p in self.mediaconvert_usd_per_minute.items()},
            "mediaconvert_note": "" if self.mediaconvert_usd_per_minute else (
                "no citable MediaConvert price: the pricing page renders its rates from templates; "
                f"see {MEDIACONVERT_PRICING_URL} (minutes are reported, their cost is left out)"),
        }


_EXAMPLE_TRANSCRIPT = ("https://raw.githubusercontent.com/api-evangelist/amazon-rekognition/refs/heads/"
                       "main/plans/amazon-rekognition-plans-pricing.yml")

#: Region → prices. Only regions whose prices could be sourced are listed.
PRICES: Mapping[str, RegionPrices] = MappingProxyType({
    "us-east-1": RegionPrices(
        region="us-east-1",
        rekognition_group_usd=MappingProxyType({
            1: Price(0.001, "image", REKOGNITION_PRICING_URL, "2026-11-30",
                     "first 1M images/month; the page's table is a template: figure as quoted by "
                     "cost sheets citing the page (secondary source)"),
            2: Price(0.0010, "image", REKOGNITION_PRICING_URL, "2026-10-07",
                     f"first 1M images/month; the page's DetectLabels pricing example, transcribed "
                     f"verbatim in {_EXAMPLE_TRANSCRIPT}"),
        }),
    ),
})


def region_prices(region: str) -> RegionPrices:
    """The price table of ``region`` (``REKO_AWS_REGION``).

    Raises:
        SettingsError: no prices are recorded for ``region`` (the message lists those that are).
    """
    try:
        return PRICES[region]
    except KeyError:
        raise SettingsError(f"REKO_AWS_REGION={region!r}: reko has no published prices for that "
                            f"region; use one of {sorted(PRICES)} (or add its prices, with their "
                            "sources, to pipeline/aws/prices.py)") from None
