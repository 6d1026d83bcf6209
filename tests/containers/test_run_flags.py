"""``run``/``create`` flags for namespaces, devices, DNS, kernel settings, limits and logging, as Docker 20.10 has them:
their effect inside a real container, their HostConfig fields, the spec next to the one dockerd gives runc, and
Docker's messages for bad values."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Dockyard
from tests.containers.conftest import inspect, runc_specs

MiB = 1024 * 1024
FLAGS = ["--ulimit", "nofile=1024:2048", "--device", "/dev/null:/dev/mynull:rw", "--sysctl", "net.ipv4.ip_forward=1",
         "--shm-size", "128m", "--group-add", "10", "--group-add", "29", "--cpuset-cpus", "0",
         "--memory-reservation", "64m", "--tmpfs", "/run:size=1m,mode=700", "--ipc", "shareable"]


def test_flags_take_effect_inside_and_show_in_inspect(dy: Dockyard) -> None:
    script = ("ulimit -n; ulimit -Hn; ls -l /dev/mynull | cut -c1; cat /proc/sys/net/ipv4/ip_forward; "
              "df -k /dev/shm | tail -1 | awk '{print $2}'; id -G; cat /etc/resolv.conf; "
              "grep ' /run ' /proc/mounts | cut -d' ' -f4; cat /sys/fs/cgroup/cpuset/cpuset.cpus "
              "/sys/fs/cgroup/memory/memory.soft_limit_in_bytes")
    out = dy("run", "--name", "flags", *FLAGS, "--dns", "1.2.3.4", "--dns-search", "example.com",
             "--dns-option", "ndots:2", "bb", "sh", "-c", script).stdout.splitlines()
    assert out[:5] == ["1024", "2048", "c", "1", str(128 * 1024)]
    assert out[5].split() == ["0", "10", "29"]  # root, then --group-add's
    assert out[6:9] == ["search example.com", "nameserver 1.2.3.4", "options ndots:2"]
    assert out[9].split(",")[:4] == ["rw", "nosuid", "nodev", "noexec"] and "size=1024k" in out[9] and "mode=700" in out[9]
    assert out[10:] == ["0", str(64 * MiB)]
    host = inspect(dy, "flags")["HostConfig"]
    assert host["Ulimits"] == [{"Name": "nofile", "Hard": 2048, "Soft": 1024}]
    assert host["Devices"] == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull", "CgroupPermissions": "rw"}]
    assert (host["Dns"], host["DnsSearch"], host["DnsOptions"]) == (["1.2.3.4"], ["example.com"], ["ndots:2"])
    assert (host["Sysctls"], host["ShmSize"], host["GroupAdd"]) == ({"net.ipv4.ip_forward": "1"}, 128 * MiB, ["10", "29"])
    assert (host["IpcMode"], host["PidMode"], host["CpusetCpus"], host["MemoryReservation"]) == ("shareable", "", "0", 64 * MiB)
    assert host["Tmpfs"] == {"/run": "size=1m,mode=700"}
    assert host["LogConfig"] == {"Type": "json-file", "Config": {}} and host["ContainerIDFile"] == ""


def test_defaults_match_dockers(dy: Dockyard) -> None:
    cid = dy("create", "bb", "true").stdout.strip()
    host = inspect(dy, cid)["HostConfig"]
    assert {k: host.get(k, "absent") for k in ("Dns", "DnsOptions", "DnsSearch", "GroupAdd", "IpcMode", "PidMode", "Tmpfs",
                                              "ShmSize", "Sysctls", "CpusetCpus", "Devices", "MemoryReservation", "Ulimits")} == {
        "Dns": [], "DnsOptions": [], "DnsSearch": [], "GroupAdd": None, "IpcMode": "private", "PidMode": "", "Tmpfs": "absent",
        "ShmSize": 67108864, "Sysctls": "absent", "CpusetCpus": "", "Devices": [], "MemoryReservation": 0, "Ulimits": []}


def test_pid_and_ipc_namespaces_host_and_another_containers(dy: Dockyard) -> None:
    dy("run", "-d", "--name", "peer", "-h", "peerhost", "--ipc", "shareable", "bb", "sh", "-c",
       "echo shared > /dev/shm/note; exec sleep 1000")
    peer_pid = inspect(dy, "peer")["State"]["Pid"]
    peer_ipc = os.readlink(f"/proc/{peer_pid}/ns/ipc")
    script = "cat /proc/1/comm; readlink /proc/self/ns/ipc; cat /dev/shm/note 2>/dev/null || true"
    joined = dy("run", "--rm", "--pid", "container:peer", "--ipc", "container:peer", "bb", "sh", "-c", script).stdout.split()
    assert joined == ["sleep", peer_ipc, "shared"]  # its IPC namespace and its /dev/shm
    on_host = dy("run", "--name", "onhost", "--pid", "host", "--ipc", "host", "bb", "sh", "-c", script).stdout.split()
    assert on_host == [Path("/proc/1/comm").read_text().strip(), os.readlink("/proc/self/ns/ipc")]
    own = dy("run", "--rm", "bb", "sh", "-c", script).stdout.split()
    assert len(own) == 2 and own[0] == "sh" and own[1] not in (peer_ipc, os.readlink("/proc/self/ns/ipc"))
    dy("run", "-d", "--name", "private", "bb", "sleep", "1000")
    private_id = inspect(dy, "private")["Id"]
    r = dy("run", "--rm", "--ipc", "container:private", "bb", "true", check=False)
    assert r.returncode == 125 and (f"can't join IPC of container {private_id}: non-shareable IPC (hint: use "
                                    "IpcMode:shareable for the donor container)") in r.stderr
    dy("rm", "-f", "private")
    peer_net = os.readlink(f"/proc/{peer_pid}/ns/net")
    shared_net = dy("run", "--rm", "--network", "container:peer", "bb", "sh", "-c",
                    "hostname; readlink /proc/self/ns/net; grep -c nameserver /etc/resolv.conf").stdout.split()
    assert shared_net[:2] == ["peerhost", peer_net] and int(shared_net[2]) > 0
    peer_id = inspect(dy, "peer")["Id"]
    cid = dy("create", "--network", "container:peer", "bb", "true").stdout.strip()
    assert inspect(dy, cid)["HostConfig"]["NetworkMode"] == f"container:{peer_id}"
    assert inspect(dy, cid)["NetworkSettings"]["Networks"] == {}
    cid = dy("create", "--pid", "container:peer", "--ipc", "container:peer", "bb", "true").stdout.strip()
    host = inspect(dy, cid)["HostConfig"]
    assert (host["PidMode"], host["IpcMode"]) == (f"container:{peer_id}", f"container:{peer_id}")
    assert (inspect(dy, "onhost")["HostConfig"]["PidMode"], inspect(dy, "onhost")["HostConfig"]["IpcMode"]) == ("host", "host")
    dy("rm", "-f", "peer")


def test_cidfile_is_written_and_an_existing_one_refused(dy: Dockyard, tmp_path: Path) -> None:
    cidfile = tmp_path / "cid"
    cid = dy("create", "--cidfile", str(cidfile), "bb", "true").stdout.strip()
    assert cidfile.read_text() == cid
    assert inspect(dy, cid)["HostConfig"]["ContainerIDFile"] == str(cidfile)
    r = dy("run", "--cidfile", str(cidfile), "bb", "true", check=False)
    assert r.returncode == 125
    assert r.stderr == (f"dockyard: container ID file found, make sure the other container isn't running or delete "
                        f"{cidfile}.\nSee 'dockyard run --help'.\n")


def test_json_file_rotates_and_logs_reads_across_files(dy: Dockyard) -> None:
    script = "i=0; while [ $i -lt 60 ]; do echo line-$i; i=$((i+1)); done"
    dy("run", "--name", "rot", "--log-opt", "max-size=1k", "--log-opt", "max-file=3", "bb", "sh", "-c", script)
    log = Path(inspect(dy, "rot")["LogPath"])
    assert log.exists() and log.with_name(log.name + ".1").exists() and log.with_name(log.name + ".2").exists()
    assert not log.with_name(log.name + ".3").exists()
    assert all(p.stat().st_size <= 1024 + 100 for p in log.parent.glob(log.name + "*"))
    lines = dy("logs", "rot").stdout.splitlines()
    assert lines == [f"line-{i}" for i in range(60 - len(lines), 60)] and len(lines) < 60  # the oldest are gone
    assert inspect(dy, "rot")["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "3", "max-size": "1k"}}
    # followed while it rotates: nothing lost, nothing twice
    script = "i=0; while [ $i -lt 40 ]; do echo f-$i; i=$((i+1)); sleep 0.02; done"
    dy("run", "-d", "--name", "followed", "--log-opt", "max-size=2k", "--log-opt", "max-file=5", "bb", "sh", "-c", script)
    assert dy("logs", "-f", "followed").stdout.splitlines() == [f"f-{i}" for i in range(40)]
    dy("run", "--name", "quiet", "--log-driver", "none", "bb", "echo", "hi")
    r = dy("logs", "quiet", check=False)
    assert (r.returncode, r.stderr) == (1, "Error response from daemon: configured logging driver does not support reading\n")
    assert inspect(dy, "quiet")["HostConfig"]["LogConfig"] == {"Type": "none", "Config": {}}


def test_pull_never_and_bad_pull_option(dy: Dockyard) -> None:
    r = dy("run", "--pull", "never", "nosuch:1", check=False)
    assert r.returncode == 125 and "No such image: nosuch:1" in r.stderr and "Unable to find" not in r.stderr
    r = dy("run", "--pull", "foo", "bb", check=False)
    assert (r.returncode, r.stderr) == (125, "dockyard: invalid pull option: 'foo': must be one of \"always\", \"missing\" "
                                             "or \"never\".\nSee 'dockyard run --help'.\n")


BAD = [
    (["--ulimit", "nofile"], 'invalid argument "nofile" for "--ulimit" flag: invalid ulimit argument: nofile'),
    (["--ulimit", "foo=1"], 'invalid argument "foo=1" for "--ulimit" flag: invalid ulimit type: foo'),
    (["--ulimit", "nofile=2:1"], 'invalid argument "nofile=2:1" for "--ulimit" flag: ulimit soft limit must be less than '
                                 "or equal to hard limit: 2 > 1"),
    (["--ulimit", "nofile=a"], 'invalid argument "nofile=a" for "--ulimit" flag: strconv.ParseInt: parsing "a": invalid syntax'),
    (["--device", "/dev/null:rel"], "dockyard: rel is not an absolute path."),
    (["--device", "/dev/null:/dev/x:rwz"], "dockyard: bad mode specified: rwz."),
    (["--dns", "notanip"], 'invalid argument "notanip" for "--dns" flag: IP address is not correctly formatted: notanip'),
    (["--sysctl", "kernel.foo=1"], "invalid argument \"kernel.foo=1\" for \"--sysctl\" flag: sysctl 'kernel.foo=1' is not allowed"),
    (["--shm-size", "abc"], "invalid argument \"abc\" for \"--shm-size\" flag: invalid size: 'abc'"),
    (["--memory-reservation", "abc"], "invalid argument \"abc\" for \"--memory-reservation\" flag: invalid size: 'abc'"),
    (["--memory-reservation", "1k"], "dockyard: Error response from daemon: Minimum memory reservation allowed is 6MB."),
    (["--pid", "foo"], "dockyard: --pid: invalid PID mode."),
    (["--pid", "container:nope"], "dockyard: Error response from daemon: No such container: nope."),
    (["--ipc", "foo"], "dockyard: Error response from daemon: Invalid IPC mode: foo."),
    (["--cpuset-cpus", "abc"], "dockyard: Error response from daemon: Invalid value abc for cpuset cpus: invalid format: abc."),
    (["--log-driver", "foo"], 'dockyard: Error response from daemon: error looking up logging plugin foo: plugin "foo" not found.'),
    (["--log-driver", "none", "--log-opt", "max-size=1k"], "dockyard: invalid logging opts for driver none."),
    (["--log-opt", "foo=1"], "dockyard: Error response from daemon: unknown log opt 'foo' for json-file log driver."),
    (["--log-opt", "max-size=abc"], "dockyard: Error response from daemon: failed to initialize logging driver: invalid size: 'abc'."),
    (["--log-opt", "max-file=0"], "dockyard: Error response from daemon: failed to initialize logging driver: max-file "
                                  "cannot be less than 1."),
    (["--network", "container:nope", "-p", "80:80"], "dockyard: Error response from daemon: conflicting options: port "
                                                     "publishing and the container type network mode."),
    (["--network", "container:nope", "-h", "x"], "dockyard: Error response from daemon: conflicting options: hostname "
                                                 "and the network mode."),
    (["--network", "container:nope"], "dockyard: Error response from daemon: No such container: nope."),
    (["--tmpfs", "rel"], "dockyard: Error response from daemon: invalid mount path: 'rel' mount path must be absolute."),
]


def test_bad_values_get_dockers_messages(dy: Dockyard) -> None:
    for flags, message in BAD:
        r = dy("create", *flags, "bb", "true", check=False)
        # what the daemon refuses, Docker 28's CLI prints as it came, exit 1; its own checks: exit 125
        daemon = message.startswith("dockyard: Error response from daemon: ")
        expected = (1, message.removeprefix("dockyard: ").removesuffix(".")) if daemon else (125, message)
        assert (r.returncode, r.stderr.splitlines()[0]) == expected, flags
    # dockyard refuses a missing device at create (the daemon's answer, exit 1); Docker only at start
    r = dy("create", "--device", "/dev/nonexist", "bb", "true", check=False)
    assert (r.returncode, r.stderr.splitlines()[0]) == (1, 'Error response from daemon: error gathering device '
                                                          'information while adding custom device "/dev/nonexist": '
                                                          "no such file or directory")
    assert dy("ps", "-aq").stdout == ""


def test_spec_matches_the_one_dockerd_gives_runc(dy: Dockyard, dockerd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The same flags to both: rlimits, devices, sysctls, resources and the /dev/shm and tmpfs mounts agree."""
    flags = FLAGS
    ours, theirs = runc_specs(dy, dockerd, tmp_path, flags)
    assert ours["process"]["rlimits"] == theirs["process"]["rlimits"]
    # dockerd lists the additional groups in Go map order (runc's GetAdditionalGroups), which varies by run
    for user in (ours["process"]["user"], theirs["process"]["user"]):
        user["additionalGids"] = sorted(user.get("additionalGids", []))
    assert ours["process"]["user"] == theirs["process"]["user"]
    assert ours["linux"]["devices"] == theirs["linux"]["devices"]
    assert ours["linux"]["sysctl"] == theirs["linux"]["sysctl"]
    theirs_res = {k: v for k, v in theirs["linux"]["resources"].items() if k != "blockIO"}
    assert ours["linux"]["resources"] == theirs_res
    for path in ("/dev/shm", "/run"):
        mine = [{**m, "source": "-"} for m in ours["mounts"] if m["destination"] == path]
        assert mine == [{**m, "source": "-"} for m in theirs["mounts"] if m["destination"] == path], path


@pytest.mark.parametrize("mode", ["host"])
def test_ipc_host_binds_the_hosts_shm(dy: Dockyard, mode: str) -> None:
    marker = Path("/dev/shm") / f"dyk-{os.getpid()}"
    marker.write_text("x")
    try:
        assert dy("run", "--rm", "--ipc", mode, "bb", "cat", f"/dev/shm/{marker.name}").stdout == "x"
    finally:
        marker.unlink()
