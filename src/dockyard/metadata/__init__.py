"""Images, references, layers, containers: one SQLite database."""

from dockyard.metadata.db import Database, ImageRow, LayerRow, RefRow

__all__ = ["Database", "ImageRow", "LayerRow", "RefRow"]
