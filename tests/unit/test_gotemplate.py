"""Go text/template as Docker's --format uses it.

Expected strings were produced by Go 1.19's text/template with docker/cli's
template functions, except where a comment says the case is about how
Python data stands in for Go's typed values (None, dict key order).
"""

from __future__ import annotations

import pytest

from dockyard.cli.gotemplate import (
    HEADER_FUNCS,
    MISSING,
    Method,
    Struct,
    TemplateError,
    go_json,
    go_sprint,
    go_sprintf,
    parse,
)

IMAGE = {
    "Repository": "nginx",
    "Tag": "latest",
    "ID": "sha256:2d389e545974",
    "Size": 1240000,
    "RepoTags": ["nginx:latest", "nginx:1.25"],
    "Names": ["web", "db"],
    "Empty": [],
    "Labels": {"b": "2", "a": "1", "com.example.vendor": "ACME <dev> & co"},
    "Config": {
        "Env": ["PATH=/usr/bin", "A=<b>&c"],
        "Labels": {"foo": "bar"},
        "Cmd": ["sh", "-c", "echo hi"],
        "ExposedPorts": None,
    },
    "Nested": {"A": {"B": {"C": "deep"}}},
    "Nums": [3, 1, 2],
    "Float": 1.5,
    "Big": 1000000.0,
    "Int": 42,
    "True": True,
    "False": False,
    "Zero": 0,
    "EmptyStr": "",
    "S": "hello world",
    "U": "héllo wörld",
    "Map": {"z": 1, "a": [1, 2], "m": {"x": "y"}},
    "Mixed": [1, "a", True, 2.5, None],
    "Nil": None,
}

RENDER_CASES = [
    # Docker's everyday formats
    ("{{.Repository}}:{{.Tag}}", "nginx:latest"),
    ("{{.ID}}\t{{.Size}}", "sha256:2d389e545974\t1240000"),
    ("{{index .RepoTags 0}}", "nginx:latest"),
    ("{{range .RepoTags}}{{.}} {{end}}", "nginx:latest nginx:1.25 "),
    ('{{join .Names ","}}', "web,db"),  # a list of str is Docker's []string
    ("{{if .True}}y{{else}}n{{end}}", "y"),
    ("{{if .False}}y{{else}}n{{end}}", "n"),
    ("{{.Config.Labels.foo}}", "bar"),
    ('{{index .Config.Labels "foo"}}', "bar"),
    ('{{printf "%-10s|" .Repository}}', "nginx     |"),
    ("{{json .Config.Env}}", '["PATH=/usr/bin","A=<b>&c"]'),
    ("{{json .Nested}}", '{"A":{"B":{"C":"deep"}}}'),
    ('{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}', "a=1;b=2;com.example.vendor=ACME <dev> & co;"),
    ("{{range $i, $t := .RepoTags}}{{if $i}}, {{end}}{{$t}}{{end}}", "nginx:latest, nginx:1.25"),
    ("{{len .RepoTags}}", "2"),
    ("{{with .Config}}{{.Cmd}}{{end}}", "[sh -c echo hi]"),
    ("{{.Config.Cmd}}", "[sh -c echo hi]"),
    ("{{ .Repository }} {{- .Tag -}} !", "nginxlatest!"),
    # missing keys print <no value>, like a Go map
    ("{{.Missing}}", "<no value>"),
    ("{{.Config.Missing.Deeper}}", "<no value>"),
    ('{{index .Map "nope"}}', "<no value>"),
    ("{{print .Missing}}", "<nil>"),
    ("{{json .Missing}}", "null"),
    # Go's %v for values
    ("{{.Nums}}", "[3 1 2]"),
    ("{{.Labels}}", "map[a:1 b:2 com.example.vendor:ACME <dev> & co]"),
    ("{{.Map}}", "map[a:[1 2] m:map[x:y] z:1]"),
    ("{{.Float}} {{.Big}} {{.Int}} {{.True}} {{.False}}", "1.5 1e+06 42 true false"),
    ("{{.Empty}} {{.EmptyStr}}|", "[] |"),
    ("{{1e3}} {{0x1F}} {{017}} {{1_000}} {{'a'}} {{-5}} {{.5}} {{1.5e2}}", "1000 31 15 1000 97 -5 0.5 150"),
    ('{{"esc\\t\\x41\\u00e9\\101"}}|{{`raw\\n`}}', "esc\tAéA|raw\\n"),
    ("{{true}} {{false}}", "true false"),
    # conditionals, with, range
    ("{{if .Missing}}a{{else if .Zero}}b{{else if .S}}c{{else}}d{{end}}", "c"),
    ("{{if and .True .S}}yes{{end}}", "yes"),
    ("{{if or .False .Zero .EmptyStr}}yes{{else}}no{{end}}", "no"),
    ("{{if not .Empty}}empty{{end}}", "empty"),
    ("{{with .Missing}}x{{else}}none{{end}}", "none"),
    ("{{with $t := .Tag}}{{$t}}{{end}}", "latest"),
    ("{{range .Empty}}x{{else}}empty{{end}}", "empty"),
    ("{{range .Missing}}x{{else}}none{{end}}", "none"),
    ("{{range .Map}}{{.}};{{end}}", "[1 2];map[x:y];1;"),
    ("{{range $v := .Nums}}{{$v}}{{end}}", "312"),
    ("{{range .Nums}}{{if eq . 1}}{{break}}{{end}}{{.}}{{end}}", "3"),
    ("{{range .Nums}}{{if eq . 1}}{{continue}}{{end}}{{.}}{{end}}", "32"),
    ("{{range .Nums}}{{$.Tag}}{{end}}", "latestlatestlatest"),
    # variables
    ("{{$x := 1}}{{$x}}{{$x = 2}}{{$x}}", "12"),
    ("{{$x := 0}}{{range .Nums}}{{$x = .}}{{end}}{{$x}}", "2"),
    ("{{$x := .Tag}}{{if $x}}{{$x := 2}}{{$x}}{{end}}{{$x}}", "2latest"),
    ("{{$.Repository}} {{$.Nested.A.B.C}}", "nginx deep"),
    # pipelines and parentheses
    ('{{.Tag | printf "%s!"}}', "latest!"),
    ('{{"a" | upper | printf "[%s]"}}', "[A]"),
    ('{{.Int | printf "%d-%s" "x"}}', "%!d(string=x)-%!s(int=42)"),
    ("{{.Tag | len}}", "6"),
    ('{{(index .Nested "A").B.C}}', "deep"),
    ('{{index .Nested "A" "B" "C"}}', "deep"),
    ('{{printf "%d items" (len .Nums)}}', "3 items"),
    # comparisons
    ('{{eq .Tag "latest"}} {{eq .Int 1 2 42}} {{ne .Tag "x"}}', "true true true"),
    ('{{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge 2 3}} {{lt "a" "b"}}', "true true false false true"),
    ("{{eq .Missing .Missing}} {{eq .Missing 1}}", "true false"),
    ("{{and 1 0 2}} {{and 1 2}} {{or 0 \"\" 3}} {{or 0 \"\"}} {{not 0}}", "0 2 3  true"),
    ("{{and 0 (index .Nums 9)}} {{or 1 (index .Nums 9)}}", "0 1"),  # and/or short-circuit
    # index and slice
    ("{{index .S 1}} {{index .Nums 2}}", "101 2"),
    ("{{slice .S 1 3}} {{slice .Nums 1}} {{slice .Nums 0 1}}", "el [1 2] [3]"),
    ("{{len .S}} {{len .U}} {{len .Labels}}", "11 13 3"),
    # print functions
    ('{{print 1 2 "a" "b" 3 .True}}', "1 2ab3 true"),
    ('{{println 1 "a"}}', "1 a\n"),
    ('{{html "<a href=\'x\'>&"}} {{js "<a>\'="}} {{urlquery "a b&c=d/é"}}',
     "&lt;a href=&#39;x&#39;&gt;&amp; \\u003Ca\\u003E\\'\\u003D a+b%26c%3Dd%2F%C3%A9"),  # fmt: skip
    # docker/cli functions
    ("{{json .Labels}}", '{"b":"2","a":"1","com.example.vendor":"ACME <dev> & co"}'),  # dict order, not sorted
    ("{{json .Float}} {{json .Big}} {{json 1e21}} {{json 0.0000001}} {{json .True}}", "1.5 1000000 1e+21 1e-7 true"),
    ('{{json "<a>&\\t\\n\\x01\\u2028"}}', '"<a>&\\t\\n\\u0001\\u2028"'),
    ("{{json .Empty}} {{json .Mixed}}", "[] [1,\"a\",true,2.5,null]"),
    ('{{split "a,b,c" ","}} {{split "abc" ""}} {{len (split "" ",")}}', "[a b c] [a b c] 1"),
    ('{{join (split "a b c" " ") "-"}}', "a-b-c"),
    ('{{lower "HeLLo"}} {{upper "héllo"}} {{upper "ß"}}', "hello HÉLLO ß"),
    ('{{title "hello wOrld-foo_bar baz.qux"}}', "Hello WOrld-Foo_bar Baz.Qux"),
    ('{{pad "x" 2 3}}|{{pad "" 2 3}}|', "  x   ||"),
    ('{{truncate "hello" 3}} {{truncate "hi" 5}} {{truncate .ID 12}}', "hel hi sha256:2d389"),
    # comments and trim markers
    ("a {{- /* comment */ -}} b", "ab"),
    ("{{/* comment */}}x", "x"),
    ("{{- 3}} {{-3}}", "3 -3"),
    ("a\n  {{- .Tag}}\n{{.Tag -}}\n  b", "alatest\nlatestb"),
    # define and template
    ('{{define "t"}}[{{.}}]{{end}}{{template "t" .Tag}}', "[latest]"),
    ('{{block "b" .Int}}<{{.}}>{{end}}', "<42>"),
    # printf verbs
    ('{{printf "%s %d %v %q %t %x %f" .S .Int .Float .S .True .Int .Float}}',
     'hello world 42 1.5 "hello world" true 2a 1.500000'),
    ('{{printf "%5s|%-5s|%05d|%+d|% d|%X|%o|%b|%#x" "ab" "ab" 42 42 42 255 8 5 255}}',
     "   ab|ab   |00042|+42| 42|FF|10|101|0xff"),
    ('{{printf "%.2f %8.3f %e %g %.3g" 3.14159 2.5 123456.789 1e21 1234.5678}}',
     "3.14    2.500 1.234568e+05 1e+21 1.23e+03"),
    ('{{printf "%v %v %v %v" 1e6 1e5 123456789.0 0.00001}}', "1e+06 100000 1.23456789e+08 1e-05"),
    ('{{printf "%v|%s|%d" .Nums .RepoTags .Nums}}', "[3 1 2]|[nginx:latest nginx:1.25]|[3 1 2]"),
    ('{{printf "%q %T %T" .RepoTags .Int .Float}}', '["nginx:latest" "nginx:1.25"] int float64'),
    ('{{printf "%c %U %#U" 65 0x1F600 0x1F600}}', "A U+1F600 U+1F600 '😀'"),
    ('{{printf "%*d|%-*d|%.*f" 5 1 5 2 2 3.14159}}', "    1|2    |3.14"),
    ('{{printf "%[2]d %[1]d" 1 2}}', "2 1"),
    ('{{printf "%d%%" 50}}', "50%"),
    ('{{printf "%d" .S}}', "%!d(string=hello world)"),
    ('{{printf "%d %d" 1}}', "1 %!d(MISSING)"),
    ('{{printf "%d" 1 2}}', "1%!(EXTRA int=2)"),
    ('{{printf "%s" nil}} {{printf "%v" nil}}', "%!s(<nil>) <nil>"),
    ('{{printf "%z" 1}}', "%!z(int=1)"),
    ('{{printf "%"}}', "%!(NOVERB)"),
]

# Python data standing in for Go values: None is a nil map/slice/pointer.
NIL_CASES = [
    ("{{.Nil}}", "<nil>"),
    ("{{.Nil.Field}}", "<no value>"),
    ("{{.Config.ExposedPorts}}", "<nil>"),
    ("{{len .Nil}}", "0"),
    ("{{range .Nil}}x{{else}}empty{{end}}", "empty"),
    ("{{if .Nil}}x{{else}}falsy{{end}}", "falsy"),
    ('{{index .Nil "key"}}|', "|"),
    ("{{json .Nil}}", "null"),
    ("{{.Mixed}}", "[1 a true 2.5 <nil>]"),
    ("{{eq .Nil nil}}", "true"),
    ('{{index .Labels "missing"}}|', "|"),  # a map[string]string yields "" for a missing key
]

PARSE_ERRORS = [
    ("{{foo}}", 'template: :1: function "foo" not defined'),
    ("{{.X", "template: :1: unclosed action"),
    ("{{.X}", "template: :1: bad character U+007D '}'"),
    ("{{if .X}}", "template: :1: unexpected EOF"),
    ("{{end}}", "template: :1: unexpected {{end}}"),
    ("{{else}}", "template: :1: unexpected {{else}}"),
    ("{{if}}{{end}}", "template: :1: missing value for if"),
    ("{{$x}}", 'template: :1: undefined variable "$x"'),
    ("{{.X | 1}}", "template: :1: non executable command in pipeline stage 2"),
    ("{{1.X}}", 'template: :1: bad number syntax: "1.X"'),
    ("{{break}}", "template: :1: {{break}} outside {{range}}"),
    ('{{"abc}}', "template: :1: unterminated quoted string"),
    ("{{/* x", "template: :1: unclosed comment"),
    ("{{/* x */ .X}}", "template: :1: comment ends before closing delimiter"),
    ("{{)}}", 'template: :1: unexpected ")" in command'),
    ("{{.X)}}", 'template: :1: unexpected ")" in command'),
    ("{{(1}}", "template: :1: unclosed left paren"),
    ("{{#}}", 'template: :1: unexpected "#" in command'),
    ("{{1.2.3}}", 'template: :1: unexpected ".3" in operand'),
    ("{{3x}}", 'template: :1: bad number syntax: "3x"'),
    ("{{9999999999999999999999}}", 'template: :1: integer overflow: "9999999999999999999999"'),
    ("{{range $i, $v, $w := .X}}{{end}}", "template: :1: too many declarations in range"),
    ("x\n{{.A\n", "template: :3: unclosed action started at :2"),
    ("{{.A}}\n{{if .A}}\n{{end}}\n{{end}}", "template: :4: unexpected {{end}}"),
    ('{{define "x"}}a{{end}}{{define "x"}}b{{end}}', 'template: :1: template: multiple definition of template "x"'),
    ("{{'ab'}}", "template: :1: malformed character constant: 'ab'"),
    ('{{"\\q"}}', "template: :1: invalid syntax"),
]

# Go names the static type in "can't evaluate field": for JSON-decoded data that
# is interface {}, for Docker's typed structs (which dicts stand for) the field's.
EXEC_ERRORS = [
    ("{{(1).X}}", 'template: :1:3: executing "" at <1>: can\'t evaluate field X in type int'),
    ("{{.S.Foo}}", 'template: :1:4: executing "" at <.S.Foo>: can\'t evaluate field Foo in type string'),
    ("line1\n  {{.Int.X}}", 'template: :2:8: executing "" at <.Int.X>: can\'t evaluate field X in type int'),
    ("{{index .RepoTags 5}}", 'template: :1:2: executing "" at <index .RepoTags 5>: error calling index: index out of range: 5'),
    ('{{index .RepoTags "x"}}', 'template: :1:2: executing "" at <index .RepoTags "x">: error calling index: cannot index slice/array with type string'),
    ("{{index .Missing 1}}", 'template: :1:2: executing "" at <index .Missing 1>: error calling index: index of untyped nil'),
    ('{{eq .Int "42"}}', 'template: :1:2: executing "" at <eq .Int "42">: error calling eq: incompatible types for comparison'),
    ("{{lt .True .False}}", 'template: :1:2: executing "" at <lt .True .False>: error calling lt: invalid type for comparison'),
    ("{{len 3}}", 'template: :1:2: executing "" at <len 3>: error calling len: len of type int'),
    ("{{slice .S 3 1}}", 'template: :1:2: executing "" at <slice .S 3 1>: error calling slice: invalid slice index: 3 > 1'),
    ("{{upper 3}}", 'template: :1:8: executing "" at <3>: expected string; found 3'),
    ("{{upper .Int}}", 'template: :1:8: executing "" at <.Int>: wrong type for value; expected string; got int'),
    ("{{upper .Missing}}", 'template: :1:8: executing "" at <.Missing>: invalid value; expected string'),
    ("{{upper nil}}", 'template: :1:8: executing "" at <nil>: cannot assign nil to string'),
    ('{{upper "a" "b"}}', 'template: :1:2: executing "" at <upper>: wrong number of args for upper: want 1 got 2'),
    ("{{and}}", 'template: :1:2: executing "" at <and>: wrong number of args for and: want at least 1 got 0'),
    ('{{truncate "x" 1.5}}', 'template: :1:15: executing "" at <1.5>: expected integer; found 1.5'),
    ('{{join .Mixed ","}}', 'template: :1:7: executing "" at <.Mixed>: wrong type for value; expected []string; got []interface {}'),
    ("{{range .S}}{{end}}", 'template: :1:8: executing "" at <.S>: range can\'t iterate over hello world'),
    ("{{nil}}", 'template: :1:2: executing "" at <nil>: nil is not a command'),
    ("{{.Tag 1}}", 'template: :1:2: executing "" at <.Tag>: Tag is not a method but has arguments'),
    ('{{template "nope"}}', 'template: :1:11: executing "" at <{{template "nope"}}>: template "nope" not defined'),
]


@pytest.mark.parametrize(("text", "expected"), RENDER_CASES)
def test_render(text: str, expected: str) -> None:
    assert parse(text).execute(IMAGE) == expected


@pytest.mark.parametrize(("text", "expected"), NIL_CASES)
def test_none_behaves_like_a_nil_map_or_slice(text: str, expected: str) -> None:
    assert parse(text).execute(IMAGE) == expected


@pytest.mark.parametrize(("text", "message"), PARSE_ERRORS)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as err:
        parse(text)
    assert str(err.value) == message


@pytest.mark.parametrize(("text", "message"), EXEC_ERRORS)
def test_execution_errors(text: str, message: str) -> None:
    template = parse(text)
    with pytest.raises(TemplateError) as err:
        template.execute(IMAGE)
    assert str(err.value) == message


def test_template_error_is_a_value_error() -> None:
    assert issubclass(TemplateError, ValueError)


def test_json_of_dot_keeps_dict_order() -> None:
    # Go sorts map keys but keeps struct field order; a dict keeps its own order.
    data = {"Name": "x", "Id": "1", "Labels": {"b": "2", "a": "1"}}
    assert parse("{{json .}}").execute(data) == '{"Name":"x","Id":"1","Labels":{"b":"2","a":"1"}}'


def test_piped_value_is_the_last_argument() -> None:
    assert parse('{{3 | truncate "hello"}}').execute(None) == "hel"
    with pytest.raises(TemplateError, match="expected string; found 3"):
        parse("{{.Repository | truncate 3}}").execute(IMAGE)


def test_dot_is_the_whole_value() -> None:
    assert parse("{{.}}").execute("plain") == "plain"
    assert parse("{{.}}").execute(["a", 1]) == "[a 1]"
    assert parse("{{.}}").execute(None) == "<nil>"
    assert parse("{{.}}").execute(MISSING) == "<no value>"


def test_template_is_reusable_across_rows() -> None:
    template = parse("{{.Repository}}:{{.Tag}}")
    rows = [{"Repository": "a", "Tag": "1"}, {"Repository": "b", "Tag": "2"}]
    assert [template.execute(row) for row in rows] == ["a:1", "b:2"]


def test_header_funcs_print_column_names() -> None:
    # docker/cli renders table headers with HeaderFunctions.
    text = '{{join .Names ","}}\t{{upper .ID}}\t{{truncate .Command 5}}\t{{json .Labels}}'
    headers = {"Names": "NAMES", "ID": "IMAGE ID", "Command": "COMMAND", "Labels": "LABELS"}
    assert parse(text, funcs=HEADER_FUNCS).execute(headers) == "NAMES\tIMAGE ID\tCOMMAND\tLABELS"


def test_custom_functions() -> None:
    template = parse("{{double .N}} {{fail}}", funcs={"double": lambda n: n * 2, "fail": lambda: 1 / 0})
    with pytest.raises(TemplateError, match=r"error calling fail: division by zero"):
        template.execute({"N": 21})
    assert parse("{{double .N}}", funcs={"double": lambda n: n * 2}).execute({"N": 21}) == "42"


def test_template_name_appears_in_errors() -> None:
    with pytest.raises(TemplateError) as err:
        parse("{{.A.B}}", name="fmt").execute({"A": 1})
    assert str(err.value) == 'template: fmt:1:4: executing "fmt" at <.A.B>: can\'t evaluate field B in type int'


@pytest.mark.parametrize(
    ("fmt", "args", "expected"),
    [
        ("%v", (1000000.0,), "1e+06"),
        ("%v", (0.1,), "0.1"),
        ("%v", (-0.0,), "-0"),
        ("%v", (float("inf"),), "+Inf"),
        ("%.3v", ("abcdef",), "abc"),
        ("%6.2f|%-8.3e|%+g", (3.14159, 1234.5, 2.0), "  3.14|1.234e+03|+2"),
        ("%08.3f", (-3.14159,), "-003.142"),
        ("%x|% x|%#X", ("hi", "hi", "hi"), "6869|68 69|0X6869"),
        ("%q|%+q|%#q", ("é\n", "é", "a`b"), '"é\\n"|"\\u00e9"|"a`b"'),
        ("%x %X %b", (3.5, -1.75, 2.0), "0x1.cp+01 -0X1.CP+00 4503599627370496p-51"),
        ("%v", ({"b": [1, None], "a": {"x": True}},), "map[a:map[x:true] b:[1 <nil>]]"),
        ("%#v", (["a", 1],), '[]interface {}{"a", 1}'),
        ("%5t|%-6v|", (True, False), " true|false |"),
    ],
)
def test_go_sprintf(fmt: str, args: tuple[object, ...], expected: str) -> None:
    assert go_sprintf(fmt, *args) == expected


def test_go_sprint_spacing() -> None:
    # Spaces go between operands when neither is a string.
    assert go_sprint(1, 2, "a", "b", 3.5, None) == "1 2ab3.5 <nil>"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": [1, 2.5, "x"], "b": None}, '{"a":[1,2.5,"x"],"b":null}'),
        ("<&>", '"<&>"'),  # docker/cli turns off encoding/json's HTML escaping
        ("\u2028\b", '"\\u2028\\u0008"'),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (-0.0, "-0"),
        (float("nan"), ""),  # Docker ignores the encoder's error and prints nothing
    ],
)
def test_go_json(value: object, expected: str) -> None:
    assert go_json(value) == expected


# Docker's formatter contexts are Go structs: a field they lack fails, methods take arguments


def test_struct_field_it_lacks_fails_as_go_does() -> None:
    row = Struct("*formatter.imageContext", {"Repository": "busybox"})
    assert parse("{{.Repository}}").execute(row) == "busybox"
    with pytest.raises(TemplateError) as err:
        parse("{{.Bogus}}").execute(row)
    assert str(err.value) == (
        'template: :1:2: executing "" at <.Bogus>: can\'t evaluate field Bogus in type *formatter.imageContext'
    )


def test_struct_method_takes_arguments_and_json_leaves_it_out() -> None:
    labels = {"app": "web"}
    row = Struct("*formatter.ContainerContext",
                            {"Names": "web", "Label": Method(lambda name: labels.get(name, ""))})
    assert parse('{{.Label "app"}}|{{.Label "none"}}').execute(row) == "web|"
    assert parse("{{json .}}").execute(row) == '{"Names":"web"}'
    with pytest.raises(TemplateError, match="wrong number of args for Label: want 1 got 0"):
        parse("{{.Label}}").execute(row)
    with pytest.raises(TemplateError, match="Names is not a method but has arguments"):
        parse('{{.Names "x"}}').execute(row)
