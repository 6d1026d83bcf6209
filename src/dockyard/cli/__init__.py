"""Argument parsing and output formatting only."""
