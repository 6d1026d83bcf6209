"""The pure parts: merging the image config, users, the spec document, log lines, runc errors."""

from __future__ import annotations

import json

import pytest

from dockyard.errors import InvalidArgumentError
from dockyard.runtime import logs
from dockyard.runtime.rootfs import resolv_conf
from dockyard.runtime.runc import Runc, exit_code_for_start_error
from dockyard.runtime.spec import (
    DEFAULT_PATH, Overrides, SpecInput, Volume, build_spec, merge_env, merge_process, resolve_user,
)

IMAGE = {"Entrypoint": ["/ep"], "Cmd": ["c1"], "Env": ["A=1", "PATH=/x"], "WorkingDir": "/w", "User": "u"}


@pytest.mark.parametrize(
    ("overrides", "args"),
    [
        (Overrides(), ("/ep", "c1")),
        (Overrides(cmd=("c2",)), ("/ep", "c2")),
        (Overrides(entrypoint=("/e2",)), ("/e2",)),
        (Overrides(entrypoint=("/e2",), cmd=("x",)), ("/e2", "x")),
        (Overrides(entrypoint=()), ("c1",)),
    ],
)
def test_entrypoint_and_cmd_merge_as_docker(overrides: Overrides, args: tuple[str, ...]) -> None:
    assert merge_process(IMAGE, overrides).args == args


def test_env_workdir_user_merge() -> None:
    p = merge_process(IMAGE, Overrides(env=("A=2", "B=3"), workdir="/o"))
    assert p.env == ("A=2", "B=3", "PATH=/x") and p.cwd == "/o" and p.user == "u"  # Docker's merge: flags first
    assert merge_env([], ()) == (f"PATH={DEFAULT_PATH}",)
    assert merge_process({"Cmd": ["x"]}, Overrides()).cwd == "/"
    with pytest.raises(InvalidArgumentError, match="No command specified"):
        merge_process({}, Overrides())


PASSWD = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:100:A:/home/alice:/bin/sh\n"
GROUP = "root:x:0:\nusers:x:100:\nwheel:x:10:alice\n"


def test_resolve_user() -> None:
    assert resolve_user("", PASSWD, GROUP) == (0, 0, (), "/root")
    assert resolve_user("alice", PASSWD, GROUP) == (1000, 100, (10,), "/home/alice")
    assert resolve_user("1000:wheel", PASSWD, GROUP)[:2] == (1000, 10)
    assert resolve_user("4242:7", PASSWD, GROUP)[:2] == (4242, 7)
    with pytest.raises(InvalidArgumentError, match="unable to find user bob"):
        resolve_user("bob", PASSWD, GROUP)


def _input(**kw: object) -> SpecInput:
    base: dict[str, object] = dict(args=("sh",), env=("PATH=/bin",), cwd="/", uid=0, gid=0, additional_gids=(),
                                   rootfs="/r", hostname="h", cgroups_path="/dockyard/x")
    return SpecInput(**{**base, **kw})  # type: ignore[arg-type]


def test_spec_has_dockers_defaults() -> None:
    spec = build_spec(_input(volumes=(Volume("/src", "/dst", True),), no_new_privileges=True))
    assert [n["type"] for n in spec["linux"]["namespaces"]] == ["pid", "ipc", "uts", "mount", "network"]
    assert len(spec["process"]["capabilities"]["bounding"]) == 14
    assert "/proc/kcore" in spec["linux"]["maskedPaths"] and "/proc/sys" in spec["linux"]["readonlyPaths"]
    assert spec["process"]["noNewPrivileges"] is True
    assert {"destination": "/dst", "type": "bind", "source": "/src", "options": ["rbind", "rprivate", "ro"]} in spec["mounts"]
    host = build_spec(_input(host_network=True))
    assert "network" not in [n["type"] for n in host["linux"]["namespaces"]]
    json.dumps(spec)


def test_log_lines_are_split_like_dockers() -> None:
    s = logs.LineSplitter()
    assert s.feed(b"a\nb") == [b"a\n"] and s.feed(b"c\n") == [b"bc\n"] and s.flush() == []
    long = s.feed(b"x" * (logs.MAX_LINE + 5))
    assert long == [b"x" * logs.MAX_LINE] and s.flush() == [b"xxxxx"]
    line = json.loads(logs.entry(b"hi\n", "stderr", 1_700_000_000_120_000_000))
    assert line == {"log": "hi\n", "stream": "stderr", "time": "2023-11-14T22:13:20.12Z"}


def test_runc_argv_and_start_errors() -> None:
    runc = Runc(state_root=__import__("pathlib").Path("/s"))
    assert runc.kill_argv("c", "TERM") == ["runc", "--root", "/s", "kill", "c", "TERM"]
    assert exit_code_for_start_error('exec: "x": executable file not found in $PATH') == 127
    assert exit_code_for_start_error('exec: "/etc/passwd": permission denied') == 126
    assert exit_code_for_start_error("cgroup trouble") == 125


def test_resolv_conf_drops_loopback_nameservers() -> None:
    assert resolv_conf("nameserver 127.0.0.53\nsearch x\n") == "search x\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    assert resolv_conf("nameserver 10.0.0.1\n") == "nameserver 10.0.0.1\n"


def test_run_flags_in_the_spec() -> None:
    from dockyard.runtime.container_spec import resolv_conf as flag_resolv_conf
    from dockyard.runtime.spec import RunSpec, namespaces

    shared = {"pid": "/proc/7/ns/pid", "uts": None}  # --pid container:ID, --ipc host
    assert namespaces(False, "/n", shared) == [{"type": "pid", "path": "/proc/7/ns/pid"}, {"type": "uts"},
                                               {"type": "mount"}, {"type": "network", "path": "/n"}]
    # --uts host: no namespace of its own, nor a hostname; --cgroupns private: one of its own
    assert namespaces(False, "/n", {"pid": None, "ipc": None, "cgroup": None}) == [
        {"type": "pid"}, {"type": "ipc"}, {"type": "mount"}, {"type": "network", "path": "/n"}, {"type": "cgroup"}]
    assert "hostname" not in build_spec(_input(flags=RunSpec(namespaces={"pid": None, "ipc": None})))
    spec = build_spec(_input(flags=RunSpec(rlimits=({"type": "RLIMIT_NOFILE", "hard": 2, "soft": 1},), shm_size=1 << 20,
                                           sysctls={"net.ipv4.ip_forward": "1"}, tmpfs=(("/run", "size=1m"),))))
    assert spec["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 2, "soft": 1}]
    assert spec["linux"]["sysctl"]["net.ipv4.ip_forward"] == "1"
    assert {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
            "options": ["noexec", "nosuid", "nodev", "rprivate", "size=1m"]} in spec["mounts"]
    assert "size=1048576" in next(m for m in spec["mounts"] if m["destination"] == "/dev/shm")["options"]
    host = "nameserver 10.0.0.1\nsearch corp\noptions rotate\n"
    assert flag_resolv_conf(host, ["1.2.3.4"], [], []) == "search corp\nnameserver 1.2.3.4\noptions rotate\n"
    assert flag_resolv_conf(host, [], ["."], ["ndots:2"]) == "nameserver 10.0.0.1\noptions ndots:2\n"


def test_json_file_rotation(tmp_path: __import__("pathlib").Path) -> None:
    path = tmp_path / "c-json.log"
    writer = logs.LogWriter(path, max_size=10, max_file=3)
    for n in range(5):
        writer.write(logs.entry(f"{n}\n".encode(), "stdout"))
    writer.close()
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["c-json.log", "c-json.log.1", "c-json.log.2"]
    assert [e.data for e in logs.rotated_entries(path)] == [b"2\n", b"3\n"]
    assert logs.parse_size("1k") == 1024 and logs.parse_size("2m") == 2 << 20
    with pytest.raises(ValueError, match="invalid size: 'abc'"):
        logs.parse_size("abc")
