"""commit and diff: the writable layer becomes an image layer Docker reads back identically."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

from tests.conftest import Dockyard
from tests.containers.conftest import inspect, wait_until

# adds, changes and deletes files, and replaces /usr by a fresh directory (overlay makes it opaque)
CHANGES = (
    "mkdir -p /a/b && echo new > /a/b/f && rm /bin/ls && echo changed >> /etc/passwd && "
    "rm -rf /usr && mkdir /usr && echo only > /usr/only"
)
EXPECTED_DIFF = [
    "A /a", "A /a/b", "A /a/b/f", "C /bin", "D /bin/ls", "C /etc", "C /etc/passwd", "C /usr", "D /usr/bin",
    "A /usr/only",
]


def _layer_names(d: Dockyard, image: str) -> tuple[dict, list[list[str]]]:  # type: ignore[type-arg]
    """The config and each layer's member names from ``save``."""
    archive = tarfile.open(fileobj=io.BytesIO(d.raw("save", image).stdout))
    manifest = json.load(archive.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
    config = json.load(archive.extractfile(manifest["Config"]))  # type: ignore[arg-type]
    layers = []
    for name in manifest["Layers"]:
        layer = tarfile.open(fileobj=archive.extractfile(name))
        layers.append(layer.getnames())
    return config, layers


def test_commit_added_changed_deleted_and_opaque(dy: Dockyard, dockerd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dy("run", "--name", "work", "bb", "sh", "-c", CHANGES)
    assert dy("diff", "work").stdout.splitlines() == EXPECTED_DIFF
    out = dy("commit", "-m", "my change", "-a", "Me <me@example.com>", "-c", "ENV A=1", "-c", 'CMD ["cat", "/a/b/f"]',
             "work", "committed:v1").stdout
    image_id = out.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71

    # the new image runs with the changes and the -c settings
    assert dy("run", "--rm", "committed:v1").stdout == "new\n"
    check = "ls /bin/ls 2>&1; tail -1 /etc/passwd; ls /usr; echo A=$A"
    seen = dy("run", "--rm", "committed:v1", "sh", "-c", check).stdout
    assert seen == "ls: /bin/ls: No such file or directory\nchanged\nonly\nA=1\n"

    # the layer carries OCI whiteouts; runc's mount points (/proc, /etc/hostname...) are not in it
    config, layers = _layer_names(dy, "committed:v1")
    top = layers[-1]
    assert "bin/.wh.ls" in top and "usr/.wh..wh..opq" in top and "usr/only" in top
    assert not {"proc", "sys", "dev", "etc/hostname", "etc/hosts", "etc/resolv.conf"} & set(top)
    history = config["history"][-1]
    assert history["author"] == "Me <me@example.com>" and history["comment"] == "my change"
    assert history["created_by"] == "sh -c " + CHANGES and "empty_layer" not in history
    assert config["author"] == "Me <me@example.com>" and config["container"] == inspect(dy, "work")["Id"]
    assert config["config"]["Cmd"] == ["cat", "/a/b/f"] and "A=1" in config["config"]["Env"]
    assert inspect(dy, "committed:v1")["Parent"] == inspect(dy, "bb")["Id"]

    # Docker loads it under the same image ID and layer diff IDs, and runs it the same way
    archive = tmp_path / "committed.tar"
    archive.write_bytes(dy.raw("save", "committed:v1").stdout)
    dockerd.run("load", "-i", str(archive))
    theirs = dockerd.inspect("committed:v1")
    ours = inspect(dy, "committed:v1")
    assert theirs["Id"] == image_id and theirs["RootFS"]["Layers"] == ours["RootFS"]["Layers"]
    assert dockerd.run("run", "--rm", "committed:v1", "sh", "-c", check).stdout == seen
    dockerd.run("rmi", "committed:v1")

    # nothing changed: no layer, an empty_layer history entry (as Docker writes it)
    dy("create", "--name", "idle", "bb", "true")
    dy("commit", "idle", "same:1")
    config, layers = _layer_names(dy, "same:1")
    assert len(layers) == 1 and config["history"][-1]["empty_layer"] is True
    assert not os.listdir(dy.root / "tmp")


def test_commit_running_container_and_bad_input(dy: Dockyard) -> None:
    dy("run", "-d", "--name", "live", "bb", "sh", "-c", "echo hi > /hello; while true; do sleep 0.05; done")
    assert wait_until(lambda: "A /hello" in dy("diff", "live").stdout, timeout=60)
    image_id = dy("commit", "live").stdout.strip()
    assert inspect(dy, "live")["State"]["Status"] == "running"  # paused for the commit, running again
    assert dy("run", "--rm", image_id, "cat", "/hello").stdout == "hi\n"
    assert dy("commit", "--pause=false", "live", "nopause").stdout.startswith("sha256:")

    images_before = dy("images", "-q").stdout
    r = dy("commit", "-c", "BOGUS x", "live", check=False)
    assert r.returncode == 1 and "BOGUS is not a valid change command" in r.stderr
    r = dy("commit", "nosuch", check=False)
    assert r.returncode == 1 and r.stderr == "Error response from daemon: No such container: nosuch\n"
    r = dy("commit", "live", "Bad:Name", check=False)
    assert r.returncode != 0 and "invalid reference format" in r.stderr
    assert dy("images", "-q").stdout == images_before
    assert not os.listdir(dy.root / "tmp")


def test_diff_commit_on_vfs(tmp_path: Path, busybox_tar: Path) -> None:
    """vfs keeps full copies: the change set is a comparison with the image, committed the same way."""
    d = Dockyard(tmp_path / "vfs-root", "vfs")
    d("import", str(busybox_tar), "bb")
    try:
        d("run", "--name", "work", "bb", "sh", "-c", CHANGES)
        assert d("diff", "work").stdout.splitlines() == EXPECTED_DIFF
        d("commit", "work", "committed:vfs")
        check = "ls /bin/ls 2>&1; tail -1 /etc/passwd; ls /usr; cat /a/b/f"
        assert d("run", "--rm", "committed:vfs", "sh", "-c", check).stdout == (
            "ls: /bin/ls: No such file or directory\nchanged\nonly\nnew\n"
        )
        _, layers = _layer_names(d, "committed:vfs")
        assert "bin/.wh.ls" in layers[-1] and "usr/.wh.bin" in layers[-1] and "proc" not in layers[-1]
    finally:
        d("rm", "-f", "work", check=False)


def test_commit_killed_while_container_frozen_thaws_it(dy: Dockyard, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    dy("run", "-d", "--name", "live", "bb", "sh", "-c", "while true; do sleep 0.05; done")
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(512 << 20)  # sparse: cheap to make, slow enough to commit that the freeze can be caught
    dy("cp", str(big), "live:/big")
    big.unlink()
    cid = inspect(dy, "live")["Id"]

    def runc_status() -> str:
        out = subprocess.run(["runc", "--root", str(dy.root / "runc"), "state", cid], capture_output=True, text=True).stdout
        return str(json.loads(out)["status"]) if out else ""

    proc = subprocess.Popen([sys.executable, "-m", "dockyard", "--root", str(dy.root), "commit", "live"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_until(lambda: runc_status() == "paused", timeout=60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # the guard thaws it; no image appears
    assert wait_until(lambda: runc_status() == "running", timeout=60)
    assert inspect(dy, "live")["State"]["Status"] == "running"
    assert len(dy("images", "-q").stdout.split()) == 1
    # the killed command's spool file goes with the next command that finds the store idle
    dy("rm", "-f", "live")
    dy("ps", "-a")
    assert os.listdir(dy.root / "tmp") == []
