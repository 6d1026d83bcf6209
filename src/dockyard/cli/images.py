"""The image commands: argument parsing and printing; the work is the engine's ImageService (``engine.image_service``)."""

from __future__ import annotations

import argparse
import os
import sys

from dockyard.cli import views
from dockyard.cli.context import Context, UsageError, confirm, error_line, missing_object_line, require_args
from dockyard.cli.filters import parse_filters
from dockyard.cli.format import render, render_inspect, to_json
from dockyard.cli.units import human_size
from dockyard.errors import DockyardError, ImageNotFoundError, InvalidArgumentError, NotFoundError

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Callable

DEFAULT_IMAGES_FORMAT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
DIGESTS_IMAGES_FORMAT = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
DEFAULT_HISTORY_FORMAT = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"


def register(commands: argparse._SubParsersAction, image_commands: argparse._SubParsersAction) -> None:
    """Each command under ``image`` and, where Docker has one, its top-level alias."""
    for names, top, setup in (
        (["ls", "list"], "images", _ls_args),
        (["rm", "remove"], "rmi", _rm_args),
        (["tag"], "tag", _tag_args),
        (["save"], "save", _save_args),
        (["load"], "load", _load_args),
        (["import"], "import", _import_args),
        (["history"], "history", _history_args),
        (["inspect"], "inspect", _inspect_args),
        (["prune"], None, _prune_args),
    ):
        setup(image_commands.add_parser(names[0], aliases=names[1:], prog=f"dockyard image {names[0]}"))
        if top:
            setup(commands.add_parser(top, prog=f"dockyard {top}"))


# images ------------------------------------------------------------------------


def _ls_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="REPOSITORY[:TAG]")
    p.add_argument("-a", "--all", action="store_true", help="Show all images (default hides intermediate images)")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("--digests", action="store_true", help="Show digests")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions provided")
    p.add_argument("--format", default="", help="Pretty-print images using a Go template")
    p.set_defaults(handler=images_cmd)


def images_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "images", 1, at_most=True)
    filters = parse_filters(args.filter)
    if args.args:
        filters.setdefault("reference", []).append(args.args[0])
    listing = ctx.engine.image_service.list(filters)
    rows = views.image_rows(listing.images, show_all=args.all, no_trunc=args.no_trunc, has_children=listing.parents)
    if "reference" in filters:
        rows = [r for r in rows if r["Repository"] != "<none>" or r["Tag"] != "<none>"]
    fmt = _listing_format(args.format, args.quiet, DIGESTS_IMAGES_FORMAT if args.digests else DEFAULT_IMAGES_FORMAT)
    sys.stdout.write(render(fmt, rows, views.IMAGE_HEADERS, "*formatter.imageContext"))
    return 0


def _listing_format(fmt: str, quiet: bool, default: str) -> str:
    """Docker's formatter: a template of the user's wins over -q; "table" alone is the default table."""
    if fmt and fmt != "table":
        return fmt
    return "{{.ID}}" if quiet else default


# rmi ---------------------------------------------------------------------------


def _rm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="IMAGE")
    p.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
    p.add_argument("--no-prune", action="store_true", help="Do not delete untagged parents")
    p.set_defaults(handler=rmi_cmd)


def rmi_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "rmi", 1)
    status = 0
    for name in args.args:
        try:
            removal = ctx.engine.image_service.remove(name, force=args.force, prune=not args.no_prune)
        except DockyardError as exc:
            # the daemon answers rmi, even for a name it does not know; with -f that is no failure
            print(f"Error response from daemon: {exc}" if isinstance(exc, NotFoundError) else error_line(exc), file=sys.stderr)
            if not (args.force and isinstance(exc, NotFoundError)):
                status = 1
            continue
        for line in removal.untagged:
            print(f"Untagged: {line}")
        for line in removal.deleted:
            print(f"Deleted: {line}")
    return status


# tag ---------------------------------------------------------------------------


def _tag_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")
    p.set_defaults(handler=tag_cmd)


def tag_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "tag", 2, exact=True)
    from dockyard.engine.images import check_tag

    try:
        check_tag(args.args[1])  # Docker's CLI refuses a bad target before it asks the daemon
    except InvalidArgumentError as exc:
        raise UsageError(f'Error parsing reference: "{args.args[1]}" is not a valid repository/tag: {exc}', 1) from exc
    if "@" in args.args[1]:  # a valid name with '@' has a digest: Docker's API client refuses it
        raise UsageError("refusing to create a tag with a digest reference", 1)
    ctx.engine.image_service.tag(args.args[0], args.args[1])
    return 0


# save / load -------------------------------------------------------------------


def _save_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="IMAGE")
    p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    p.set_defaults(handler=save_cmd)


def save_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "save", 1)
    try:
        return _save(ctx, args)
    except ImageNotFoundError as exc:
        from dockyard.engine.images import missing_image_error

        raise missing_image_error(exc) from exc


def _save(ctx: Context, args: argparse.Namespace) -> int:
    if not args.output:
        if sys.stdout.isatty():
            raise UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect", 1)
        out = sys.stdout.buffer
        ctx.engine.image_service.save(args.args, _BufferedOut(out))  # type: ignore[arg-type]
        out.flush()
        return 0
    target = os.path.abspath(args.output)
    if os.path.exists(target) and not os.path.isfile(target):
        raise UsageError(f'failed to save image: invalid output path: "{args.output}" must be a regular file', 1)
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):  # Docker's CLI checks where the file goes before it asks for the images
        reason = "not a directory" if os.path.exists(parent) else "no such file or directory"
        raise UsageError(f"failed to save image: invalid output path: stat {os.path.dirname(args.output) or '.'}: {reason}", 1)
    ctx.engine.image_service.save_to_file(args.args, args.output)
    return 0


class _BufferedOut:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out

    def write(self, data: bytes) -> int:
        return self.out.write(data)


def _load_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("-i", "--input", help="Read from tar archive file, instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")
    p.set_defaults(handler=load_cmd)


def load_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "load", 0, at_most=True)
    if args.input is None and sys.stdin.isatty():
        raise UsageError("requested load from stdin, but stdin is empty", 1)
    if args.input is not None:
        _check_readable(args.input)
    progress = _progress_printer() if not args.quiet and sys.stdout.isatty() else None
    result = ctx.engine.image_service.load(args.input, sys.stdin.buffer, progress)
    for line in result.renamed + result.loaded:
        print(line)
    return 0


def _check_readable(path: str) -> None:
    """Docker's CLI opens the file itself: one it cannot open is its error, not the daemon's."""
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise UsageError(f"open {path}: {(exc.strerror or str(exc)).lower()}", 1) from None


def _progress_printer() -> Callable[[str, int], None]:
    """Docker's finished bar for each layer as it is stored (only on a terminal)."""

    def show(layer: str, size: int) -> None:
        total = human_size(size)
        print(f"{layer}: Loading layer [{'=' * 49}>]  {total}/{total}", flush=True)

    return show


# import ------------------------------------------------------------------------


def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="file|URL|- [REPOSITORY[:TAG]]")
    p.add_argument("-c", "--change", action="append", default=[], help="Apply Dockerfile instruction to the created image")
    p.add_argument("-m", "--message", default="", help="Set commit message for imported image")
    p.add_argument("--platform", default="", help="Set platform if server is multi-platform capable")
    p.set_defaults(handler=import_cmd)


def import_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "import", 1)
    require_args(args, "import", 2, at_most=True)
    from dockyard.engine.image_writes import ImportOptions

    source = args.args[0]
    if source != "-" and "://" not in source:
        _check_readable(source)
    repository = args.args[1] if len(args.args) == 2 else None
    options = ImportOptions(args.args[0], repository, args.change, args.message)
    print(ctx.engine.image_service.import_image(options, sys.stdin.buffer))
    return 0


# history -----------------------------------------------------------------------


def _history_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="IMAGE")
    p.add_argument("-H", "--human", type=_bool, nargs="?", const=True, default=True, help="Print sizes and dates in human readable format")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("--format", default="", help="Pretty-print images using a Go template")
    p.set_defaults(handler=history_cmd)


def _bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise argparse.ArgumentTypeError(f'invalid argument "{value}" for "-H, --human" flag: strconv.ParseBool: parsing "{value}": invalid syntax')


def history_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "history", 1, exact=True)
    history = ctx.engine.image_service.history(args.args[0])
    rows = views.history_rows(history.image, history.layer_sizes, human=args.human, no_trunc=args.no_trunc)
    fmt = _listing_format(args.format, args.quiet, DEFAULT_HISTORY_FORMAT)
    sys.stdout.write(render(fmt, rows, views.HISTORY_HEADERS, "*image.historyContext"))
    return 0


# inspect -----------------------------------------------------------------------


def _inspect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="IMAGE")
    p.add_argument("-f", "--format", default="", help="Format the output using the given Go template")
    p.add_argument("--type", default="", help=argparse.SUPPRESS)
    p.add_argument("-s", "--size", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(handler=inspect_cmd)


def inspect_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "inspect", 1)
    if args.type and args.type != "image":
        raise UsageError(f'"{args.type}" is not a valid value for --type', 1)
    service = ctx.engine.image_service
    found: list[dict[str, Any]] = []
    missing: list[str] = []
    for name in args.args:
        try:
            details = service.inspect(name)
        except (ImageNotFoundError, InvalidArgumentError) as exc:
            # Docker 28 names the object, then the daemon's answer
            missing.append(missing_object_line("image", name, exc))
            continue
        found.append(views.inspect_image(details))
    if args.format:
        template_out = render_inspect(args.format, found)
        sys.stdout.write(template_out)
    else:
        print(to_json(found))
    for line in missing:
        print(line, file=sys.stderr)
    return 1 if missing else 0


# prune -------------------------------------------------------------------------


def _prune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused images, not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values (e.g. 'until=<timestamp>')")
    p.set_defaults(handler=prune_cmd)


def prune_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "image prune", 0, at_most=True)
    filters = parse_filters(args.filter)
    from dockyard.engine.image_filters import check_prune_filters

    check_prune_filters(filters)  # bad filters fail before the prompt
    if not args.force:
        warning = (
            "WARNING! This will remove all images without at least one container associated to them."
            if args.all
            else "WARNING! This will remove all dangling images."
        )
        if not confirm(warning):
            return 0
    report = ctx.engine.image_service.prune(filters, all=args.all)
    if report.removals:
        print("Deleted Images:")
        for removal in report.removals:
            for line in removal.untagged:
                print(f"untagged: {line}")
            for line in removal.deleted:
                print(f"deleted: {line}")
        print()
    print(f"Total reclaimed space: {human_size(report.reclaimed)}")
    return 0

