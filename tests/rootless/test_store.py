"""The per-user store and the user namespace: where things land, who owns them, one pause process per user."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import tree_digest
from tests.helpers import images
from tests.helpers.rootless import BASE, RootlessUser
from tests.registry_client.conftest import docker_archive


def layer_files(store: Path, name: str) -> list[Path]:
    """Every copy of ``name`` (a path inside an image) in the store's layer directories."""
    return sorted(p for p in (store / "overlay2").glob(f"*/diff/{name}"))


def owned_layer_tar(path: Path) -> Path:
    return images.layer_tar(path, [
        images.directory("home"), images.directory("home/app", uid=1000, gid=1000),
        images.file("home/app/data", b"mine", uid=1000, gid=1000), images.file("etc/motd", b"hi"),
    ])  # fmt: skip


def test_images_as_a_user_makes_its_store_in_its_xdg_dir(rootless_user: RootlessUser) -> None:
    result = rootless_user.run(["images"], check=True)
    assert result.stdout.split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert (rootless_user.store / "dockyard.db").is_file()
    assert os.stat(rootless_user.store).st_uid == rootless_user.uid
    run_dir = rootless_user.run_dir
    assert os.stat(run_dir).st_uid == rootless_user.uid and os.stat(run_dir).st_mode & 0o777 == 0o700
    assert rootless_user.pause_pid() is not None


def test_a_file_owned_by_uid_1000_is_owned_by_its_subordinate_id_on_the_host(rootless_user: RootlessUser) -> None:
    owned_layer_tar(rootless_user.work / "owned.tar")
    os.chown(rootless_user.work / "owned.tar", rootless_user.uid, rootless_user.gid)
    rootless_user.run(["import", "owned.tar", "owned:1"], check=True)
    [data] = layer_files(rootless_user.store, "home/app/data")
    st = os.stat(data)
    assert (st.st_uid, st.st_gid) == (rootless_user.host_id(1000), rootless_user.host_id(1000))
    assert st.st_uid == rootless_user.subuid[0] + 999  # type: ignore[index]
    [motd] = layer_files(rootless_user.store, "etc/motd")
    assert os.stat(motd).st_uid == rootless_user.uid  # root in the image is the user on the host
    # and the user sees its image with the owners it gave: saved back, the tar says uid 1000
    saved = rootless_user.run(["save", "-o", "saved.tar", "owned:1"], check=True)
    assert saved.returncode == 0
    layers = images.docker_archive_layers(rootless_user.work / "saved.tar")
    [members] = layers.values()
    assert {m.name: m.uid for m in members}["home/app/data"] == 1000


def load_opaque_image(user: RootlessUser, *driver: str) -> None:
    """opq:1, busybox under a layer that makes /etc opaque (only /etc/only left) and deletes /bin/ls, then
    built on: a COPY --from reads its merged view through the driver's mount, another COPY writes through one."""
    layers = [images.layer_tar_bytes(images.busybox_rootfs_entries()), images.layer_tar_bytes([
        images.directory("etc"), images.opaque_whiteout("etc"), images.file("etc/only", b"x"), images.whiteout("bin/ls"),
    ])]  # fmt: skip
    docker_archive(user.work / "opq.tar", layers, "opq:1")
    ctx = user.work / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM opq:1\nCOPY --from=opq:1 /etc /seen\nCOPY Dockerfile /etc/copied\n")
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", str(user.work)], check=True)
    user.run([*driver, "load", "-i", "opq.tar"], check=True)
    user.run([*driver, "build", "-q", "-t", "built:1", "ctx"], check=True)
    user.run(["save", "-o", "built.tar", "built:1"], check=True)
    layers_out = list(images.docker_archive_layers(user.work / "built.tar").values())
    assert {"etc/.wh..wh..opq", "bin/.wh.ls"} <= {m.name for m in layers_out[1]}
    # the lower /etc is hidden (fuse-overlayfs marks every directory it makes opaque, as Podman's layers show)
    assert sorted(m.name for m in layers_out[2] if not m.isdir()) in (["seen/only"], ["seen/.wh..wh..opq", "seen/only"])
    assert [m.name for m in layers_out[3] if not m.isdir()] == ["etc/copied"]


def test_the_store_uses_native_overlay_with_userxattr(rootless_user: RootlessUser) -> None:
    load_opaque_image(rootless_user)
    info = rootless_user.run(["info"], check=True).stdout
    assert " Storage Driver: overlay2\n" in info and "  userxattr: true\n" in info
    assert "  rootless\n" in info
    assert (rootless_user.store / "storage-driver").read_text().strip() == "overlay2"
    # on disk: user.overlay.opaque where the namespace refuses trusted.*, a 0/0 whiteout owned by the user
    [only] = layer_files(rootless_user.store, "etc/only")
    assert os.getxattr(only.parent, "user.overlay.opaque") == b"y"
    [ls] = [p for p in layer_files(rootless_user.store, "bin/ls") if not os.path.islink(p)]
    st = os.lstat(ls)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0 and st.st_uid == rootless_user.uid


def test_a_second_command_joins_the_namespace_of_the_first(rootless_user: RootlessUser) -> None:
    rootless_user.run(["images"], check=True)
    first = rootless_user.pause_pid()
    rootless_user.run(["images"], check=True)
    assert rootless_user.pause_pid() == first
    assert pauses(rootless_user) == [first]


def test_two_first_commands_at_once_make_one_pause_process(rootless_user: RootlessUser) -> None:
    procs = [rootless_user.popen(["images"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    assert pauses(rootless_user) == [rootless_user.pause_pid()]


def pauses(user: RootlessUser) -> list[int]:
    """The pause processes started from this test's directory (the user may have others in other tests)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if (entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == user.uid
                    and Path(f"/proc/{entry}/cmdline").read_bytes().startswith(b"dockyard-pause\0")
                    and os.readlink(f"/proc/{entry}/cwd").startswith(str(user.dir))):  # fmt: skip
                found.append(int(entry))
        except OSError:
            pass
    return found


def test_without_a_subordinate_range_one_id_is_mapped_and_other_owners_are_refused(single_id_user: RootlessUser) -> None:
    user = single_id_user
    images.layer_tar(user.work / "root-only.tar", [images.file("etc/motd", b"hi")])
    owned_layer_tar(user.work / "owned.tar")
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", str(user.work)], check=True)
    user.run(["import", "root-only.tar", "plain:1"], check=True)
    [motd] = layer_files(user.store, "etc/motd")
    assert os.stat(motd).st_uid == user.uid
    result = user.run(["import", "owned.tar", "owned:1"])
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: cannot apply layer: home/app: file owned by uid 1000 needs a subordinate ID range in /etc/subuid for {user.name}\n"
    )
    assert "owned" not in user.run(["images"], check=True).stdout


def test_the_rootful_store_is_untouched_and_out_of_reach(rootless_user: RootlessUser, tmp_path: Path) -> None:
    root_store = tmp_path / "rootful"
    tar = images.busybox_rootfs_tar(tmp_path / "bb.tar")
    subprocess.run([sys.executable, "-m", "dockyard", "--root", str(root_store), "import", str(tar), "bb:1"], check=True, capture_output=True)
    before = tree_digest(root_store)
    os.chmod(tmp_path, 0o755)  # let the user try
    user_tar = images.busybox_rootfs_tar(rootless_user.work / "bb.tar")
    os.chown(user_tar, rootless_user.uid, rootless_user.gid)
    rootless_user.run(["import", "bb.tar", "mine:1"], check=True)
    assert "mine" in rootless_user.run(["images"], check=True).stdout
    denied = rootless_user.run(["--root", str(root_store), "images"])
    assert denied.returncode == 1 and denied.stderr.startswith("Error response from daemon: cannot use root")
    assert tree_digest(root_store) == before
    assert not (root_store / "overlay2" / "l").stat().st_uid == rootless_user.uid
    # the root side never sees the user's images either
    listed = subprocess.run([sys.executable, "-m", "dockyard", "--root", str(root_store), "images", "--format", "{{.Repository}}"],
                            check=True, capture_output=True, text=True)  # fmt: skip
    assert listed.stdout.split() == ["bb"]


def test_nothing_is_written_outside_the_users_dirs(rootless_user: RootlessUser) -> None:
    before = files_of(rootless_user)  # what other tools (Podman's lock in /dev/shm) left before
    tar = images.busybox_rootfs_tar(rootless_user.work / "bb.tar")
    os.chown(tar, rootless_user.uid, rootless_user.gid)
    rootless_user.run(["import", "bb.tar", "bb:1"], check=True)
    rootless_user.run(["save", "-o", "out.tar", "bb:1"], check=True)
    rootless_user.run(["rmi", "bb:1"], check=True)
    rootless_user.run(["load", "-i", "out.tar"], check=True)
    rootless_user.run(["info"], check=True)
    assert files_of(rootless_user) - before == set()


def files_of(user: RootlessUser) -> set[str]:
    """Files owned by the user or its subordinate ids in the places a program could write, but the tests' own."""
    first, count = user.subuid  # type: ignore[misc]
    ids = ["(", "-uid", str(user.uid), "-o", "(", "-uid", f"+{first - 1}", "-uid", f"-{first + count}", ")", ")"]
    found = subprocess.run(["find", "/tmp", "/var/tmp", "/run", "/dev/shm", "/var/lib", "/etc", "-xdev", "-path", str(BASE), "-prune",
                            "-o", *ids, "-print"], capture_output=True, text=True)  # fmt: skip
    return set(found.stdout.split())


def test_a_killed_command_leaves_the_store_usable(rootless_user: RootlessUser) -> None:
    tar = images.busybox_rootfs_tar(rootless_user.work / "bb.tar")
    os.chown(tar, rootless_user.uid, rootless_user.gid)
    rootless_user.run(["import", "bb.tar", "bb:1"], check=True)
    rootless_user.run(["save", "-o", "bb-saved.tar", "bb:1"], check=True)
    rootless_user.run(["rmi", "bb:1"], check=True)
    pause = rootless_user.pause_pid()
    for delay in (0.05, 0.3, 0.6):
        proc = rootless_user.popen(["load", "-i", "bb-saved.tar"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        for pid in rootless_user.processes():
            if pid != pause:
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)
    rootless_user.run(["load", "-i", "bb-saved.tar"], check=True)
    assert rootless_user.pause_pid() == pause
    assert "bb" in rootless_user.run(["images"], check=True).stdout
    check = rootless_user.run(["system", "check"]) if _has_check() else None
    assert check is None or check.returncode == 0, check.stderr if check else ""
    listed = rootless_user.run(["image", "inspect", "--format", "{{.Id}}", "bb:1"], check=True)
    assert listed.stdout.startswith("sha256:")


def _has_check() -> bool:
    return (Path(__file__).resolve().parents[2] / "src" / "dockyard" / "cli" / "check.py").exists()


@pytest.mark.parametrize("variable", ["XDG_DATA_HOME"])
def test_xdg_data_home_and_root_flag_choose_the_store(rootless_user: RootlessUser, variable: str) -> None:
    data = rootless_user.home / "data"
    rootless_user.run(["images"], env={variable: str(data)}, check=True)
    assert (data / "dockyard" / "dockyard.db").is_file()
    rootless_user.run(["--root", str(rootless_user.work / "other"), "images"], check=True)
    assert (rootless_user.work / "other" / "dockyard.db").is_file()
    assert not rootless_user.store.exists()


def test_fuse_overlayfs_serves_where_chosen(rootless_user: RootlessUser) -> None:
    """The fallback where the kernel refuses overlay in a user namespace (chosen here by flag: this kernel
    allows it). /dev/fuse is 0600 on this VM where distributions ship 0666: the test opens it to users."""
    os.chmod("/dev/fuse", 0o666)
    load_opaque_image(rootless_user, "--storage-driver", "fuse-overlayfs")
    info = rootless_user.run(["info", "--format", "{{.Driver}} {{json .SecurityOptions}}"], check=True)
    assert info.stdout == 'fuse-overlayfs ["name=seccomp,profile=default","name=rootless"]\n'
    [only] = layer_files(rootless_user.store.parent / "dockyard", "etc/only") or [None]
    assert only is None  # the layout is overlay2's, under the driver's own name
    assert [os.getxattr(p.parent, "user.overlay.opaque") for p in (rootless_user.store / "fuse-overlayfs").glob("*/diff/etc/only")] == [b"y"]


def test_the_api_service_of_a_user_listens_in_its_run_dir(rootless_user: RootlessUser) -> None:
    import http.client
    import json
    import socket

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(str(rootless_user.run_dir / "dockyard.sock"))

    service = rootless_user.popen(["system", "service", "--time", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not (rootless_user.run_dir / "dockyard.sock").exists():
            assert service.poll() is None and time.monotonic() < deadline, service.stderr.read() if service.stderr else ""
            time.sleep(0.05)
        conn = UnixConnection("localhost")
        conn.request("GET", "/info")
        info = json.loads(conn.getresponse().read())
        assert info["DockerRootDir"] == str(rootless_user.store)
        assert "name=rootless" in info["SecurityOptions"]
        assert os.stat(rootless_user.run_dir / "dockyard.sock").st_uid == rootless_user.uid
    finally:
        for pid in rootless_user.processes():
            if pid != rootless_user.pause_pid():
                os.kill(pid, signal.SIGTERM)
        service.wait(timeout=30)
