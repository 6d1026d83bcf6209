"""``dockyard build`` on busybox: every instruction, checked by running the result; cache; bad input."""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from pathlib import Path

import pytest

from tests.build.conftest import BASE, write_context
from tests.conftest import Dockyard

EVERYTHING = f"""\
# syntax=docker/dockerfile:1
ARG BASE={BASE}
FROM $BASE AS tools
ARG GREETING=hello
ENV TOOL_HOME=/opt/tool NAME="a b"
RUN mkdir -p $TOOL_HOME && echo "$GREETING from $NAME" > $TOOL_HOME/greeting
RUN ["/bin/sh", "-c", "echo exec form > /opt/tool/exec"]
COPY <<EOT /opt/tool/inline.txt
inline $TOOL_HOME
EOT
RUN <<EOT
echo heredoc-run > /opt/tool/heredoc
EOT

FROM scratch AS unused
COPY never-there /x

FROM $BASE
LABEL org.example.title="every instruction" version=1
WORKDIR /app
COPY --from=tools /opt/tool/ /app/tool/
COPY *.txt ./
COPY --chown=nobody:nobody --chmod=600 secret.conf /etc/secret.conf
COPY dir /app/dir/
ADD files.tar /app/unpacked/
SHELL ["/bin/sh", "-ec"]
RUN test -f /app/tool/greeting && echo ok > /app/shell-ok
USER nobody
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=3 CMD true
ONBUILD RUN echo triggered > /tmp/triggered
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/tool/greeting"]
"""


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1700000000, 0o640
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def everything(yard: Dockyard, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    ctx = write_context(tmp_path_factory.mktemp("ctx"), {
        "Dockerfile": EVERYTHING, "a.txt": "A\n", "b.txt": "B\n", "ignored.txt": "no\n", "secret.conf": "s=1\n",
        "dir/sub/f": "deep\n", "dir/skip.log": "log\n", "files.tar": _tar({"u/one": b"1\n"}),
        ".dockerignore": "ignored.txt\n**/*.log\n",
    })  # fmt: skip
    iid = tmp_path_factory.mktemp("iid") / "iid"
    out = yard("build", "--progress=plain", "-t", "every:1", "-t", "every:also", "--iidfile", str(iid),
               "--build-arg", "GREETING=hi", "--label", "extra=yes", str(ctx))
    assert yard("image", "inspect", "--format", "{{.Id}}", "every:also").stdout.strip() == iid.read_text()
    assert "#" in out.stderr and "DONE" in out.stderr
    return ctx, out.stderr


def _run(yard: Dockyard, image: str, script: str) -> str:
    return yard("run", "--rm", "--entrypoint", "/bin/sh", "--user", "root", image, "-c", script).stdout


def test_every_instruction(yard: Dockyard, everything: tuple[Path, str]) -> None:
    _, log = everything
    assert "never-there" not in log  # the unused stage is skipped
    files = _run(yard, "every:1", "cat /app/tool/greeting /app/tool/exec /app/tool/inline.txt /app/tool/heredoc "
                 "/app/a.txt /app/b.txt /app/dir/sub/f /app/unpacked/u/one /app/shell-ok; ls /app; ls /app/dir; "
                 "stat -c '%U %a' /etc/secret.conf")
    assert files.split("\n")[:9] == ["hi from a b", "exec form", "inline /opt/tool", "heredoc-run", "A", "B", "deep", "1", "ok"]
    assert "ignored.txt" not in files and "skip.log" not in files
    assert files.strip().endswith("nobody 600")
    config = json.loads(yard("image", "inspect", "every:1").stdout)[0]["Config"]
    assert config["User"] == "nobody" and config["WorkingDir"] == "/app"
    assert config["ExposedPorts"] == {"53/udp": {}, "8080/tcp": {}} and config["Volumes"] == {"/data": {}}
    assert config["Entrypoint"] == ["/bin/sh", "-c"] and config["Cmd"] == ["cat /app/tool/greeting"]
    assert config["Labels"] == {"org.example.title": "every instruction", "version": "1", "extra": "yes"}
    assert config["StopSignal"] == "SIGINT" and config["Shell"] == ["/bin/sh", "-ec"]
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5000000000, "Retries": 3}
    assert config["OnBuild"] == ["RUN echo triggered > /tmp/triggered"]
    assert "TOOL_HOME=/opt/tool" not in config["Env"]  # ENV of another stage does not leak
    assert yard("run", "--rm", "every:1").stdout == "hi from a b\n"
    history = yard("history", "--no-trunc", "--format", "{{.CreatedBy}}", "every:1").stdout.splitlines()
    assert history[0] == 'CMD ["cat /app/tool/greeting"]'
    assert "RUN /bin/sh -ec test -f /app/tool/greeting && echo ok > /app/shell-ok # buildkit" in history
    assert "EXPOSE map[53/udp:{} 8080/tcp:{}]" in history and "WORKDIR /app" in history


def test_onbuild_triggers_run_in_child(yard: Dockyard, everything: tuple[Path, str], tmp_path: Path) -> None:
    ctx = write_context(tmp_path, {"Dockerfile": "FROM every:1\nUSER root\n"})
    yard("build", "-q", "-t", "child:1", str(ctx))
    assert _run(yard, "child:1", "cat /tmp/triggered") == "triggered\n"
    config = json.loads(yard("image", "inspect", "child:1").stdout)[0]["Config"]
    assert not config.get("OnBuild")


def test_cache_hits_and_source_change(yard: Dockyard, tmp_path: Path) -> None:
    dockerfile = f"FROM {BASE}\nRUN echo one > /one\nCOPY early.txt /\nRUN echo two > /two\nCOPY late.txt /\nRUN cat /late.txt\n"
    ctx = write_context(tmp_path, {"Dockerfile": dockerfile, "early.txt": "e\n", "late.txt": "l\n"})
    first = yard("build", "--progress=plain", "--iidfile", str(tmp_path / "id1"), str(ctx)).stderr
    assert "CACHED" not in first
    again = yard("build", "--progress=plain", "--iidfile", str(tmp_path / "id2"), str(ctx)).stderr
    assert again.count("CACHED") == 5
    assert (tmp_path / "id1").read_text() == (tmp_path / "id2").read_text()
    (ctx / "late.txt").write_text("changed\n")
    changed = yard("build", "--progress=plain", str(ctx)).stderr
    assert changed.count("CACHED") == 3 and "changed" in changed
    no_cache = yard("build", "--progress=plain", "--no-cache", str(ctx)).stderr
    assert "CACHED" not in no_cache


def test_reproducible_builds(yard: Dockyard, tmp_path: Path) -> None:
    """Same inputs, other file times and another moment: with SOURCE_DATE_EPOCH the same image and layers."""
    dockerfile = f"FROM {BASE}\nCOPY f /f\nRUN date > /now; touch /t; rm /now\nENV X=1\n"
    seen = []
    for run in range(2):
        ctx = write_context(tmp_path / f"ctx{run}", {"Dockerfile": dockerfile, "f": "same\n"})
        os.utime(ctx / "f", (1800000000 + run * 1000, 1800000000 + run * 1000))
        image = yard("build", "-q", "--no-cache", str(ctx), env={"SOURCE_DATE_EPOCH": "1700000000"}).stdout.strip()
        layers = yard("image", "inspect", "--format", "{{json .RootFS.Layers}}", image).stdout
        created = yard("image", "inspect", "--format", "{{.Created}}", image).stdout
        seen.append((image, layers, created))
    assert seen[0] == seen[1] and seen[0][2].startswith("2023-11-14T22:13:20")
    plain = yard("build", "-q", "--no-cache", str(tmp_path / "ctx1")).stdout.strip()
    assert plain != seen[0][0]


@pytest.mark.parametrize(("dockerfile", "files", "message"), [
    ("FROM {base}\nFOO bar\n", {}, "Dockerfile:2: dockerfile parse error line 2: unknown instruction: FOO"),
    ("FROM {base}\nRUN echo out; exit 3\n", {}, "executor failed running [/bin/sh -c echo out; exit 3]: exit code: 3"),
    ("FROM {base}\nCOPY missing.txt /\n", {}, 'failed to compute cache key: "/missing.txt" not found: not found'),
    ("FROM {base}\nCOPY ../outside /\n", {}, "forbidden path outside the build context: ../outside"),
    ("FROM {base}\nENV A\n", {}, "Dockerfile:2: dockerfile parse error line 2: ENV must have two arguments"),
    ("FROM {base}\nCOPY ignored /\n", {"ignored": "x", ".dockerignore": "ignored"}, '"/ignored" not found'),
    ('FROM {base}\nRUN ["nosuch"]\n', {}, 'executor failed running [nosuch]: runc run failed: unable to start container process: exec: "nosuch"'),
    ("FROM {base}\nUSER ghost\nRUN true\n", {}, "unable to find user ghost: no matching entries in passwd file"),
    ("FROM {base}\nCOPY --from=nostage /a /b\n", {}, "failed to solve with frontend dockerfile.v0: failed to create LLB definition:"),
])  # fmt: skip
def test_bad_input(yard: Dockyard, tmp_path: Path, dockerfile: str, files: dict[str, str], message: str) -> None:
    ctx = write_context(tmp_path, {"Dockerfile": dockerfile.format(base=BASE), **files})
    out = yard("build", "--progress=plain", "-t", "broken:1", str(ctx), check=False)
    assert out.returncode == 1, out.stderr
    assert message in out.stderr.splitlines()[-1]
    assert yard("image", "inspect", "broken:1", check=False).returncode == 1  # nothing tagged
    if "nostage" in dockerfile:
        assert " > [internal] load metadata for docker.io/library/nostage:latest:" in out.stderr
    if "exit 3" in dockerfile:
        assert " > [2/2] RUN echo out; exit 3:" in out.stderr and "\nout\n" in out.stderr


def test_unknown_target_and_stdin_forms(yard: Dockyard, tmp_path: Path) -> None:
    ctx = write_context(tmp_path, {"Dockerfile": f"FROM {BASE} AS a\nRUN touch /a\nFROM a\n", "x": "x\n"})
    out = yard("build", "--target", "nope", str(ctx), check=False)
    assert out.returncode == 1 and "failed to reach build target nope in Dockerfile" in out.stderr
    yard("build", "-q", "--target", "a", "-t", "only-a:1", str(ctx))
    piped = yard("build", "-q", "-f", "-", str(ctx), input=f"FROM {BASE}\nCOPY x /x\n".encode())
    assert _run(yard, piped.stdout.strip(), "cat /x") == "x\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(ctx / "x", "x")
        tar.add(ctx / "Dockerfile", "Dockerfile")
    tarred = yard("build", "-q", "-", input=buf.getvalue())
    assert tarred.stdout.startswith("sha256:")
    bare = yard("build", "-q", "-", input=f"FROM {BASE}\nRUN echo no context\n".encode())
    assert bare.stdout.startswith("sha256:")


def test_from_image_proxies_platform_args_and_image_build(yard: Dockyard, tmp_path: Path) -> None:
    dockerfile = (
        f"FROM --platform=$BUILDPLATFORM {BASE}\n"
        "ARG TARGETARCH\n"
        f"COPY --from={BASE} /etc/passwd /copied-passwd\n"
        "RUN echo \"$HTTP_PROXY $TARGETARCH\" > /seen\n"
    )
    ctx = write_context(tmp_path, {"Dockerfile": dockerfile})
    image = yard("image", "build", "-q", "--build-arg", "HTTP_PROXY=http://proxy:3128", str(ctx)).stdout.strip()
    seen = _run(yard, image, "cat /seen; head -1 /copied-passwd").splitlines()
    assert seen[0].startswith("http://proxy:3128 ") and seen[0].split()[1] in ("amd64", "arm64", "arm", "ppc64le", "s390x")
    assert seen[1].startswith("root:")
    history = yard("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    assert "proxy" not in history  # proxy args stay out of the image, as in Docker


def test_failed_build_keeps_the_cache(yard: Dockyard, tmp_path: Path) -> None:
    ctx = write_context(tmp_path, {"Dockerfile": f"FROM {BASE}\nRUN echo kept > /k\nRUN exit 1\n"})
    assert yard("build", "-q", str(ctx), check=False).returncode == 1
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo kept > /k\nRUN true\n")
    assert yard("build", "--progress=plain", str(ctx)).stderr.count("CACHED") == 1


def test_builder_prune_releases_the_cache(yard: Dockyard, tmp_path: Path) -> None:
    ctx = write_context(tmp_path, {"Dockerfile": f"FROM {BASE}\nRUN head -c 100000 /dev/zero > /big\n"})
    image = yard("build", "-q", str(ctx)).stdout.strip()
    yard("rmi", image)
    out = yard("builder", "prune", "-f").stdout
    assert out.startswith("Deleted build cache objects:\n")
    assert re.search(r"Total reclaimed space: 10\d(\.\d+)?kB\n$", out)  # the 100 kB layer (and small ones of other tests)
    assert yard("build", "--progress=plain", str(ctx)).stderr.count("CACHED") == 0


def test_arg_and_expose_details(yard: Dockyard, tmp_path: Path) -> None:
    dockerfile = (
        "ARG UNSET_META\n"
        f"FROM ${{UNSET_META-{BASE}}}\n"
        "ARG NOVALUE\n"
        "EXPOSE 8000-8002 9000/udp\n"
        'RUN ["/bin/sh", "-c", "env | grep -c NOVALUE > /count || true"]\n'
    )
    ctx = write_context(tmp_path, {"Dockerfile": dockerfile})
    image = yard("build", "-q", str(ctx)).stdout.strip()
    assert _run(yard, image, "cat /count") == "0\n"  # a declared ARG without a value is not in RUN's environment
    ports = json.loads(yard("image", "inspect", "--format", "{{json .Config.ExposedPorts}}", image).stdout)
    assert sorted(ports) == ["8000/tcp", "8001/tcp", "8002/tcp", "9000/udp"]
    history = yard("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    assert 'RUN |1 NOVALUE= /bin/sh -c env | grep -c NOVALUE > /count || true # buildkit' in history


def test_tty_progress(yard: Dockyard, tmp_path: Path) -> None:
    ctx = write_context(tmp_path, {"Dockerfile": f"FROM {BASE}\nRUN echo tty > /t\n"})
    yard("build", "-q", str(ctx))
    out = yard("build", "--progress=tty", "-t", "tty:1", str(ctx)).stderr
    assert "\x1b[2K[+] Building" in out and "FINISHED" in out
    assert " => CACHED [2/2] RUN echo tty > /t" in out and " => => naming to docker.io/library/tty:1" in out
    bad = yard("build", "--progress=tty", str(write_context(tmp_path / "bad", {"Dockerfile": f"FROM {BASE}\nRUN exit 2\n"})), check=False)
    assert bad.returncode == 1 and " => ERROR [2/2] RUN exit 2" in bad.stderr
    assert bad.stderr.endswith("executor failed running [/bin/sh -c exit 2]: exit code: 2\n")
