"""ADD of a URL, RUN mounts and networks, --cache-from, stages built in parallel, --pull of a missing base."""

from __future__ import annotations

import http.server
import io
import os
import re
import tarfile
import threading
from pathlib import Path
from typing import Iterator

import pytest

from tests.build.conftest import BASE, write_context
from tests.conftest import Dockyard


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "file.txt").write_text("from the web\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(tmp_path / "www"), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _sh(yard: Dockyard, image: str, script: str) -> str:
    return yard("run", "--rm", "--entrypoint", "/bin/sh", image, "-c", script).stdout


def test_add_url(yard: Dockyard, tmp_path: Path, web: str) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM {BASE}\nADD {web}/file.txt /dl/\n"})
    yard("build", "-q", "-t", "added:1", str(ctx))
    assert _sh(yard, "added:1", "cat /dl/file.txt; stat -c %a /dl/file.txt") == "from the web\n600\n"


def test_remote_contexts(yard: Dockyard, tmp_path: Path, web: str) -> None:
    www = tmp_path / "www"
    (www / "Dockerfile.plain").write_text(f"FROM {BASE}\nRUN echo remote > /r\n")
    with tarfile.open(www / "ctx.tar.gz", "w:gz") as tar:
        for name, data in (("Dockerfile", f"FROM {BASE}\nCOPY hello /hello\n".encode()), ("hello", b"hi\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    plain = yard("build", "-q", f"{web}/Dockerfile.plain").stdout.strip()
    assert _sh(yard, plain, "cat /r") == "remote\n"
    tarred = yard("build", "-q", f"{web}/ctx.tar.gz").stdout.strip()
    assert _sh(yard, tarred, "cat /hello") == "hi\n"
    missing = yard("build", f"{web}/nothing.tar", check=False)
    assert missing.returncode == 1 and "404" in missing.stderr


def test_run_mounts_and_network_none(yard: Dockyard, tmp_path: Path) -> None:
    dockerfile = (
        f"FROM {BASE}\n"
        "RUN --mount=type=cache,target=/cache echo x >> /cache/runs && wc -l < /cache/runs > /count\n"
        "RUN --mount=type=bind,source=conf,target=/mnt cat /mnt/app.conf > /copied\n"
        "RUN --network=none cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' ' > /ifaces\n"
        "RUN --mount=type=bind,from=tools,source=/made,target=/tools,rw echo scribble > /tools/x && cat /tools/x /tools/made > /from-stage\n"
        "RUN --mount=type=tmpfs,target=/scratch touch /scratch/t && ls /scratch > /tmpfs\n"
    )
    dockerfile = f"FROM {BASE} AS tools\nRUN mkdir /made && echo made > /made/made\n" + dockerfile.replace(f"FROM {BASE}\n", f"FROM {BASE}\n", 1)
    ctx = write_context(tmp_path, {"Dockerfile": dockerfile, "conf/app.conf": "k=v\n"})
    yard("build", "-q", "--rm", "--force-rm", "-t", "mounts:1", str(ctx))
    yard("build", "-q", "--no-cache", "-t", "mounts:2", str(ctx))
    assert _sh(yard, "mounts:1", "cat /count /copied /ifaces; test -e /cache || test -e /mnt || echo clean") == "1\nk=v\nlo\nclean\n"
    assert _sh(yard, "mounts:1", "cat /from-stage /tmpfs; test -e /tools || test -e /scratch || echo clean") == "scribble\nmade\nt\nclean\n"
    assert _sh(yard, "mounts:2", "cat /count") == "2\n"  # the cache mount outlives the build


def test_cache_from_another_store(yard: Dockyard, busybox_tar: Path, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM {BASE}\nRUN echo slow > /s\nCOPY f /f\n", "f": "f\n"})
    yard("build", "-q", "-t", "source:1", str(ctx))
    other = Dockyard(tmp_path / "other")
    other("load", input=yard.raw("save", BASE, "source:1").stdout)
    out = other("build", "--progress=plain", "--cache-from", "source:1", str(ctx)).stderr
    assert out.count("CACHED") == 1  # the RUN layer is reused; a COPY's checksum is not in history: it runs
    assert "#2 CACHED" in out


def test_independent_stages_run_in_parallel(yard: Dockyard, tmp_path: Path) -> None:
    dockerfile = (
        f"FROM {BASE} AS one\nRUN sleep 1 && echo 1 > /one\n"
        f"FROM {BASE} AS two\nRUN sleep 1 && echo 2 > /two\n"
        f"FROM {BASE}\nCOPY --from=one /one /\nCOPY --from=two /two /\n"
    )
    ctx = write_context(tmp_path, {"Dockerfile": dockerfile})
    out = yard("build", "--progress=plain", "-t", "par:1", str(ctx)).stderr
    events = re.findall(r"^#(\d+) (\[(?:one|two) 2/2\] RUN|DONE)", out, re.M)
    runs = {v for v, kind in events if kind != "DONE"}
    first_done = next(i for i, (v, kind) in enumerate(events) if kind == "DONE" and v in runs)
    assert len({v for v, kind in events[:first_done] if kind != "DONE"}) == 2  # both started before one finished
    assert _sh(yard, "par:1", "cat /one /two") == "1\n2\n"


def test_missing_base_is_pulled_and_fails_clearly(yard: Dockyard, tmp_path: Path) -> None:
    ctx = write_context(tmp_path, {"Dockerfile": "FROM 127.0.0.1:9/nothing/here:1\n"})
    out = yard("build", str(ctx), check=False)
    assert out.returncode == 1
    assert out.stderr.splitlines()[-1].startswith("failed to solve with frontend dockerfile.v0: failed to create LLB definition:")
    assert "127.0.0.1:9" in out.stderr


def test_base_pulled_when_missing_and_with_pull(yard: Dockyard, busybox_tar: Path, tmp_path: Path) -> None:
    from tests.registry_client.servers import REGISTRY, Distribution

    if not os.access(REGISTRY, os.X_OK):
        pytest.skip("docker-registry not installed")
    registry = Distribution(tmp_path / "registry")
    try:
        base = f"{registry.host}/base/busybox:1"
        yard("tag", BASE, base)
        yard("push", base)
        fresh = Dockyard(tmp_path / "fresh")
        ctx = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM {base}\nRUN cat /etc/passwd | head -1 > /first\n"})
        fresh("build", "-q", "-t", "pulled:1", str(ctx))  # not local: pulled from the registry first
        assert _sh(fresh, "pulled:1", "cat /first").startswith("root:")
        yard("build", "-q", "-t", base, str(write_context(tmp_path / "newer", {"Dockerfile": f"FROM {BASE}\nRUN echo v2 > /v\n"})))
        yard("push", base)
        out = fresh("build", "--progress=plain", "--pull", "-t", "pulled:2", str(ctx)).stderr
        assert "CACHED" not in out  # a newer base: every step runs again
        assert _sh(fresh, "pulled:2", "cat /v") == "v2\n"
    finally:
        registry.stop()


def test_network_flag_for_every_run(yard: Dockyard, tmp_path: Path) -> None:
    ctx = write_context(tmp_path, {"Dockerfile": f"FROM {BASE}\nRUN cat /proc/net/dev | tail -n +3 | wc -l > /n\n"})
    isolated = yard("build", "-q", "--network", "none", str(ctx)).stdout.strip()
    assert _sh(yard, isolated, "cat /n") == "1\n"  # loopback only
    hosts = write_context(tmp_path / "hosts", {"Dockerfile": f"FROM {BASE}\nRUN grep myhost /etc/hosts > /seen\n"})
    image = yard("build", "-q", "--add-host", "myhost:10.1.2.3", str(hosts)).stdout.strip()
    assert _sh(yard, image, "cat /seen") == "10.1.2.3\tmyhost\n"
    bad_host = yard("build", "--add-host", "myhost:nope", str(hosts), check=False)
    assert bad_host.returncode == 125 and 'invalid IP address in add-host: "nope"' in bad_host.stderr
    bad = yard("build", "--network", "bridge0", str(ctx), check=False)
    assert bad.returncode == 125 and "invalid choice" in bad.stderr


def test_build_on_vfs_store(busybox_tar: Path, tmp_path: Path) -> None:
    yard = Dockyard(tmp_path / "root", storage_driver="vfs")
    yard("import", "-c", 'CMD ["/bin/sh"]', str(busybox_tar), BASE)
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM {BASE}\nCOPY f /f\nRUN rm /bin/echo && cat /f > /g\n", "f": "vfs\n"})
    image = yard("build", "-q", str(ctx)).stdout.strip()
    assert _sh(yard, image, "cat /g; test -e /bin/echo || echo removed") == "vfs\nremoved\n"


def test_secrets_are_mounted_and_never_kept(yard: Dockyard, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cr3t")
    dockerfile = (
        f"FROM {BASE}\n"
        "RUN --mount=type=secret,id=token cat /run/secrets/token | wc -c > /length\n"
        "RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent\n"
    )
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": dockerfile})
    image = yard("build", "-q", "--secret", f"id=token,src={tmp_path / 'token'}", str(ctx)).stdout.strip()
    assert _sh(yard, image, "cat /length; test -e /run || echo gone").split() == ["6", "gone"]
    archive = yard.raw("save", image).stdout
    assert b"s3cr3t" not in archive
    required = write_context(tmp_path / "req", {"Dockerfile": f"FROM {BASE}\nRUN --mount=type=secret,id=x,required true\n"})
    out = yard("build", str(required), check=False)
    assert out.returncode == 1 and "secret x not found" in out.stderr


def test_output_to_a_directory_and_a_tar(yard: Dockyard, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM {BASE} AS build\nRUN mkdir /out && echo artefact > /out/a\n"
                                                         "FROM scratch\nCOPY --from=build /out /\n"})
    images_before = yard("images", "-q").stdout
    yard("build", "-o", str(tmp_path / "dir"), str(ctx))
    assert (tmp_path / "dir" / "a").read_text() == "artefact\n"
    yard("build", "--output", f"type=tar,dest={tmp_path / 'out.tar'}", str(ctx))
    with tarfile.open(tmp_path / "out.tar") as tar:
        assert tar.extractfile("a").read() == b"artefact\n"  # type: ignore[union-attr]
    piped = yard.raw("build", "-o", "-", str(ctx))
    with tarfile.open(fileobj=io.BytesIO(piped.stdout)) as tar:
        assert tar.getnames() == ["a"]
    assert yard("images", "-q").stdout == images_before  # no image stored
