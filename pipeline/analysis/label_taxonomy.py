"""COCO-80 classes → Amazon Rekognition label names, hierarchy, aliases and categories.

The local label detector (:mod:`.labels`) knows the 80 COCO 2017 detection classes; Rekognition
knows ~3,000 labels arranged in a hierarchy (``Car`` → ``Vehicle`` → ``Transportation``), each
with aliases and categories. This module translates one into the other so a frame analysed
locally and one analysed by AWS produce the same ``Labels``.

Sources:

* ``COCO80``: the class order of the COCO 2017 detection task (80 of the 91 ids), as the
  CenterNet model in ``@vladmandic/human`` 3.3.6 emits it (``src/object/labels.ts`` there).
* ``LABELS``: Rekognition's label names, direct parents, aliases and categories as published in
  AWS's label list for DetectLabels model version 3.0 ("Detecting labels" → "Supported labels",
  and the example responses in the DetectLabels API reference: ``Car`` with parents
  ``Vehicle``/``Transportation``, alias ``Automobile``, category ``Vehicles and Automotive``;
  ``Mobile Phone`` with alias ``Cell Phone``; ``Person`` with alias ``Human`` and no parents).
  The table was written from that list as known to the author, not generated from the CSV AWS
  publishes: names of the 80 leaf labels follow Rekognition's spelling (``TV``, ``Mobile Phone``,
  ``Potted Plant``, ``Dining Table``, ``Computer Keyboard``, ``Remote Control``, ``Blow Dryer``);
  parent chains and categories are best-effort and may differ from AWS in detail for a few
  household objects (documented in ``docs/architecture.md``).

A label's ``Parents`` in a response are *all* its ancestors (Rekognition lists the whole chain,
nearest first: ``Car`` → ``[Vehicle, Transportation]``), computed from the direct parents here.
"""

from __future__ import annotations

from functools import cache
from typing import Iterable

#: COCO 2017 detection classes in model output order (index = class id 0–79).
COCO80: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)

#: COCO class → Rekognition label name.
COCO_TO_REKOGNITION: dict[str, str] = {
    "person": "Person", "bicycle": "Bicycle", "car": "Car", "motorcycle": "Motorcycle",
    "airplane": "Airplane", "bus": "Bus", "train": "Train", "truck": "Truck", "boat": "Boat",
    "traffic light": "Traffic Light", "fire hydrant": "Fire Hydrant", "stop sign": "Stop Sign",
    "parking meter": "Parking Meter", "bench": "Bench", "bird": "Bird", "cat": "Cat", "dog": "Dog",
    "horse": "Horse", "sheep": "Sheep", "cow": "Cow", "elephant": "Elephant", "bear": "Bear",
    "zebra": "Zebra", "giraffe": "Giraffe", "backpack": "Backpack", "umbrella": "Umbrella",
    "handbag": "Handbag", "tie": "Tie", "suitcase": "Suitcase", "frisbee": "Frisbee", "skis": "Ski",
    "snowboard": "Snowboard", "sports ball": "Ball", "kite": "Kite", "baseball bat": "Baseball Bat",
    "baseball glove": "Baseball Glove", "skateboard": "Skateboard", "surfboard": "Surfboard",
    "tennis racket": "Tennis Racket", "bottle": "Bottle", "wine glass": "Wine Glass", "cup": "Cup",
    "fork": "Fork", "knife": "Knife", "spoon": "Spoon", "bowl": "Bowl", "banana": "Banana",
    "apple": "Apple", "sandwich": "Sandwich", "orange": "Orange", "broccoli": "Broccoli",
    "carrot": "Carrot", "hot dog": "Hot Dog", "pizza": "Pizza", "donut": "Donut", "cake": "Cake",
    "chair": "Chair", "couch": "Couch", "potted plant": "Potted Plant", "bed": "Bed",
    "dining table": "Dining Table", "toilet": "Toilet", "tv": "TV", "laptop": "Laptop",
    "mouse": "Mouse", "remote": "Remote Control", "keyboard": "Computer Keyboard",
    "cell phone": "Mobile Phone", "microwave": "Microwave", "oven": "Oven", "toaster": "Toaster",
    "sink": "Sink", "refrigerator": "Refrigerator", "book": "Book", "clock": "Clock",
    "vase": "Vase", "scissors": "Scissors", "teddy bear": "Teddy Bear", "hair drier": "Blow Dryer",
    "toothbrush": "Toothbrush",
}

_VEH, _ANI, _FOOD, _FURN = "Vehicles and Automotive", "Animals and Pets", "Food and Beverage", "Furniture and Furnishings"
_TECH, _KITCH, _HOME, _SPORT = "Technology and Computing", "Kitchen and Dining", "Home and Indoors", "Sports"
_APPAREL, _EVERY, _PERSON, _HOBBY = "Apparel and Accessories", "Everyday Objects", "Person Description", "Hobbies and Interests"

#: Rekognition label → (direct parents, aliases, categories). Every name that appears as a
#: parent has its own entry, so a parent reported as a label gets its own hierarchy too.
LABELS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # people (also the labels other analyzers imply: see implied_labels)
    "Person": ((), ("Human",), (_PERSON,)),
    "Face": (("Head", "Person"), (), (_PERSON,)),
    "Head": (("Person",), (), (_PERSON,)),
    "Text": ((), (), ("Text and Documents",)),
    # vehicles
    "Transportation": ((), (), (_VEH,)),
    "Vehicle": (("Transportation",), (), (_VEH,)),
    "Aircraft": (("Vehicle", "Transportation"), (), (_VEH,)),
    "Watercraft": (("Vehicle", "Transportation"), (), (_VEH,)),
    "Bicycle": (("Vehicle", "Transportation"), ("Bike",), (_VEH,)),
    "Car": (("Vehicle", "Transportation"), ("Automobile",), (_VEH,)),
    "Motorcycle": (("Vehicle", "Transportation"), ("Motorbike",), (_VEH,)),
    "Airplane": (("Aircraft", "Vehicle", "Transportation"), ("Aeroplane",), (_VEH,)),
    "Bus": (("Vehicle", "Transportation"), (), (_VEH,)),
    "Train": (("Vehicle", "Transportation"), (), (_VEH,)),
    "Truck": (("Vehicle", "Transportation"), ("Lorry",), (_VEH,)),
    "Boat": (("Watercraft", "Vehicle", "Transportation"), (), (_VEH,)),
    # street furniture and signs
    "Light": ((), (), (_EVERY,)),
    "Traffic Light": (("Light",), (), ("Public Safety",)),
    "Hydrant": ((), (), ("Public Safety",)),
    "Fire Hydrant": (("Hydrant",), (), ("Public Safety",)),
    "Symbol": ((), (), ("Symbols and Flags",)),
    "Sign": (("Symbol",), (), ("Symbols and Flags",)),
    "Road Sign": (("Sign", "Symbol"), (), ("Symbols and Flags",)),
    "Stop Sign": (("Road Sign", "Sign", "Symbol"), (), ("Symbols and Flags",)),
    "Parking Meter": ((), (), (_EVERY,)),
    # furniture
    "Furniture": ((), (), (_FURN,)),
    "Table": (("Furniture",), (), (_FURN,)),
    "Bench": (("Furniture",), (), (_FURN,)),
    "Chair": (("Furniture",), (), (_FURN,)),
    "Couch": (("Furniture",), ("Sofa",), (_FURN,)),
    "Bed": (("Furniture",), (), (_FURN,)),
    "Dining Table": (("Table", "Furniture"), (), (_FURN,)),
    # animals
    "Animal": ((), (), (_ANI,)),
    "Mammal": (("Animal",), (), (_ANI,)),
    "Pet": (("Animal",), (), (_ANI,)),
    "Canine": (("Mammal", "Animal"), (), (_ANI,)),
    "Livestock": (("Animal",), (), (_ANI,)),
    "Wildlife": (("Animal",), (), (_ANI,)),
    "Bird": (("Animal",), (), (_ANI,)),
    "Cat": (("Mammal", "Pet", "Animal"), ("Kitten",), (_ANI,)),
    "Dog": (("Canine", "Mammal", "Pet", "Animal"), ("Puppy",), (_ANI,)),
    "Horse": (("Mammal", "Animal"), (), (_ANI,)),
    "Sheep": (("Livestock", "Mammal", "Animal"), (), (_ANI,)),
    "Cow": (("Cattle", "Livestock", "Mammal", "Animal"), (), (_ANI,)),
    "Cattle": (("Livestock", "Mammal", "Animal"), (), (_ANI,)),
    "Elephant": (("Wildlife", "Mammal", "Animal"), (), (_ANI,)),
    "Bear": (("Wildlife", "Mammal", "Animal"), (), (_ANI,)),
    "Zebra": (("Wildlife", "Mammal", "Animal"), (), (_ANI,)),
    "Giraffe": (("Wildlife", "Mammal", "Animal"), (), (_ANI,)),
    # accessories and travel
    "Accessories": ((), (), (_APPAREL,)),
    "Clothing": ((), ("Apparel",), (_APPAREL,)),
    "Formal Wear": (("Clothing",), (), (_APPAREL,)),
    "Bag": (("Accessories",), (), (_APPAREL,)),
    "Backpack": (("Bag", "Accessories"), (), (_APPAREL,)),
    "Handbag": (("Bag", "Accessories"), ("Purse",), (_APPAREL,)),
    "Tie": (("Accessories", "Formal Wear", "Clothing"), ("Necktie",), (_APPAREL,)),
    "Canopy": ((), (), (_EVERY,)),
    "Umbrella": (("Canopy",), (), (_EVERY,)),
    "Baggage": ((), ("Luggage",), ("Travel and Adventure",)),
    "Suitcase": (("Baggage",), (), ("Travel and Adventure",)),
    # sports and toys
    "Sport": ((), ("Sports",), (_SPORT,)),
    "Toy": ((), (), (_HOBBY,)),
    "Frisbee": (("Toy",), (), (_SPORT,)),
    "Ski": (("Sport",), (), (_SPORT,)),
    "Snowboard": (("Sport",), (), (_SPORT,)),
    "Ball": (("Sport",), (), (_SPORT,)),
    "Kite": (("Toy",), (), (_HOBBY,)),
    "Baseball Bat": (("Sport",), (), (_SPORT,)),
    "Baseball Glove": (("Sport",), (), (_SPORT,)),
    "Skateboard": (("Sport",), (), (_SPORT,)),
    "Surfboard": (("Sport",), (), (_SPORT,)),
    "Racket": (("Sport",), (), (_SPORT,)),
    "Tennis Racket": (("Racket", "Sport"), (), (_SPORT,)),
    "Teddy Bear": (("Toy",), (), (_HOBBY,)),
    # kitchen and food
    "Cutlery": ((), (), (_KITCH,)),
    "Glass": ((), (), (_KITCH,)),
    "Bottle": ((), (), (_KITCH,)),
    "Wine Glass": (("Glass",), (), (_KITCH,)),
    "Cup": ((), (), (_KITCH,)),
    "Fork": (("Cutlery",), (), (_KITCH,)),
    "Knife": (("Cutlery",), (), (_KITCH,)),
    "Spoon": (("Cutlery",), (), (_KITCH,)),
    "Bowl": ((), (), (_KITCH,)),
    "Food": ((), (), (_FOOD,)),
    "Plant": ((), (), ("Plants and Flowers",)),
    "Produce": (("Food",), (), (_FOOD,)),
    "Fruit": (("Food", "Plant"), (), (_FOOD,)),
    "Citrus Fruit": (("Fruit", "Food", "Plant"), (), (_FOOD,)),
    "Vegetable": (("Food", "Plant"), (), (_FOOD,)),
    "Dessert": (("Food",), (), (_FOOD,)),
    "Sweets": (("Food",), (), (_FOOD,)),
    "Banana": (("Fruit", "Produce", "Food", "Plant"), (), (_FOOD,)),
    "Apple": (("Fruit", "Produce", "Food", "Plant"), (), (_FOOD,)),
    "Orange": (("Citrus Fruit", "Fruit", "Produce", "Food", "Plant"), (), (_FOOD,)),
    "Broccoli": (("Vegetable", "Produce", "Food", "Plant"), (), (_FOOD,)),
    "Carrot": (("Vegetable", "Produce", "Food", "Plant"), (), (_FOOD,)),
    "Sandwich": (("Food",), (), (_FOOD,)),
    "Hot Dog": (("Food",), (), (_FOOD,)),
    "Pizza": (("Food",), (), (_FOOD,)),
    "Donut": (("Sweets", "Food"), ("Doughnut",), (_FOOD,)),
    "Cake": (("Dessert", "Food"), (), (_FOOD,)),
    # home
    "Potted Plant": (("Plant",), ("Houseplant",), ("Plants and Flowers",)),
    "Toilet": ((), (), (_HOME,)),
    "Sink": ((), (), (_HOME,)),
    "Appliance": ((), (), (_HOME,)),
    "Microwave": (("Appliance",), (), (_HOME,)),
    "Oven": (("Appliance",), (), (_HOME,)),
    "Toaster": (("Appliance",), (), (_HOME,)),
    "Refrigerator": (("Appliance",), ("Fridge",), (_HOME,)),
    "Blow Dryer": (("Appliance",), ("Hair Dryer",), ("Beauty and Personal Care",)),
    "Publication": ((), (), ("Text and Documents",)),
    "Book": (("Publication",), (), ("Text and Documents",)),
    "Clock": ((), (), (_EVERY,)),
    "Pottery": ((), (), (_HOME,)),
    "Jar": ((), (), (_HOME,)),
    "Vase": (("Jar", "Pottery"), (), (_HOME,)),
    "Scissors": ((), (), ("Tools and Machinery",)),
    "Brush": ((), (), ("Tools and Machinery",)),
    "Toothbrush": (("Brush",), (), ("Beauty and Personal Care",)),
    # electronics
    "Electronics": ((), (), (_TECH,)),
    "Screen": (("Electronics",), (), (_TECH,)),
    "Computer": (("Electronics",), (), (_TECH,)),
    "Hardware": ((), (), (_TECH,)),
    "Computer Hardware": (("Hardware", "Electronics"), (), (_TECH,)),
    "Phone": (("Electronics",), (), (_TECH,)),
    "TV": (("Screen", "Electronics"), ("Television",), (_TECH,)),
    "Laptop": (("Computer", "Electronics"), (), (_TECH,)),
    "Mouse": (("Computer Hardware", "Hardware", "Electronics"), (), (_TECH,)),
    "Computer Keyboard": (("Computer Hardware", "Hardware", "Electronics"), (), (_TECH,)),
    "Remote Control": (("Electronics",), (), (_TECH,)),
    "Mobile Phone": (("Phone", "Electronics"), ("Cell Phone",), (_TECH,)),
}


@cache
def ancestors(name: str) -> tuple[str, ...]:
    """All parents of Rekognition label ``name``, nearest first, each once (``Car`` →
    ``("Vehicle", "Transportation")``); ``()`` for a root or an unknown label."""
    out: list[str] = []
    frontier = list(LABELS.get(name, ((), (), ()))[0])
    while frontier:
        parent = frontier.pop(0)
        if parent in out or parent == name:
            continue
        out.append(parent)
        frontier.extend(LABELS.get(parent, ((), (), ()))[0])
    return tuple(out)


def label_entry(name: str, confidence: float, instances: Iterable[dict] = ()) -> dict:
    """One Rekognition ``Label`` dict: ``Name``, ``Confidence`` (0–100), ``Instances``
    (``[{"BoundingBox": {...ratios}, "Confidence": ...}]``), ``Parents`` (all ancestors as
    ``[{"Name": ...}]``), ``Aliases`` and ``Categories``, as DetectLabels returns it."""
    _, aliases, categories = LABELS.get(name, ((), (), ()))
    return {
        "Name": name,
        "Confidence": float(confidence),
        "Instances": list(instances),
        "Parents": [{"Name": p} for p in ancestors(name)],
        "Aliases": [{"Name": a} for a in aliases],
        "Categories": [{"Name": c} for c in categories],
    }


def with_parents(labels: Iterable[dict]) -> list[dict]:
    """``labels`` plus every ancestor as a label of its own, as Rekognition reports them: a
    parent's ``Confidence`` is the highest of its descendants', its ``Instances`` empty (unless
    it was detected itself). Duplicate names are merged (see :func:`merge_labels`). Sorted by
    ``Confidence`` descending; at equal confidence a label comes before its parents."""
    merged = {label["Name"]: label for label in merge_labels(labels)}
    for label in list(merged.values()):
        for parent in ancestors(label["Name"]):
            if parent in merged:
                merged[parent]["Confidence"] = max(merged[parent]["Confidence"], label["Confidence"])
            else:
                merged[parent] = label_entry(parent, label["Confidence"])
    return sorted(merged.values(), key=lambda lab: (-lab["Confidence"], -len(ancestors(lab["Name"])), lab["Name"]))


def merge_labels(*label_lists: Iterable[dict]) -> list[dict]:
    """Merge Rekognition ``Label`` dicts by ``Name``: highest ``Confidence`` wins, ``Instances``
    are concatenated; other members come from the first occurrence. Order of first occurrence.

    For combining :func:`implied_labels` with a DetectLabels response (either engine's)."""
    out: dict[str, dict] = {}
    for labels in label_lists:
        for label in labels:
            name = label["Name"]
            if name not in out:
                out[name] = {**label, "Instances": list(label.get("Instances", []))}
            else:
                out[name]["Confidence"] = max(out[name]["Confidence"], label["Confidence"])
                out[name]["Instances"].extend(label.get("Instances", []))
    return list(out.values())


def implied_labels(face_count: int, text_line_count: int, *, confidence: float = 99.0) -> list[dict]:
    """Labels other analyzers are sure of, in DetectLabels' ``Label`` shape.

    A detected face implies ``Face``, ``Head`` and ``Person``; detected text implies ``Text``
    (Rekognition reports both for such frames). ``confidence`` (0–100) is given to each; their
    ``Instances`` are empty (a face box is not a person box). Returns ``[]`` when both counts are
    0. Merge with a DetectLabels response with :func:`merge_labels` (or :func:`with_parents`).
    """
    labels: list[dict] = []
    if face_count > 0:
        labels += [label_entry(n, confidence) for n in ("Face", "Head", "Person")]
    if text_line_count > 0:
        labels.append(label_entry("Text", confidence))
    return labels


def _check_table() -> None:
    missing = [n for n in COCO_TO_REKOGNITION.values() if n not in LABELS]
    missing += [p for parents, _, _ in LABELS.values() for p in parents if p not in LABELS]
    assert not missing, f"label_taxonomy: names without an entry: {missing}"
    assert set(COCO_TO_REKOGNITION) == set(COCO80) and len(COCO80) == 80


_check_table()
