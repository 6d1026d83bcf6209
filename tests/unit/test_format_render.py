"""cli/format.render as Docker's formatter answers, Go's path.Match for reference filters, and flag errors."""

from __future__ import annotations

import pytest

from dockyard.cli.context import Parser, UsageError
from dockyard.cli.format import render, render_inspect
from dockyard.cli.gotemplate import Struct, go_json
from dockyard.engine.image_filters import go_path_match, matching_refs
from dockyard.errors import InvalidArgumentError
from dockyard.oci.reference import parse_docker_ref

IMAGE = "*formatter.imageContext"
ROW = {"Repository": "a/b", "Tag": "1", "Digest": "<none>", "ID": "abc"}


@pytest.mark.parametrize(
    "pattern, name, matched",
    [
        ("*", "busybox", True),
        ("*", "a/b", False),  # * never crosses '/'
        ("*/b", "a/b", True),
        ("d*", "docker.io/library/busybox", False),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("[a-c]x", "bx", True),
        ("[^a-c]x", "dx", True),
        ("[^a-c]x", "/x", False),
        ("\\*", "*", True),
        ("busybox:[0-9]*", "busybox:1.36", True),
    ],
)
def test_go_path_match(pattern: str, name: str, matched: bool) -> None:
    assert go_path_match(pattern, name) is matched


@pytest.mark.parametrize("pattern", ["[", "[]", "[-a]", "a\\", "[a-"])
def test_bad_pattern_is_the_daemons_error(pattern: str) -> None:
    with pytest.raises(InvalidArgumentError, match="^syntax error in pattern$"):
        go_path_match(pattern, "x")


def test_matching_refs_keeps_only_the_names_matched() -> None:
    refs = [parse_docker_ref(n) for n in ("busybox:1", "busybox:2", "other/busybox:1", "reg:5000/busybox:1")]
    kept = matching_refs(refs, ["busybox"])
    assert [r.familiar for r in kept] == ["busybox:1", "busybox:2"]
    assert [r.familiar for r in matching_refs(refs, ["*/busybox:1"])] == ["other/busybox:1", "reg:5000/busybox:1"]
    assert [r.familiar for r in matching_refs(refs, ["busybox:2"])] == ["busybox:2"]


def test_format_json_is_an_object_per_row_sorted_and_escaped() -> None:
    out = render("json", [{"Tag": "1", "Digest": "<none>"}, {"Tag": "2", "Digest": "a&b"}], {}, IMAGE)
    assert out == '{"Digest":"\\u003cnone\\u003e","Tag":"1"}\n{"Digest":"a\\u0026b","Tag":"2"}\n'


def test_plain_maps_keep_their_order_and_html() -> None:
    assert go_json({"b": "<", "a": 1}) == '{"b":"<","a":1}'
    assert go_json(Struct("*x", {"b": "<", "a": 1})) == '{"a":1,"b":"\\u003c"}'


@pytest.mark.parametrize("fmt", ["{{.Bogus}}", "{{.Repository}} {{.Bogus}}", "table {{.Bogus}}", "{{.Bogus | printf \"%s\"}}"])
def test_unknown_field_fails_as_dockers_struct(fmt: str) -> None:
    with pytest.raises(UsageError) as caught:
        render(fmt, [ROW], {"Repository": "REPOSITORY"}, IMAGE)
    assert caught.value.code == 1
    assert str(caught.value).startswith("template parsing error: template: :1:")
    assert str(caught.value).endswith("can't evaluate field Bogus in type *formatter.imageContext")


def test_maps_without_a_go_type_print_no_value() -> None:
    assert render("{{.Bogus}}", [ROW], {}) == "<no value>\n"


@pytest.mark.parametrize(
    "fmt, message",
    [
        ('{{"\\n"}}', "template parsing error: template: :1: unterminated quoted string"),
        ("{{.Repository", "template parsing error: template: :1: unclosed action"),
        ("{{end}}", "template parsing error: template: :1: unexpected {{end}}"),
    ],
)
def test_syntax_errors_are_usage_errors(fmt: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        render(fmt, [ROW], {}, IMAGE)
    assert (str(caught.value), caught.value.code) == (message, 1)


def test_ps_words_its_template_errors_itself() -> None:
    words = ("failed to parse template", "failed to execute template")
    with pytest.raises(UsageError, match="^failed to parse template: template: :1: unclosed action$"):
        render("{{.Names", [ROW], {}, "*formatter.ContainerContext", errors=words)
    with pytest.raises(UsageError, match="^failed to execute template: .*in type \\*formatter.ContainerContext$"):
        render("{{.Names}}", [ROW], {}, "*formatter.ContainerContext", errors=words)


def test_fast_path_still_prints_known_fields() -> None:
    assert render("{{.Repository}}:{{.Tag}}", [ROW], {}, IMAGE) == "a/b:1\n"
    assert render("table {{.Repository}}\t{{.Tag}}", [ROW], {"Repository": "REPOSITORY", "Tag": "TAG"}, IMAGE) == (
        "REPOSITORY   TAG\na/b          1\n"
    )


def test_inspect_json_is_the_list_on_one_line() -> None:
    assert render_inspect("json", [{"Id": "a"}, {"Id": "b"}]) == '[{"Id":"a"},{"Id":"b"}]\n'


def _filter_parser() -> Parser:
    parser = Parser(prog="dockyard images")
    parser.add_argument("-f", "--filter", action="append", default=[])
    return parser


def test_a_filter_without_equals_is_a_flag_error() -> None:
    with pytest.raises(UsageError) as caught:
        _filter_parser().parse_args(["--filter", "dangling"])
    assert caught.value.code == 125
    assert str(caught.value).splitlines()[0] == (
        'invalid argument "dangling" for "-f, --filter" flag: bad format of filter (expected name=value)'
    )
    assert _filter_parser().parse_args(["-f", "dangling=true"]).filter == ["dangling=true"]
