"""Containers: OCI runtime spec, bundle, runc, the per-container monitor."""
