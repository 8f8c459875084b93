"""The part of Prometheus's alert templating that rule files use in practice.

Prometheus renders labels and annotations with Go's text/template. Yunheng evaluates the
same rule files, so it renders the same expressions: `{{ $labels.x }}`, `{{ .Labels.x }}`,
`{{ index $labels "x" }}`, `{{ $value }}`, `{{ .Value }}`, `{{ $externalLabels.x }}` and
pipelines through printf, humanize, humanize1024, humanizePercentage, humanizeDuration,
toUpper, toLower and title. Control actions (if, range, with, query, ...) are refused when
the rule file is loaded, so an unsupported template is an error up front, never a page
with a raw `{{` in it. Numbers print as Go prints them (`1e+06`, `NaN`, `+Inf`).
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable, Mapping
from decimal import Decimal

ACTION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.DOTALL)
UNSUPPORTED = {"if", "else", "end", "range", "with", "define", "template", "block", "query"}

Value = str | float | Mapping[str, str]


class TemplateError(ValueError):
    pass


def go_float(v: float) -> str:
    """Go's %v for a float64: shortest digits, exponent form below 1e-4 or from 1e6 up."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1, v) < 0 else "0"
    sign, digits, exponent = Decimal(repr(v)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    point = len(text) + exponent  # digits before the decimal point
    exp = point - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return f"{prefix}{text}{'0' * (point - len(text))}"
    return f"{prefix}{text[:point]}.{text[point:]}"


def _g4(v: float) -> str:
    return go_float(v) if math.isnan(v) or math.isinf(v) else format(v, ".4g")


def _number(v: Value) -> float:
    if isinstance(v, Mapping):
        raise TemplateError("expected a number, got a label map")
    try:
        return float(v)
    except ValueError:
        raise TemplateError(f"expected a number, got {v!r}") from None


def humanize(v: Value, base: int = 1000) -> str:
    x = _number(v)
    if x == 0 or math.isnan(x) or math.isinf(x):
        return _g4(x)
    prefix = ""
    if abs(x) >= 1:
        big = ["k", "M", "G", "T", "P", "E", "Z", "Y"]
        if base == 1024:
            big = ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"]
        for p in big:
            if abs(x) < base:
                break
            prefix, x = p, x / base
        return f"{_g4(x)}{prefix}"
    if base == 1024:
        return _g4(x)
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"]:
        if abs(x) >= 1:
            break
        prefix, x = p, x * 1000
    return f"{_g4(x)}{prefix}"


def humanize_duration(v: Value) -> str:
    x = _number(v)
    if math.isnan(x) or math.isinf(x):
        return _g4(x)
    if x == 0:
        return f"{_g4(x)}s"
    if abs(x) >= 1:
        sign = "-" if x < 0 else ""
        whole = int(abs(x))
        seconds, minutes = whole % 60, whole // 60 % 60
        hours, days = whole // 3600 % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(abs(x))}s"
    prefix = ""
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"]:
        if abs(x) >= 1:
            break
        prefix, x = p, x * 1000
    return f"{_g4(x)}{prefix}s"


def printf(fmt: Value, *args: Value) -> str:
    if not isinstance(fmt, str):
        raise TemplateError("printf needs a format string first")
    values: list[object] = []
    # Go's %v prints numbers its own way; %d takes a whole number.
    verbs = re.findall(r"%[-+# 0]*\d*(?:\.\d+)?([a-zA-Z%])", fmt)
    verbs = [v for v in verbs if v != "%"]
    if len(verbs) != len(args):
        raise TemplateError(f"printf {fmt!r} needs {len(verbs)} values, got {len(args)}")
    for verb, arg in zip(verbs, args, strict=True):
        if isinstance(arg, Mapping):
            raise TemplateError("printf cannot print a label map")
        if verb in "v":
            values.append(go_float(arg) if isinstance(arg, float) else arg)
        elif verb in "dxXo":
            values.append(int(_number(arg)))
        elif verb in "eEfFgG":
            values.append(_number(arg))
        elif verb in "sq":
            values.append(go_float(arg) if isinstance(arg, float) else str(arg))
        else:
            raise TemplateError(f"printf verb %{verb} is not supported")
    python_fmt = re.sub(r"%([-+# 0]*\d*(?:\.\d+)?)[vq]", r"%\1s", fmt)
    try:
        return python_fmt % tuple(values)
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"printf {fmt!r}: {exc}") from None


def _index(mapping: Value, key: Value) -> str:
    if not isinstance(mapping, Mapping):
        raise TemplateError("index needs a label map")
    return mapping.get(str(key), "")


FUNCTIONS: dict[str, Callable[..., str]] = {
    "printf": printf,
    "humanize": humanize,
    "humanize1024": lambda v: humanize(v, 1024),
    "humanizePercentage": lambda v: f"{_g4(_number(v) * 100)}%",
    "humanizeDuration": humanize_duration,
    "toUpper": lambda v: str(v).upper(),
    "toLower": lambda v: str(v).lower(),
    "title": lambda v: str(v).title(),
    "index": _index,
}


def _operand(token: str, labels: Mapping[str, str], value: float) -> Value:
    if token in ("$value", ".Value"):
        return value
    if token in ("$labels", ".Labels"):
        return labels
    for prefix in ("$labels.", ".Labels."):
        if token.startswith(prefix):
            return labels.get(token[len(prefix) :], "")
    if token.split(".")[0] == "$externalLabels":
        return "" if "." in token else {}
    if token.startswith('"') or token.startswith("`"):
        return token[1:-1]
    if re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", token):
        return float(token)
    raise TemplateError(f"unknown template value {token!r}")


def _tokens(command: str) -> list[str]:
    lexer = shlex.shlex(command, posix=False, punctuation_chars="")
    lexer.whitespace_split = True
    lexer.quotes = '"`'
    try:
        return list(lexer)
    except ValueError as exc:
        raise TemplateError(f"{command.strip()!r}: {exc}") from None


def _run(command: str, labels: Mapping[str, str], value: float, piped: Value | None) -> Value:
    tokens = _tokens(command)
    if not tokens:
        raise TemplateError("empty pipeline stage")
    head, rest = tokens[0], tokens[1:]
    if head in UNSUPPORTED or (head.startswith("$") and ":=" in tokens):
        raise TemplateError(f"template action {head!r} is not supported")
    if head in FUNCTIONS:
        args = [_operand(t, labels, value) for t in rest]
        if piped is not None:
            args.append(piped)
        try:
            return FUNCTIONS[head](*args)
        except TypeError:
            raise TemplateError(f"{head}: wrong number of arguments") from None
    if rest or piped is not None:
        raise TemplateError(f"{head!r} is not a function")
    return _operand(head, labels, value)


def _show(v: Value) -> str:
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{k}:{v[k]}" for k in sorted(v)) + "]"
    return v


def _split_pipes(action: str) -> list[str]:
    parts, current, quote = [], "", ""
    for ch in action:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in '"`':
            quote = ch
        elif ch == "|":
            parts.append(current)
            current = ""
            continue
        current += ch
    parts.append(current)
    return parts


def render(template: str, labels: Mapping[str, str], value: float) -> str:
    """Render one label or annotation value; raises TemplateError on what it cannot do."""
    pieces: list[str] = []
    position = 0
    for match in ACTION.finditer(template):
        before = template[position : match.start()]
        if match.group(1):
            before = before.rstrip()
        pieces.append(before)
        position = match.end()
        action = match.group(2).strip()
        if match.group(3):
            tail = template[position:]
            position += len(tail) - len(tail.lstrip())
        if action.startswith("/*") and action.endswith("*/"):
            continue
        result: Value | None = None
        for stage in _split_pipes(action):
            result = _run(stage, labels, value, result)
        assert result is not None
        pieces.append(_show(result))
    pieces.append(template[position:])
    return "".join(pieces)


def check(template: str) -> None:
    """Render against sample data, so a broken template fails when the file is loaded."""
    if template.count("{{") != template.count("}}"):
        raise TemplateError("unbalanced {{ and }}")
    render(template, {"instance": "example:9100", "job": "example"}, 1.0)
