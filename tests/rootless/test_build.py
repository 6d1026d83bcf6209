"""Builds of an unprivileged user: RUN steps in runc in the user's namespace; ``registry serve`` as the user."""

from __future__ import annotations

import subprocess
import urllib.request

import pytest

from tests.helpers.rootless import RootlessUser
from tests.helpers.rootless_images import allow_tun, import_busybox

DOCKERFILE = """\
FROM bb AS build
RUN mkdir /out && echo built > /out/artifact && id -u > /out/who && chown 1000:1000 /out/artifact
RUN echo "owner $(stat -c %u:%g /out/artifact)"
FROM bb
COPY --from=build /out/ /app/
RUN cat /app/artifact /app/who
"""


@pytest.fixture
def user(rootless_user: RootlessUser) -> RootlessUser:
    allow_tun()
    import_busybox(rootless_user)
    return rootless_user


def test_two_stage_dockerfile_builds_as_the_user(user: RootlessUser) -> None:
    context = user.work / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE)
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", str(context)], check=True)
    built = user.run(["build", "-t", "twostage", str(context)], check=True)
    assert "owner 1000:1000" in built.stderr + built.stdout  # a subordinate ID kept from one step to the next
    out = user.run(["run", "--rm", "twostage", "sh", "-c", "cat /app/artifact /app/who; stat -c %u:%g /app/artifact"],
                   check=True).stdout
    assert out == "built\n0\n0:0\n"  # COPY makes root the owner, as Docker's
    history = user.run(["history", "-q", "twostage"], check=True).stdout.split()
    assert len(history) >= 3


def test_registry_serve_as_the_user_on_an_unprivileged_port(user: RootlessUser) -> None:
    server = user.popen(["registry", "serve", "--addr", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert server.stdout is not None
        line = server.stdout.readline().decode()
        assert line.startswith("dockyard registry listening on http://127.0.0.1:"), line
        address = line.split("http://")[1].strip()
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=10) as answer:
            assert answer.status == 200
        user.run(["tag", "bb", f"{address}/bb:1"], check=True)
        user.run(["push", f"{address}/bb:1"], check=True)
        user.run(["rmi", f"{address}/bb:1"], check=True)
        user.run(["pull", f"{address}/bb:1"], check=True)
        assert user.run(["run", "--rm", "--network", "none", f"{address}/bb:1", "echo", "pulled"], check=True).stdout == "pulled\n"
    finally:
        server.terminate()
        server.wait(timeout=10)
    refused = user.run(["registry", "serve", "--addr", "127.0.0.1:555"], timeout=30)
    assert refused.returncode != 0 and "permission denied" in refused.stderr.lower()
