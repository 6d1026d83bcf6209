"""Tar streams in and out of layers: whiteouts, path safety, compression."""
