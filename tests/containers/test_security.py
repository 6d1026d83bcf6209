"""Isolation as Docker sets it up: seccomp, capabilities, read-only rootfs, masked /proc, devices, privileged."""

from __future__ import annotations

import json
from pathlib import Path

from dockyard.runtime import seccomp
from dockyard.runtime.spec import DEFAULT_CAPABILITIES, capability_set
from tests.conftest import Dockyard
from tests.containers.conftest import inspect, runc_specs

DEFAULT_CAPEFF = "00000000a80425fb"  # Docker's 14 default capabilities as a bit mask


def _status(dy: Dockyard, *flags: str) -> dict[str, str]:
    out = dy("run", "--rm", *flags, "bb", "cat", "/proc/self/status").stdout
    return dict(line.split(":\t", 1) for line in out.splitlines() if ":\t" in line)


def test_default_profile_resolves_per_capability_and_arch() -> None:
    default = seccomp.resolve(seccomp.DEFAULT_PROFILE, DEFAULT_CAPABILITIES, arch="amd64", kernel=(6, 1))
    allowed = {n for rule in default["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" and "args" not in rule
               for n in rule["names"]}
    assert default["defaultAction"] == "SCMP_ACT_ERRNO"
    assert default["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert {"read", "execve", "arch_prctl", "chroot", "ptrace"} <= allowed
    assert not {"mount", "unshare", "setns", "reboot", "init_module", "kexec_load", "s390_runtime_instr"} & allowed
    assert {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38} in default["syscalls"]
    admin = seccomp.resolve(seccomp.DEFAULT_PROFILE, [*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"], arch="amd64", kernel=(6, 1))
    admin_allowed = {n for rule in admin["syscalls"] if "args" not in rule and rule["action"] == "SCMP_ACT_ALLOW"
                     for n in rule["names"]}
    assert {"mount", "unshare", "setns", "clone"} <= admin_allowed
    assert not any(r["names"] == ["clone3"] for r in admin["syscalls"])  # clone3 needs no fallback then
    old_kernel = seccomp.resolve(seccomp.DEFAULT_PROFILE, DEFAULT_CAPABILITIES, arch="arm64", kernel=(4, 4))
    names = {n for rule in old_kernel["syscalls"] for n in rule["names"]}
    assert "ptrace" not in names and "arch_prctl" not in names and "set_tls" in names


def test_capability_arithmetic_is_dockers() -> None:
    assert capability_set([], [], False) == DEFAULT_CAPABILITIES
    assert capability_set(["net_admin"], ["CAP_NET_RAW", "chown"], False) == (
        *[c for c in DEFAULT_CAPABILITIES if c not in ("CAP_NET_RAW", "CAP_CHOWN")], "CAP_NET_ADMIN")
    assert capability_set(["CHOWN"], ["ALL"], False) == ("CAP_CHOWN",)
    everything = capability_set(["ALL"], ["sys_admin"], False)
    assert "CAP_SYS_ADMIN" not in everything and "CAP_BPF" in everything and len(everything) == 40
    assert capability_set([], [], True, available=("CAP_CHOWN", "CAP_KILL")) == ("CAP_CHOWN", "CAP_KILL")


def test_default_container_is_confined(dy: Dockyard) -> None:
    status = _status(dy)
    assert status["CapEff"] == DEFAULT_CAPEFF and status["Seccomp"] == "2" and status["NoNewPrivs"] == "0"
    r = dy("run", "--rm", "bb", "busybox", "unshare", "-m", "true", check=False)
    assert r.returncode == 1 and "Operation not permitted" in r.stderr
    script = ("cat /proc/kcore | wc -c; echo x > /proc/sys/kernel/domainname || echo ro-sys; "
              "echo $(ls /dev); ls /proc/acpi 2>/dev/null | wc -l; touch /ok && echo rw-root")
    out = dy("run", "--rm", "bb", "sh", "-c", script).stdout.split("\n")
    assert out[0].strip() == "0" and out[1] == "ro-sys"
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue"} <= set(out[2].split())
    assert out[3].strip() == "0" and out[4] == "rw-root"
    # CAP_MKNOD makes the node, the device cgroup refuses opening it
    r = dy("run", "--rm", "bb", "sh", "-c", "mknod /tmp/sda b 8 0 && head -c1 /tmp/sda", check=False)
    assert r.returncode != 0 and "Operation not permitted" in r.stderr


def test_privileged_and_unconfined(dy: Dockyard) -> None:
    script = ("grep -E '^(CapEff|Seccomp):' /proc/self/status; busybox unshare -m true && echo unshared; ls /dev | wc -l; "
              "echo dy > /proc/sys/kernel/domainname && cat /proc/sys/kernel/domainname")
    out = dy("run", "--rm", "--privileged", "bb", "sh", "-c", script).stdout.split()
    assert out[0:4:2] == ["CapEff:", "Seccomp:"] and int(out[1], 16) > int(DEFAULT_CAPEFF, 16) and out[3] == "0"
    # no seccomp, mount namespaces allowed, the host's devices, /proc/sys writable (its own UTS namespace)
    assert out[4] == "unshared" and int(out[5]) > 12 and out[6] == "dy"
    # unconfined seccomp alone still lacks CAP_SYS_ADMIN; with it, unshare works
    r = dy("run", "--rm", "--security-opt", "seccomp=unconfined", "bb", "sh", "-c",
           "grep '^Seccomp:' /proc/self/status; busybox unshare -m true", check=False)
    assert r.returncode == 1 and r.stdout.split() == ["Seccomp:", "0"]
    assert dy("run", "--rm", "--cap-add", "SYS_ADMIN", "bb", "busybox", "unshare", "-m", "true").returncode == 0
    assert inspect(dy, dy("create", "--privileged", "bb", "true").stdout.strip())["HostConfig"]["Privileged"] is True


def test_custom_seccomp_profile(dy: Dockyard, tmp_path: Path) -> None:
    profile = {**seccomp.DEFAULT_PROFILE,
               "syscalls": [{**r, "names": [n for n in r["names"] if n not in ("mkdir", "mkdirat")]}
                            for r in seccomp.DEFAULT_PROFILE["syscalls"]]}
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile, indent=2))
    r = dy("run", "--rm", "--security-opt", f"seccomp={path}", "bb", "mkdir", "/newdir", check=False)
    assert r.returncode == 1 and "Operation not permitted" in r.stderr
    assert dy("run", "--rm", "bb", "mkdir", "/newdir").returncode == 0


def test_capabilities_flags(dy: Dockyard) -> None:
    r = dy("run", "--rm", "--cap-drop", "NET_RAW", "bb", "busybox", "ping", "-c1", "-W1", "127.0.0.1", check=False)
    assert r.returncode == 1 and "permission denied" in r.stderr
    assert dy("run", "--rm", "bb", "busybox", "ping", "-c1", "-W1", "127.0.0.1").returncode == 0
    assert _status(dy, "--cap-drop", "ALL", "--cap-add", "cap_chown")["CapEff"] == "0000000000000001"
    r = dy("run", "--rm", "--cap-drop", "chown", "bb", "chown", "1:1", "/bin", check=False)
    assert r.returncode == 1 and "Operation not permitted" in r.stderr
    cid = dy("create", "--cap-add", "net_admin", "--cap-drop", "CAP_MKNOD", "bb", "true").stdout.strip()
    host = inspect(dy, cid)["HostConfig"]
    assert (host["CapAdd"], host["CapDrop"]) == (["CAP_NET_ADMIN"], ["CAP_MKNOD"])  # as Docker's CLI 28 sends them


def test_read_only_and_no_new_privileges(dy: Dockyard) -> None:
    r = dy("run", "--rm", "--read-only", "bb", "sh", "-c", "touch /x; echo h > /etc/hosts", check=False)
    assert r.returncode == 1 and r.stderr.count("Read-only file system") == 2
    assert _status(dy, "--security-opt", "no-new-privileges")["NoNewPrivs"] == "1"
    assert _status(dy, "--security-opt", "no-new-privileges=false")["NoNewPrivs"] == "0"


def test_bad_security_input_is_refused(dy: Dockyard, tmp_path: Path) -> None:
    cases = {
        ("--cap-add", "FOO"): 'dockyard: Error response from daemon: invalid CapAdd: unknown capability: "CAP_FOO"\n',
        ("--security-opt", "foo"): 'dockyard: Invalid --security-opt: "foo".',
        ("--security-opt", "seccomp=/nonexistent.json"):
            "opening seccomp profile (/nonexistent.json) failed: open /nonexistent.json: no such file or directory.",
    }
    for flags, message in cases.items():
        r = dy("run", "--rm", *flags, "bb", "true", check=False)
        assert r.returncode == 125 and message in r.stderr, (flags, r.stderr)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = dy("run", "--rm", "--security-opt", f"seccomp={bad}", "bb", "true", check=False)
    assert r.returncode == 125 and "compacting json for seccomp profile" in r.stderr
    assert dy("ps", "-aq").stdout == ""


def test_spec_matches_the_one_dockerd_gives_runc(dy: Dockyard, dockerd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The same flags to both: the security and resource sections of config.json agree with Docker 20.10's."""
    flags = ["-m", "32m", "--cpus", "1.5", "-c", "512", "--pids-limit", "50", "--read-only", "--cap-add", "SYS_ADMIN",
             "--cap-drop", "NET_RAW", "--security-opt", "no-new-privileges", "--init"]
    ours, theirs = runc_specs(dy, dockerd, tmp_path, flags)
    for key in ("capabilities", "noNewPrivileges", "oomScoreAdj"):
        assert ours["process"][key] == theirs["process"][key], key
    assert ours["process"]["args"] == theirs["process"]["args"] == ["/sbin/docker-init", "--", "sleep", "1000"]
    assert ours["root"]["readonly"] is theirs["root"]["readonly"] is True
    for key in ("seccomp", "maskedPaths", "readonlyPaths", "sysctl", "resources"):
        ours_value, theirs_value = ours["linux"][key], theirs["linux"][key]
        if key == "resources":  # Docker also writes its zero defaults (blockIO weight 0)
            theirs_value = {k: v for k, v in theirs_value.items() if k != "blockIO"}
        assert ours_value == theirs_value, key
    assert {n["type"] for n in ours["linux"]["namespaces"]} == {n["type"] for n in theirs["linux"]["namespaces"]}
    init = [m for m in ours["mounts"] if m["destination"] == "/sbin/docker-init"]
    assert [{**m, "source": "-"} for m in init] == [{**m, "source": "-"} for m in theirs["mounts"]
                                                     if m["destination"] == "/sbin/docker-init"]
