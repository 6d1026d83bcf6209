"""Where a user's store and run-time state live, and how the user namespace's maps are read (no user needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.engine import default_root
from dockyard.engine.rootless import ROOT_RUN_DIR, ROOT_STORE, UserPaths, private_run_dir, user_paths
from dockyard.errors import StorageError
from dockyard.runtime.userns import IdRange, Mapping, current_mapping, in_user_namespace, rootless, subordinate_range

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or in_user_namespace(), reason="root's own view of the paths")


def test_root_keeps_var_lib_and_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_ROOT", raising=False)
    assert user_paths() == UserPaths(ROOT_STORE, ROOT_RUN_DIR) == UserPaths(Path("/var/lib/dockyard"), Path("/run/dockyard"))
    assert default_root() == Path("/var/lib/dockyard")
    monkeypatch.setenv("DOCKYARD_ROOT", "/srv/store")
    assert default_root() == Path("/srv/store")
    assert not rootless()
    assert current_mapping().uids == (IdRange(0, 0, 4294967295),)


def test_subordinate_ranges_are_read_by_name_or_uid(tmp_path: Path) -> None:
    table = tmp_path / "subuid"
    table.write_text("other:100000:65536\nalice:200000:1000\n1234:300000:10\nempty:400000:0\nbad:x:y\n")
    assert subordinate_range(str(table), "alice", 1000) == IdRange(1, 200000, 1000)
    assert subordinate_range(str(table), "bob", 1234) == IdRange(1, 300000, 10)
    assert subordinate_range(str(table), "empty", 5) is None
    assert subordinate_range(str(table), "bad", 6) is None
    assert subordinate_range(str(tmp_path / "missing"), "alice", 1000) is None


def test_a_mapping_names_the_host_ids() -> None:
    mapping = Mapping((IdRange(0, 1000, 1), IdRange(1, 100000, 65536)), (IdRange(0, 1000, 1),))
    assert mapping.host_uid(0) == 1000 and mapping.host_uid(1000) == 100999 and mapping.host_uid(70000) is None
    assert mapping.host_gid(0) == 1000 and mapping.host_gid(1) is None


def test_a_run_dir_must_be_private_and_ours(tmp_path: Path) -> None:
    made = private_run_dir(tmp_path / "run" / "dockyard")
    assert made.stat().st_mode & 0o777 == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    with pytest.raises(StorageError, match="must be a directory of mode 0700"):
        private_run_dir(shared)
    link = tmp_path / "link"
    link.symlink_to(made)
    os.lchown(link, 65534, 65534)
    with pytest.raises(StorageError):
        private_run_dir(link)
