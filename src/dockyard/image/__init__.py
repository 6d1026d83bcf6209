"""The image model over content and metadata; archive formats; the image commands."""
