"""Containers: OCI runtime spec, bundle, runc, the per-container monitor.

A container's modules, by job: ``containers`` (the store: create, start, stop, remove, look up),
``container_state`` (the container as read: stored record + run state; light enough for ``ps``),
``container_monitor`` (the monitor's body: run, restart policy, tear down), ``health`` (the healthcheck's
probe loop, a child of the monitor, and its rules), ``container_spec`` (spec
assembly for one start), ``container_layer`` (the writable layer: the one call site of the storage
driver), ``control`` (kill, pause, rename, update, wait, top, stats). Its stored record is
``metadata.containers.ContainerRecord``.
"""
