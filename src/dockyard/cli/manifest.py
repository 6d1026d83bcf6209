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
    if verbose:  # docker marshals each manifest's own bytes inside the record, so its tokens stay as served
        shown = "[" + ",".join(_verbose(e) for e in found.entries) + "]" if found.is_index else _verbose(found)
        return _escape_html(go_indent(shown, "\t")) + "\n"
    if found.is_index:
        return _escape_html(json.dumps(_manifest_list(found), indent="   ", ensure_ascii=False)) + "\n"
    return go_indent(found.raw.decode(), "\t") + "\n"


def go_indent(text: str, indent: str) -> str:
    """Go's json.Indent: the document's own tokens and escapes, re-laid out; trailing white space kept."""
    json.loads(text)  # a document that is not JSON is refused, as Go refuses it
    out: list[str] = []
    depth, in_string, escaped, opened = 0, False, False, False
    for char in text.lstrip(" \t\r\n"):
        if in_string:
            out.append(char)
            in_string, escaped = (escaped or char != '"'), (not escaped and char == "\\")
        elif char in " \t\r\n":
            continue
        elif char in "}]":
            depth -= 1
            out.append(char if opened else "\n" + indent * depth + char)  # an empty {} or [] stays as it is
            opened = False
        else:
            if opened:
                out.append("\n" + indent * depth)
            opened = char in "{["
            depth += opened
            in_string = char == '"'
            out.append({",": ",\n" + indent * depth, ":": ": "}.get(char, char))
    return "".join(out) + text[len(text.rstrip(" \t\r\n")) :]


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


def _verbose(found: RemoteManifest) -> str:
    """docker's ImageManifest record, compact: Ref, Descriptor, Raw (base64), then the manifest itself."""
    descriptor: dict[str, object] = {"mediaType": found.media_type, "digest": str(found.digest), "size": len(found.raw)}
    if found.platform:
        descriptor["platform"] = {k: v for k, v in found.platform if k != "features"}  # an OCI platform has no features
    record = {"Ref": str(found.reference), "Descriptor": descriptor, "Raw": base64.b64encode(found.raw).decode()}
    kind = "OCIManifest" if found.media_type == OCI_MANIFEST else "SchemaV2Manifest"
    head = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    return f'{head[:-1]},"{kind}":{found.raw.decode()}}}'


def _escape_html(text: str) -> str:
    """Go's encoder escapes <, > and & (only strings can hold them) and the JavaScript line separators."""
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text
