"""The per-user store and the user namespace: where things land, who owns them, one pause process per user."""

from __future__ import annotations

import os

from tests.helpers.rootless import RootlessUser


def test_images_as_a_user_makes_its_store_in_its_xdg_dir(rootless_user: RootlessUser) -> None:
    result = rootless_user.run(["images"], check=True)
    assert result.stdout.split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert (rootless_user.store / "dockyard.db").is_file()
    assert os.stat(rootless_user.store).st_uid == rootless_user.uid
    assert not (rootless_user.home / ".local" / "share" / "dockyard" / "overlay2").is_symlink()
    run_dir = rootless_user.run_dir
    assert os.stat(run_dir).st_uid == rootless_user.uid and os.stat(run_dir).st_mode & 0o777 == 0o700
    assert rootless_user.pause_pid() is not None
