"""reko: turn video on demand into a searchable archive (text, persons, labels)."""

__version__ = "0.1.0"
