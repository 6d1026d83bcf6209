"""The same Dockerfile built by dockyard and by the real ``docker build`` (BuildKit, Docker 20.10):
same file trees and config; and ``dockyard save`` loads into docker and runs there."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.build.conftest import BASE, write_context
from tests.conftest import Dockyard
from tests.helpers.dockerd import busybox_image

pytestmark = pytest.mark.docker

# what Docker 20.10's BuildKit frontend understands (no heredocs, no --chmod)
DOCKERFILE = f"""\
ARG BASE={BASE}
FROM $BASE AS builder
ARG MSG=built
RUN mkdir -p /out && echo "$MSG" > /out/msg && ln -s msg /out/link
COPY src/ /out/src/

FROM $BASE
ENV APP=/srv/app LANG=C.UTF-8
LABEL maintainer="dev@example.com" tier=backend
WORKDIR $APP
COPY --from=builder /out ./
COPY --chown=nobody:nobody top.txt conf/*.conf ./etc/
ARG UNSET
ARG WITHDEFAULT=d
ARG GIVEN=default
RUN chmod 700 /srv/app/etc && rm /srv/app/src/b.txt && touch /srv/app/new
RUN true
ENV GIVEN=from-env
RUN ["/bin/sh", "-c", "echo $GIVEN $WITHDEFAULT > /srv/app/args"]
COPY . /ctx/
COPY link /linked
USER nobody
EXPOSE 80 443/tcp 53/udp
VOLUME ["/data", "/logs"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat $APP/msg"]
"""

CONFIG_KEYS: tuple[str, ...] = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels")


def _tree(export: bytes) -> dict[str, tuple[object, ...]]:
    """A flattened filesystem (``docker export``) as name -> type, mode, owner, content or link."""
    out: dict[str, tuple[object, ...]] = {}
    with tarfile.open(fileobj=io.BytesIO(export)) as tar:
        for m in tar:
            data = tar.extractfile(m).read() if m.isreg() else b""  # type: ignore[union-attr]
            out[m.name.rstrip("/")] = (m.type, m.mode, m.uid, m.gid, hashlib.sha256(data).hexdigest(), m.linkname)
    return out


def _export(dockerd, image: str) -> dict[str, tuple[object, ...]]:  # type: ignore[no-untyped-def]
    cid = dockerd.run("create", image).stdout.strip()
    try:
        proc = subprocess.run(["/usr/bin/docker", "-H", dockerd.host, "export", cid], capture_output=True,
                              env=dockerd.env, check=True, timeout=120)
        return _tree(proc.stdout)
    finally:
        dockerd.run("rm", "-f", cid)


def _compare(dockerd, yard: Dockyard, ctx: Path, name: str, *args: str) -> None:  # type: ignore[no-untyped-def]
    """Build ``ctx`` with both; the same config, file tree, history and layer count."""
    dockerd.run("build", "-q", "--network", "none", *args, "-t", f"{name}-docker:1", str(ctx), env={"DOCKER_BUILDKIT": "1"})
    yard("build", "-q", *args, "-t", f"{name}:1", str(ctx))
    ours = json.loads(yard("image", "inspect", f"{name}:1").stdout)[0]
    theirs = dockerd.inspect(f"{name}-docker:1")
    for key in CONFIG_KEYS + EXTRA_KEYS:
        assert ours["Config"].get(key) == theirs["Config"].get(key), key
    assert len(ours["RootFS"]["Layers"]) == len(theirs["RootFS"]["Layers"])
    assert (ours["Author"], ours["Architecture"], ours["Os"]) == (theirs["Author"], theirs["Architecture"], theirs["Os"])
    history = "history", "--no-trunc", "--format", "{{.CreatedBy}}"
    assert yard(*history, f"{name}:1").stdout == dockerd.run(*history, f"{name}-docker:1").stdout
    dockerd.run("load", input=yard.raw("save", f"{name}:1").stdout)
    assert _export(dockerd, f"{name}:1") == _export(dockerd, f"{name}-docker:1")


def test_same_image_as_docker_build(dockerd, yard: Dockyard, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    busybox_image(dockerd, tmp_path)
    ctx = write_context(tmp_path / "ctx", {
        "Dockerfile": DOCKERFILE, "src/a.txt": "a\n", "src/b.txt": "b\n", "top.txt": "top\n",
        "conf/x.conf": "x=1\n", "conf/y.conf": "y=2\n", "conf/z.txt": "not copied\n",
        "a.log": "log\n", "src/deep/b.log": "log\n", ".dockerignore": "**/*.log\nconf\n!conf/x.conf\n",
    })  # fmt: skip
    (ctx / "link").symlink_to("top.txt")
    _compare(dockerd, yard, ctx, "parity", "--build-arg", "GIVEN=flag")
    assert dockerd.run("run", "--rm", "--network", "none", "parity:1").stdout == "built\n"


METADATA_DOCKERFILE = f"""\
FROM {BASE}
ENV A="one two" B=three\\ four C=$A
LABEL "with space"="v 1" multi=a\\
b
ADD files.tar.gz /unpacked/
ADD --chown=nobody plain.txt /plain/
SHELL ["/bin/sh", "-xc"]
RUN echo $A > /a
USER nobody
WORKDIR /srv/owned/by/nobody
USER root
WORKDIR /srv/owned
HEALTHCHECK --interval=30s --timeout=5s --start-period=1m30s --retries=4 CMD ["true"]
STOPSIGNAL SIGUSR1
ONBUILD COPY . /onbuild/
MAINTAINER someone
ENTRYPOINT exec echo entry
CMD echo cmd
"""
EXTRA_KEYS = ("Healthcheck", "StopSignal", "OnBuild", "Shell", "ArgsEscaped")


def test_metadata_instructions_as_docker_build(dockerd, yard: Dockyard, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    busybox_image(dockerd, tmp_path)
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": METADATA_DOCKERFILE, "plain.txt": "plain\n"})
    with tarfile.open(ctx / "files.tar.gz", "w:gz") as tar:
        for name, data in (("top/one", b"1\n"), ("top/two", b"22\n")):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.uid = len(data), 1700000000, 1000
            tar.addfile(info, io.BytesIO(data))
    _compare(dockerd, yard, ctx, "metadata")
