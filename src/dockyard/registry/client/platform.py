"""Docker's platform matching (containerd's ``platforms`` package): normalise, then rank.

``linux/arm64/v8`` and ``linux/aarch64`` are the same platform; an ``arm``
host of variant v7 also runs v6 and v5 images, best first; an arm64 host also
runs 32-bit arm. Among index entries, the one whose platform ranks best wins,
the first listed on a tie (what containerd's ordered matcher does).
"""

from __future__ import annotations

from pathlib import Path

from dockyard.oci.descriptor import Descriptor, Platform
from dockyard.oci.platform import GOARCH, goarch, host_architecture
from dockyard.registry.client.errors import InvalidPlatformError, PlatformNotFoundError



def normalize(p: Platform) -> Platform:
    os_name = p.os.lower()
    os_name = {"macos": "darwin"}.get(os_name, os_name)
    raw_arch = p.architecture.lower()
    arch = goarch(raw_arch)
    variant = p.variant.lower()
    if raw_arch == "armhf":
        variant = "v7"
    elif raw_arch == "armel":
        variant = "v6"
    elif raw_arch in ("armv7l", "armv6l"):
        variant = "v" + raw_arch[4]
    if arch == "arm64" and variant in ("8", "v8"):
        variant = ""
    elif arch == "arm":
        variant = {"": "v7", "5": "v5", "6": "v6", "7": "v7", "8": "v8"}.get(variant, variant)
    elif arch == "amd64" and variant in ("1", "v1"):
        variant = ""
    return Platform(architecture=arch, os=os_name, variant=variant, os_version=p.os_version)


# Go's GOOS values, which containerd's platforms.Parse takes as an OS
_KNOWN_OS = frozenset(
    "aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd plan9 solaris wasip1 windows zos".split()
)


def parse(spec: str) -> Platform:
    """``os[/arch[/variant]]`` or just an architecture, as ``--platform`` takes it."""
    parts = spec.strip().split("/")
    if not spec.strip() or len(parts) > 3 or any(not part for part in parts):
        raise InvalidPlatformError(f'"{spec}": unknown operating system or architecture: invalid argument')
    if len(parts) == 1:
        word = parts[0].lower()
        if word in GOARCH:
            return normalize(Platform(architecture=word, os="linux"))
        if word not in _KNOWN_OS:  # containerd's Parse: one word must name an OS or an architecture
            raise InvalidPlatformError(f'"{spec}": unknown operating system or architecture: invalid argument')
        return normalize(Platform(architecture=host().architecture, os=word))
    os_name, arch, *rest = parts
    return normalize(Platform(architecture=arch, os=os_name, variant=rest[0] if rest else ""))


def _arm_variant() -> str:
    """The host's ARM version as containerd reads it from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("CPU architecture"):
                value = line.split(":", 1)[1].strip()
                return "v8" if value == "AArch64" else f"v{value}"
    except OSError:
        pass
    return ""


def host() -> Platform:
    arch = host_architecture()
    variant = _arm_variant() if arch == "arm" else ""
    return normalize(Platform(architecture=arch, os="linux", variant=variant))


def candidates(wanted: Platform) -> list[Platform]:
    """Platforms that can run where ``wanted`` runs, best first."""
    wanted = normalize(wanted)
    out = [wanted]
    if wanted.architecture == "arm" and wanted.variant.startswith("v") and wanted.variant[1:].isdigit():
        for version in range(int(wanted.variant[1:]) - 1, 4, -1):
            out.append(Platform("arm", wanted.os, f"v{version}"))
    elif wanted.architecture == "arm64":
        out += [Platform("arm", wanted.os, f"v{v}") for v in (8, 7, 6, 5)]
    elif wanted.architecture == "amd64" and wanted.variant.startswith("v") and wanted.variant[1:].isdigit():
        out += [Platform("amd64", wanted.os, f"v{v}" if v > 1 else "") for v in range(int(wanted.variant[1:]) - 1, 0, -1)]
    return out


def matches(offered: Platform, wanted: Platform) -> bool:
    a, b = normalize(offered), normalize(wanted)
    return (a.os, a.architecture, a.variant) == (b.os, b.architecture, b.variant)


def select(manifests: tuple[Descriptor, ...], wanted: Platform) -> Descriptor:
    """The index entry to pull for ``wanted``; PlatformNotFoundError in Docker's words."""
    ranked = candidates(wanted)
    best: tuple[int, Descriptor] | None = None
    for descriptor in manifests:
        if descriptor.platform is None:
            continue
        for rank, candidate in enumerate(ranked):
            if matches(descriptor.platform, candidate):
                if best is None or rank < best[0]:
                    best = (rank, descriptor)
                break
    if best is None:
        raise PlatformNotFoundError(f"no matching manifest for {format_platform(wanted)} in the manifest list entries")
    return best[1]


def format_platform(p: Platform) -> str:
    return "/".join(part for part in (p.os, p.architecture, p.variant) if part)
