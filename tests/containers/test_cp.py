"""cp both ways, export: Docker's path rules, and no way out of the container's root."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from tests.conftest import Dockyard
from tests.containers.conftest import wait_until


def _names(data: bytes) -> list[str]:
    return sorted(tarfile.open(fileobj=io.BytesIO(data)).getnames())


def test_cp_path_rules_both_ways_on_a_stopped_container(dy: Dockyard, tmp_path: Path) -> None:
    dy("create", "--name", "box", "bb", "true")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_text("deep\n")
    (src / "top").write_text("top\n")
    os.chown(src / "top", 1234, 1234)
    # host -> container: dir into an existing dir, a file to a new name, a dir's content with /., -a keeps owners
    dy("cp", str(src), "box:/tmp")
    dy("cp", str(src / "top"), "box:/renamed")
    dy("cp", f"{src}/.", "box:/etc")
    dy("cp", "-a", str(src / "top"), "box:/kept")
    out = tmp_path / "out"
    out.mkdir()
    # container -> host: a dir to a new name, a file into a dir, a symlink as a link (and followed with -L)
    dy("cp", "box:/tmp/src", str(out / "copy"))
    dy("cp", "box:/renamed", str(out))
    dy("cp", "box:/etc/sub/f", str(out / "f2"))
    dy("cp", "box:/bin/sh", str(out))
    dy("cp", "-L", "box:/bin/sh", str(out / "sh-followed"))
    assert (out / "copy" / "sub" / "f").read_text() == "deep\n" and (out / "copy" / "top").read_text() == "top\n"
    assert (out / "renamed").read_text() == "top\n" and (out / "f2").read_text() == "deep\n"
    assert os.readlink(out / "sh") == "busybox" and (out / "sh-followed").stat().st_size > 100_000
    # a relative destination is relative to the caller's directory; "/." copies the content into a new directory
    subprocess.run([sys.executable, "-m", "dockyard", "--root", str(dy.root), "cp", "box:/etc/sub/.", "rel"], cwd=out,
                   check=True)
    assert os.listdir(out / "rel") == ["f"]
    # owners: root in the container without -a; the host's uid with -a
    dy("cp", "-a", "box:/kept", str(out / "kept"))
    dy("cp", "box:/renamed", str(out / "renamed-again"))
    assert (os.stat(out / "kept").st_uid, os.stat(out / "renamed-again").st_uid) == (1234, 0)
    # the changes show in diff, and the image in the container was untouched for other paths
    diff = dy("diff", "box").stdout.splitlines()
    assert {"A /tmp/src", "A /tmp/src/top", "A /renamed", "A /etc/top", "A /etc/sub/f"} <= set(diff)

    # tar on stdout and stdin
    assert _names(dy.raw("cp", "box:/etc/sub", "-").stdout) == ["sub", "sub/f"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("from-stdin")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"in\n"))
    assert dy.raw("cp", "-", "box:/tmp", input=buf.getvalue()).returncode == 0
    dy("cp", "box:/tmp/from-stdin", str(out))
    assert (out / "from-stdin").read_text() == "in\n"


def test_cp_errors_as_docker_prints_them(dy: Dockyard, tmp_path: Path) -> None:
    dy("create", "--name", "box", "bb", "true")
    tmp_path = tmp_path / "host"
    tmp_path.mkdir()
    (tmp_path / "file").write_text("x")
    cases = [
        (("box:/nope", str(tmp_path)), "Error: No such container:path: box:/nope\n"),
        (("box:/etc/passwd", str(tmp_path / "missing" / "x")), f'invalid output path: directory "{tmp_path}/missing" does not exist\n'),
        (("box:/etc/passwd", str(tmp_path / "missing") + "/"), "no such directory\n"),
        (("box:/etc", str(tmp_path / "file")), "cannot copy directory\n"),
        ((str(tmp_path / "nope"), "box:/tmp"), f"lstat {tmp_path}/nope: no such file or directory\n"),
        ((str(tmp_path / "file"), "box:/nodir/x"), "Error: No such container:path: box:/nodir\n"),
        (("nosuch:/x", str(tmp_path)), "Error: No such container:path: nosuch:/x\n"),
        ((str(tmp_path / "file"), str(tmp_path / "y")), "must specify at least one container source\n"),
    ]
    for args, message in cases:
        r = dy("cp", *args, check=False)
        assert (r.returncode, r.stderr) == (1, message), args
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_cp_cannot_reach_host_files_through_symlinks(dy: Dockyard, tmp_path: Path) -> None:
    marker = f"dockyard-escape-{os.getpid()}"
    dy("run", "--name", "evil", "bb", "sh", "-c",
       "echo container-passwd > /etc/passwd; ln -s /etc /abs; ln -s ../../../../../../etc /rel; ln -s /etc/passwd /pw")
    out = tmp_path / "out"
    out.mkdir()
    # reading through links gets the container's files
    for src in ("evil:/abs/passwd", "evil:/rel/passwd", "evil:/../../../../etc/passwd"):
        dy("cp", src, str(out / "p"))
        assert (out / "p").read_text() == "container-passwd\n"
    dy("cp", "-L", "evil:/pw", str(out / "p2"))
    assert (out / "p2").read_text() == "container-passwd\n"
    # writing through links lands in the container's /etc, never the host's
    (tmp_path / marker).write_text("planted\n")
    for dest in ("evil:/abs/", "evil:/rel/", "evil:/../../../../etc/"):
        dy("cp", str(tmp_path / marker), dest)
    assert not os.path.exists(f"/etc/{marker}")
    assert f"A /etc/{marker}" in dy("diff", "evil").stdout.splitlines()


def test_cp_into_a_running_container_and_export(dy: Dockyard, tmp_path: Path) -> None:
    script = "rm /bin/cat.x 2>/dev/null; rm /bin/id; mkdir /made; while [ ! -f /tmp/go ]; do sleep 0.05; done; echo got $(/bin/cat /tmp/go)"
    dy("run", "-d", "--name", "live", "bb", "sh", "-c", script)
    assert wait_until(lambda: "A /made" in dy("diff", "live").stdout, timeout=60)
    running = dy.raw("export", "live").stdout
    (tmp_path / "go").write_text("signal")
    dy("cp", str(tmp_path / "go"), "live:/tmp/go")
    assert wait_until(lambda: dy("logs", "live").stdout == "got signal\n", timeout=60)
    assert wait_until(lambda: dy("inspect", "-f", "{{.State.Status}}", "live").stdout.strip() == "exited", timeout=60)
    # a stopped container exports the same tree (plus the file cp added), mounted only for the export
    dy("export", "-o", str(tmp_path / "stopped.tar"), "live")
    names = _names(running)
    assert "made" in names and "bin/id" not in names and "bin/sh" in names
    assert _names((tmp_path / "stopped.tar").read_bytes()) == sorted(names + ["tmp/go"])
    for name in ("bin/busybox", "etc/passwd"):
        ours = tarfile.open(tmp_path / "stopped.tar").extractfile(name).read()  # type: ignore[union-attr]
        assert ours == tarfile.open(fileobj=io.BytesIO(running)).extractfile(name).read()  # type: ignore[union-attr]
    with open("/proc/mounts") as f:
        assert str(dy.root) not in f.read()
    r = dy("export", "nosuch", check=False)
    assert (r.returncode, r.stderr) == (1, "Error response from daemon: No such container: nosuch\n")


def test_cp_reaches_volumes_of_a_stopped_container(dy: Dockyard, tmp_path: Path) -> None:
    dy("create", "--name", "withvol", "-v", "data:/data", "bb", "true")
    (tmp_path / "f").write_text("into the volume\n")
    dy("cp", str(tmp_path / "f"), "withvol:/data/")
    assert (dy.root / "volumes" / "data" / "_data" / "f").read_text() == "into the volume\n"
    dy("cp", "withvol:/data/f", str(tmp_path / "back"))
    assert (tmp_path / "back").read_text() == "into the volume\n"
    assert dy("diff", "withvol").stdout == "A /data\n"  # the mount point, as Docker makes it; the file is in the volume


def test_export_killed_midway_leaves_no_mount_or_process(dy: Dockyard) -> None:
    import signal

    from tests.containers.conftest import processes_under

    dy("create", "--name", "stopped", "bb", "true")
    # nobody reads the pipe: the export blocks with the union mounted in its helper's namespace
    proc = subprocess.Popen([sys.executable, "-m", "dockyard", "--root", str(dy.root), "export", "stopped"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    assert proc.stdout.read(512)  # it is writing
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert wait_until(lambda: not processes_under(dy.root), timeout=60)  # the helper died with it
    with open("/proc/mounts") as f:
        assert str(dy.root) not in f.read()
    assert dy("start", "stopped").returncode == 0 and dy("diff", "stopped").stdout == ""
