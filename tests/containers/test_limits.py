"""cgroup limits as Docker applies them: memory (OOM kill → 137), swap, CPUs, shares, pids; bad values refused."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgumentError
from dockyard.runtime.resources import Limits, linux_resources, parse_nano_cpus
from tests.conftest import Dockyard
from tests.containers.conftest import inspect

MiB = 1024 * 1024


def test_limits_become_the_specs_resources() -> None:
    res = linux_resources(Limits(memory=32 * MiB, nano_cpus=parse_nano_cpus("1.5"), cpu_shares=512, pids_limit=50))
    assert res["memory"] == {"disableOOMKiller": False, "limit": 32 * MiB, "swap": 64 * MiB}  # swap: twice, as Docker
    assert res["cpu"] == {"shares": 512, "quota": 150000, "period": 100000}
    assert res["pids"] == {"limit": 50}
    assert res["devices"][0] == {"allow": False, "access": "rwm"}
    assert {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"} in res["devices"]
    assert linux_resources(Limits(memory=32 * MiB, memory_swap=-1))["memory"]["swap"] == -1
    assert linux_resources(Limits(), privileged=True)["devices"] == [{"allow": True, "access": "rwm"}]
    assert parse_nano_cpus("0.01") == 10_000_000
    with pytest.raises(ValueError):
        parse_nano_cpus("abc")
    for bad, message in ((Limits(memory=1024), "Minimum memory limit allowed is 6MB"),
                         (Limits(memory_swap=16 * MiB), "You should always set the Memory limit"),
                         (Limits(memory=32 * MiB, memory_swap=16 * MiB), "Minimum memoryswap limit should be larger"),
                         (Limits(nano_cpus=100 * 10**9), "Range of CPUs is from 0.01 to 2.00")):
        with pytest.raises(InvalidArgumentError, match=message):
            bad.validate(online_cpus=2)


def test_memory_limit_kills_a_process_that_allocates_more(dy: Dockyard) -> None:
    r = dy("run", "--name", "hog", "-m", "32m", "bb", "sh", "-c", "x=a; while true; do x=$x$x; done", check=False)
    assert r.returncode == 137
    state = inspect(dy, "hog")["State"]
    assert (state["Status"], state["ExitCode"], state["OOMKilled"]) == ("exited", 137, True)
    host = inspect(dy, "hog")["HostConfig"]
    assert (host["Memory"], host["MemorySwap"]) == (32 * MiB, 64 * MiB)
    # the same container started again without running out keeps OOMKilled false
    dy("run", "--name", "fine", "-m", "32m", "bb", "true")
    assert inspect(dy, "fine")["State"]["OOMKilled"] is False


def test_cgroup_files_carry_the_limits(dy: Dockyard) -> None:
    script = ("cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us "
              "/sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/pids/pids.max")
    out = dy("run", "--rm", "-m", "64m", "--cpus", "0.5", "-c", "256", "--pids-limit", "30", "bb", "sh", "-c", script)
    assert out.stdout.split() == [str(64 * MiB), "50000", "100000", "256", "30"]
    cid = dy("create", "--memory", "1g", "--memory-swap", "-1", "--cpus", "1.25", "--pids-limit", "9", "bb", "true").stdout.strip()
    host = inspect(dy, cid)["HostConfig"]
    assert (host["Memory"], host["MemorySwap"], host["NanoCpus"], host["PidsLimit"]) == (1024 * MiB, -1, 1_250_000_000, 9)


def test_pids_limit_bounds_a_fork_bomb(dy: Dockyard) -> None:
    # the forking subshell dies at the limit; what it started stays, counted
    script = "(for i in $(seq 60); do sleep 5 & done) 2>/dev/null; echo started; cat /sys/fs/cgroup/pids/pids.current"
    out = dy("run", "--rm", "--pids-limit", "16", "bb", "sh", "-c", script).stdout.split()
    assert out[0] == "started" and 10 <= int(out[1]) <= 16


@pytest.mark.parametrize("flags, message", [
    (("-m", "abc"), "invalid argument \"abc\" for \"-m, --memory\" flag: invalid size: 'abc'"),
    (("-m", "1k"), "Error response from daemon: Minimum memory limit allowed is 6MB."),
    (("--cpus", "abc"), 'invalid argument "abc" for "--cpus" flag: failed to parse abc as a rational number'),
    (("--pids-limit", "x"), 'invalid argument "x" for "--pids-limit" flag: strconv.ParseInt: parsing "x": invalid syntax'),
    (("-m", "32m", "--memory-swap", "16m"), "Minimum memoryswap limit should be larger than memory limit, see usage."),
    (("--memory-swap", "16m"), "You should always set the Memory limit when using Memoryswap limit, see usage."),
])
def test_bad_limits_are_refused(dy: Dockyard, flags: tuple[str, ...], message: str) -> None:
    r = dy("run", "--rm", *flags, "bb", "true", check=False)
    assert r.returncode == 125 and message.rstrip(".") in r.stderr and r.stderr.rstrip().endswith("Run 'dockyard run --help' for more information")
    assert dy("ps", "-aq").stdout == ""
