"""pydantic's validation errors said in the reader's language.

pydantic writes English ("String should have at least 12 characters"); a form shows the
message beside its field, so the common kinds are said again from the catalogue by their
type and limits. A kind not listed (a model's own validator) keeps pydantic's words.
"""

from __future__ import annotations

from pydantic_core import ErrorDetails

from console.web.i18n import Translator


def validation_message(error: ErrorDetails, t: Translator, raw: str | None = None) -> str:
    """`error` in the reader's language; `raw` is what was typed, when the form knows it."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing" or (raw is not None and not raw.strip()):
        return t("form.err.required")
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return t("form.err.integer")
    if kind in ("float_parsing", "float_type"):
        return t("form.err.number")
    if kind in ("greater_than_equal", "greater_than"):
        return t("form.err.min", limit=ctx.get("ge", ctx.get("gt")))
    if kind in ("less_than_equal", "less_than"):
        return t("form.err.max", limit=ctx.get("le", ctx.get("lt")))
    if kind in ("string_too_short", "too_short"):
        return t("form.err.too_short", limit=ctx.get("min_length"))
    if kind in ("string_too_long", "too_long"):
        return t("form.err.too_long", limit=ctx.get("max_length"))
    if kind in ("enum", "literal_error"):
        return t("form.err.choice", choices=ctx.get("expected", ""))
    if kind == "string_pattern_mismatch":
        return t("form.err.pattern", pattern=ctx.get("pattern", ""))
    return error["msg"]
