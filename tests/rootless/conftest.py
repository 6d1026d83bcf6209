"""Fixtures for the rootless tests: a real unprivileged user (``useradd``, subordinate ranges) that runs
``dockyard`` with its own HOME and XDG dirs in a fresh directory per test (tests/helpers/rootless.py)."""

from __future__ import annotations

import os
import re
from typing import Iterator

import pytest

from tests.helpers.rootless import RootlessUser

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the set-up creates a user")

USER = "dyrootless"  # with a subordinate range
SINGLE_USER = "dyrootless1"  # without one: single-ID mapping


@pytest.fixture(scope="session")
def rootless_session_user() -> RootlessUser:
    if os.geteuid() != 0:
        pytest.skip("the set-up creates a user: needs root")
    return RootlessUser.ensure(USER)


@pytest.fixture
def rootless_user(rootless_session_user: RootlessUser, request: pytest.FixtureRequest) -> Iterator[RootlessUser]:
    """The user, with a fresh HOME and run-time dir for this test; what the test left running is stopped after."""
    rootless_session_user.begin_test(re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name))
    try:
        yield rootless_session_user
    finally:
        rootless_session_user.end_test()


@pytest.fixture
def single_id_user(request: pytest.FixtureRequest) -> Iterator[RootlessUser]:
    """A user without a subordinate range."""
    if os.geteuid() != 0:
        pytest.skip("the set-up creates a user: needs root")
    user = RootlessUser.ensure(SINGLE_USER, subordinate=False)
    user.begin_test(re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name))
    try:
        yield user
    finally:
        user.end_test()
