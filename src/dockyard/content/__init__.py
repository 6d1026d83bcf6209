"""Blobs on disk, addressed by digest: ingested, verified, committed atomically."""

from dockyard.content.store import ContentStore, Ingest

__all__ = ["ContentStore", "Ingest"]
