"""``manifest inspect``: a remote image's manifest or manifest list, printed as docker prints it.

Without ``--verbose`` an image manifest is the registry's document indented
with tabs (Go's ``json.Indent``), and an index is rebuilt as a Docker
manifest list from the manifests it names (three-space indent, as
distribution marshals it). With ``--verbose`` each image manifest is shown
with its reference, descriptor, base64 bytes and parsed form. The two-name
form reads docker's local manifest lists (``manifest create``), which
dockyard does not keep: it answers as docker does for a list it lacks.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from typing import TYPE_CHECKING

from dockyard.cli.context import Context, UsageError
from dockyard.errors import DockyardError, InvalidArgumentError

if TYPE_CHECKING:
    from dockyard.engine.registry import RemoteManifest

MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DESCRIPTOR_KEYS = ("mediaType", "size", "digest", "urls", "annotations", "platform")  # distribution.Descriptor
MANIFEST_KEYS = ("schemaVersion", "mediaType", "config", "layers", "annotations")


def register(commands: argparse._SubParsersAction) -> None:
    manifest = commands.add_parser("manifest", help="Manage Docker image manifests and manifest lists", prog="dockyard manifest")
    sub = manifest.add_subparsers(dest="manifest_command", metavar="COMMAND", parser_class=type(manifest))
    p = sub.add_parser("inspect", help="Display an image manifest, or manifest list", prog="dockyard manifest inspect")
    p.add_argument("args", nargs="*", metavar="[MANIFEST_LIST] MANIFEST")
    p.add_argument("--insecure", action="store_true", help="Allow communication with an insecure registry")
    p.add_argument("-v", "--verbose", action="store_true", help="Output additional info including layers and platform")
    p.set_defaults(handler=inspect_cmd)


def inspect_cmd(ctx: Context, args: argparse.Namespace) -> int:
    if not 1 <= len(args.args) <= 2:
        raise UsageError(
            "\"dockyard manifest inspect\" requires at least 1 and at most 2 arguments.\n"
            "See 'dockyard manifest inspect --help'.", 1,
        )  # fmt: skip
    from dockyard.engine.registry import parse_reference

    try:
        ref = parse_reference(args.args[-1])
    except InvalidArgumentError as exc:
        raise UsageError(str(exc), 1) from None
    if len(args.args) == 2:  # a manifest of a list made by `manifest create`: there is no local list store
        print(f"No such manifest: {ref.with_default_tag()}", file=sys.stderr)
        return 1
    try:
        found = ctx.engine.registry.manifest(ref, insecure=args.insecure, verbose=args.verbose)
    except DockyardError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    sys.stdout.write(render(found, args.verbose))
    return 0


def render(found: RemoteManifest, verbose: bool) -> str:
    if verbose:
        shown = [_verbose(e) for e in found.entries] if found.is_index else _verbose(found)
        return _go_json(shown, "\t") + "\n"
    if found.is_index:
        return _go_json(_manifest_list(found), "   ") + "\n"
    return json.dumps(json.loads(found.raw), indent="\t", ensure_ascii=False) + "\n"  # json.Indent keeps the document


def _manifest_list(found: RemoteManifest) -> dict[str, object]:
    entries = []
    for entry in found.entries:
        platform = dict(entry.platform)
        entries.append({
            "mediaType": entry.media_type,
            "size": len(entry.raw),
            "digest": str(entry.digest),
            "platform": {"architecture": platform.pop("architecture", ""), "os": platform.pop("os", ""), **platform},
        })  # fmt: skip
    return {"schemaVersion": 2, "mediaType": MANIFEST_LIST, "manifests": entries}


def _verbose(found: RemoteManifest) -> dict[str, object]:
    descriptor: dict[str, object] = {"mediaType": found.media_type, "digest": str(found.digest), "size": len(found.raw)}
    if found.platform:
        descriptor["platform"] = {k: v for k, v in found.platform if k != "features"}  # an OCI platform has no features
    document = json.loads(found.raw)
    parsed = _ordered(document, MANIFEST_KEYS)
    for key in ("config",):
        if isinstance(parsed.get(key), dict):
            parsed[key] = _ordered(parsed[key], DESCRIPTOR_KEYS)
    if isinstance(parsed.get("layers"), list):
        parsed["layers"] = [_ordered(layer, DESCRIPTOR_KEYS) for layer in parsed["layers"]]
    kind = "OCIManifest" if found.media_type == OCI_MANIFEST else "SchemaV2Manifest"
    return {"Ref": str(found.reference), "Descriptor": descriptor, "Raw": base64.b64encode(found.raw).decode(), kind: parsed}


def _ordered(data: dict[str, object], keys: tuple[str, ...]) -> dict[str, object]:
    """Go marshals struct fields in declaration order; fields it does not know come last here."""
    return {**{k: data[k] for k in keys if k in data}, **{k: v for k, v in data.items() if k not in keys}}


def _go_json(value: object, indent: str) -> str:
    """json.MarshalIndent: Go escapes <, > and & in strings."""
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
