""".dockerignore semantics (moby/patternmatcher) and how COPY sources resolve in a context."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.build.context import BuildContext, SourceNotFoundError, load_ignore
from dockyard.build.ignore import IgnoreMatcher
from dockyard.errors import InvalidArgumentError


@pytest.mark.parametrize(("patterns", "path", "excluded"), [
    (["*.go"], "main.go", True),
    (["*.go"], "dir/main.go", False),  # one path element only
    (["**/*.go"], "dir/sub/main.go", True),
    (["**/*.go"], "main.go", True),
    (["docs"], "docs/a/b.md", True),  # a directory excludes what is below it
    (["docs/"], "docs/a.md", True),
    (["/docs"], "docs/a.md", True),
    (["docs", "!docs/keep.md"], "docs/keep.md", False),
    (["docs", "!docs/keep.md"], "docs/other.md", True),
    (["!docs/keep.md", "docs"], "docs/keep.md", True),  # the last match wins
    (["a/**/b"], "a/b", True),
    (["a/**/b"], "a/x/y/b", True),
    (["a/**/b"], "a/x/y/c", False),
    (["**"], "anything/at/all", True),
    (["f?o"], "foo", True),
    (["f?o"], "f/o", False),
    (["[a-c]x"], "bx", True),
    (["[^a-c]x"], "bx", False),
    (["[!a-c]x"], "bx", True),  # Go: "!" is no negation
    (["# comment", "", "x"], "x", True),
    (["*", "!keep"], "keep", False),
    (["./sub/../x"], "x", True),
])  # fmt: skip
def test_ignore_patterns(patterns: list[str], path: str, excluded: bool) -> None:
    assert IgnoreMatcher(patterns).excluded(path) is excluded


def _context(tmp_path: Path, files: dict[str, str], ignore: str = "") -> BuildContext:
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(data)
    return BuildContext(tmp_path, IgnoreMatcher(ignore.splitlines()))


def test_resolve_globs_dirs_and_ignored(tmp_path: Path) -> None:
    ctx = _context(tmp_path, {"a.txt": "a", "b.txt": "b", "c.md": "c", "d/x.txt": "x", "d/y.log": "y", "d/e/z": "z"},
                   "*.md\n**/*.log\n")
    assert [s.rel for s in ctx.resolve("*.txt")] == ["a.txt", "b.txt"]
    assert [s.rel for s in ctx.resolve("d/*.txt")] == ["d/x.txt"]
    assert ctx.walk(ctx.resolve("d")[0]) == ["d/e", "d/e/z", "d/x.txt"]
    with pytest.raises(SourceNotFoundError):
        ctx.resolve("c.md")
    with pytest.raises(SourceNotFoundError):
        ctx.resolve("*.log")
    with pytest.raises(InvalidArgumentError, match="outside the build context"):
        ctx.resolve("../etc/passwd")


def test_exception_below_an_ignored_directory(tmp_path: Path) -> None:
    ctx = _context(tmp_path, {"d/keep": "k", "d/drop": "d"}, "d\n!d/keep\n")
    assert ctx.walk(ctx.resolve(".")[0]) == ["d/keep"]


def test_checksum_follows_content_and_mode_not_time(tmp_path: Path) -> None:
    ctx = _context(tmp_path, {"f": "one"})
    first = ctx.checksum(ctx.resolve("f"))
    (tmp_path / "f").touch()
    assert ctx.checksum(ctx.resolve("f")) == first
    (tmp_path / "f").chmod(0o600)
    assert ctx.checksum(ctx.resolve("f")) != first


def test_dockerfile_specific_ignore_wins(tmp_path: Path) -> None:
    _context(tmp_path, {".dockerignore": "a\n", "build/Dockerfile": "", "build/Dockerfile.dockerignore": "b\n"})
    assert load_ignore(tmp_path, tmp_path / "build" / "Dockerfile").excluded("b")
    assert not load_ignore(tmp_path, tmp_path / "build" / "Dockerfile").excluded("a")
    assert load_ignore(tmp_path, tmp_path / "Dockerfile").excluded("a")


def test_symlinks_never_lead_out_of_the_context(tmp_path: Path) -> None:
    ctx = _context(tmp_path / "ctx", {"real/f": "inside"})
    (tmp_path / "secret").write_text("host file")
    (tmp_path / "ctx" / "up").symlink_to(tmp_path)  # an absolute link to the context's parent
    (tmp_path / "ctx" / "rel").symlink_to("real")
    with pytest.raises(SourceNotFoundError):
        ctx.resolve("up/secret")  # resolved inside the context: there is no /secret there
    assert [s.path.read_text() for s in ctx.resolve("rel/f")] == ["inside"]
    assert [s.rel for s in ctx.resolve("rel/*")] == ["real/f"]


def test_context_tar_cannot_escape(tmp_path: Path) -> None:
    import io
    import tarfile

    from dockyard.build.context import unpack_context

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, link in (("../evil", tarfile.REGTYPE, ""), ("/abs", tarfile.REGTYPE, ""),
                                 ("out", tarfile.SYMTYPE, "/"), ("out/planted", tarfile.REGTYPE, "")):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, link
            tar.addfile(info, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    (tmp_path / "ctx.tar").write_bytes(buf.getvalue())
    dest = unpack_context(tmp_path / "ctx.tar", tmp_path / "ctx")
    # "out" points at "/": followed inside the context, "out/planted" lands at its root, not the host's
    assert sorted(p.name for p in dest.iterdir()) == ["abs", "evil", "out", "planted"]
    assert not (tmp_path / "evil").exists() and not Path("/planted").exists()
