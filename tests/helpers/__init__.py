"""Reusable test helpers: deterministic tars/rootfs (`images`) and a private
Docker 20.10 daemon (`dockerd`)."""
