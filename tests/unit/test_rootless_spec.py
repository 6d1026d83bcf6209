"""The runtime spec a rootless container gets (pure: a spec document in, a spec document out), the namespace
network commands run in, and the privileged-port refusal's wording."""

from __future__ import annotations

import errno
from pathlib import Path

from dockyard.runtime.network import nsexec
from dockyard.runtime.network.ports import PrivilegedPortError, _bind_error, unprivileged_port_start
from dockyard.runtime.rootless_spec import mapped_gids, rootless_spec, setgroups_allowed
from dockyard.runtime.spec import RunSpec, SpecInput, build_spec


def _spec(host_network: bool = False, namespaces: dict[str, str | None] | None = None) -> dict:
    return build_spec(SpecInput(
        args=("true",), env=(), cwd="/", uid=0, gid=0, additional_gids=(0, 10), rootfs="/rootfs", hostname="h",
        cgroups_path="/dockyard/x", host_network=host_network,
        flags=RunSpec(namespaces={"pid": None, "ipc": None} if namespaces is None else namespaces)))


def _mount(spec: dict, destination: str) -> dict | None:
    return next((m for m in spec["mounts"] if m["destination"] == destination), None)


def test_no_cgroup_path_resources_or_oom_score() -> None:
    out = rootless_spec(_spec(), gid_count=65537)
    assert "cgroupsPath" not in out["linux"] and "resources" not in out["linux"]
    assert "oomScoreAdj" not in out["process"]
    assert out["process"]["user"]["additionalGids"] == [0, 10]
    assert _spec()["linux"]["cgroupsPath"] == "/dockyard/x"  # the input is left as it was


def test_own_network_namespace_keeps_sysfs_and_cgroup_mount() -> None:
    out = rootless_spec(_spec(), gid_count=65537)
    assert _mount(out, "/sys")["type"] == "sysfs"  # type: ignore[index]
    assert _mount(out, "/sys/fs/cgroup") is not None
    assert out["linux"]["sysctl"]["net.ipv4.ping_group_range"] == "0 65536"


def test_host_network_binds_the_hosts_sys_read_only_without_cgroup_mount() -> None:
    out = rootless_spec(_spec(host_network=True), gid_count=65537)
    assert _mount(out, "/sys") == {"destination": "/sys", "type": "bind", "source": "/sys",
                                   "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
    assert _mount(out, "/sys/fs/cgroup") is None
    assert "sysctl" not in out["linux"]


def test_host_ipc_binds_the_hosts_mqueue() -> None:
    out = rootless_spec(_spec(namespaces={"pid": None}), gid_count=65537)
    assert _mount(out, "/dev/mqueue")["type"] == "bind"  # type: ignore[index]
    assert _mount(rootless_spec(_spec(), gid_count=65537), "/dev/mqueue")["type"] == "mqueue"  # type: ignore[index]


def test_single_id_namespace_leaves_out_unmapped_groups() -> None:
    out = rootless_spec(_spec(), gid_count=1, setgroups=False)
    assert not any(o.startswith("gid=") for o in _mount(out, "/dev/pts")["options"])  # type: ignore[index]
    assert out["linux"]["sysctl"]["net.ipv4.ping_group_range"] == "0 0"
    assert "additionalGids" not in out["process"]["user"]


def test_mapped_gids_counts_from_zero_without_a_gap(tmp_path: Path) -> None:
    gid_map = tmp_path / "gid_map"
    gid_map.write_text("         0       1001          1\n         1     100000      65536\n")
    assert mapped_gids(gid_map) == 65537
    gid_map.write_text("0 1001 1\n5 100000 10\n")
    assert mapped_gids(gid_map) == 1
    (tmp_path / "setgroups").write_text("deny\n")
    assert not setgroups_allowed(tmp_path / "setgroups")


def test_network_commands_run_in_the_namespace_of_the_block() -> None:
    assert nsexec.command(["ip", "link"]) == ["ip", "link"]
    with nsexec.inside(Path("/run/x/netns")):
        assert nsexec.command(["ip", "link"]) == ["nsenter", "--net=/run/x/netns", "--", "ip", "link"]
        assert nsexec.current() == "/run/x/netns"
    with nsexec.inside(None):
        assert nsexec.current() is None


def test_privileged_port_gets_rootlesskits_advice() -> None:
    start = unprivileged_port_start()
    err = _bind_error("0.0.0.0", 80, "tcp", PermissionError(errno.EACCES, "Permission denied"), set())
    if start > 80:
        assert isinstance(err, PrivilegedPortError)
        assert str(err) == (
            "Error starting userland proxy: error while calling PortManager.AddPort(): cannot expose privileged port 80, "
            f"you can add 'net.ipv4.ip_unprivileged_port_start=80' to /etc/sysctl.conf (currently {start}), or set "
            f"CAP_NET_BIND_SERVICE on rootlesskit binary, or choose a larger port number (>= {start}): "
            "listen tcp4 0.0.0.0:80: bind: permission denied")
    busy = _bind_error("0.0.0.0", 8080, "tcp", OSError(errno.EADDRINUSE, "Address in use"), set())
    assert str(busy) == "Error starting userland proxy: listen tcp4 0.0.0.0:8080: bind: address already in use"


def test_devices_become_binds_of_the_hosts_nodes() -> None:
    spec = build_spec(SpecInput(
        args=("true",), env=(), cwd="/", uid=0, gid=0, additional_gids=(), rootfs="/rootfs", hostname="h",
        cgroups_path="/dockyard/x", flags=RunSpec(devices=(
            {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666, "uid": 0, "gid": 0},
            {"path": "/dev/tty", "type": "c", "major": 5, "minor": 0, "fileMode": 0o666, "uid": 0, "gid": 0}))))
    out = rootless_spec(spec, gid_count=65537, device_sources={"/dev/mynull": "/dev/null"})
    assert "devices" not in out["linux"]
    assert _mount(out, "/dev/mynull") == {"destination": "/dev/mynull", "type": "bind", "source": "/dev/null",
                                          "options": ["bind", "rprivate"]}
    assert _mount(out, "/dev/tty") is None  # runc binds its own


def test_slirp4netns_complaint_is_its_first_error_line() -> None:
    from dockyard.runtime.network.slirp import first_complaint

    said = ('open("/dev/net/tun"): Permission denied\nWARNING: Support for seccomp is experimental\n'
            "WARNING: Support for IPv6 is experimental\nchild failed(1)\n")
    assert first_complaint(said) == 'open("/dev/net/tun"): Permission denied'
    assert first_complaint("sent tapfd=5 for tap0\nreceived tapfd=5\n") == "no answer"
