"""Architecture names as Go, and so Docker and OCI platforms, spell them."""

from __future__ import annotations

import os

# kernel (uname -m) and distribution spellings -> GOARCH
GOARCH = {
    "x86_64": "amd64", "x86-64": "amd64", "amd64": "amd64",
    "i386": "386", "i686": "386", "386": "386",
    "aarch64": "arm64", "arm64": "arm64",
    "armhf": "arm", "armel": "arm", "arm": "arm", "armv7l": "arm", "armv6l": "arm",
    "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64", "mips64": "mips64", "mips64le": "mips64le",
}  # fmt: skip


def goarch(name: str) -> str:
    """``name`` as GOARCH spells it; an unknown name is returned lower-cased."""
    name = name.lower()
    return GOARCH.get(name, name)


def host_architecture() -> str:
    """This machine's architecture as GOARCH spells it (``amd64`` on x86_64)."""
    return goarch(os.uname().machine)
