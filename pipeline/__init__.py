"""The reko pipeline: media, analysis engines, persons, index backends, ingest, clips, CLI."""
