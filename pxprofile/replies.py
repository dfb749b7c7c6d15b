"""Model replies are untrusted input: check each one against the JSON schema that was asked for.

A server (or a compromised model) can answer anything: a number instead of an object, 78
operations where the schema allows 6, lines nested 10,000 deep, strings with lone surrogates.
llama.cpp's grammar enforces the schema in-process, but an OpenAI-compatible server may ignore
``response_format`` entirely, so every reply is re-checked here before anything uses it.

CONTRACT:
    validate(data, schema) -> None
        Raises InferenceError (one message: where and what is wrong, nothing was changed) unless
        ``data`` conforms to the subset of JSON Schema pxprofile asks for: type (object, array,
        string, integer, number, boolean, null), enum, minimum/maximum, minLength/maxLength,
        minItems/maxItems, required, properties, additionalProperties (bool), items. Strings
        must be valid UTF-8 text (no lone surrogates); nesting is limited to MAX_DEPTH.
    check_usage(usage) -> tuple[int, int]
        (prompt_tokens, completion_tokens) from a server's ``usage``: non-negative integers, 0
        where absent; InferenceError for anything else.

The schemas are small and fixed, so a ~60-line checker pays for itself over a ``jsonschema``
dependency (which would add ~10 packages and ~100 ms of import time to every update).
"""

from __future__ import annotations

from typing import Any

from .errors import InferenceError

MAX_DEPTH = 16  # pxprofile's schemas nest 4 deep; anything far deeper is an attack or a bug

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
}


def _fail(path: str, what: str) -> InferenceError:
    return InferenceError(
        f"The model's reply does not match the requested schema ({path or 'reply'}: {what}); "
        "nothing was changed. Try again, or use another model or server."
    )


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES.get(kind, object))


def _depth(value: Any, limit: int) -> bool:
    """Whether ``value`` nests at most ``limit`` containers deep (iterative: no RecursionError)."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            if d > limit:
                return False
            children = v.values() if isinstance(v, dict) else v
            stack.extend((c, d + 1) for c in children if isinstance(c, dict | list))
    return True


def validate(data: Any, schema: dict) -> None:
    """Raise InferenceError unless ``data`` conforms to ``schema`` (see the module docstring)."""
    if not _depth(data, MAX_DEPTH):
        raise _fail("", f"nested more than {MAX_DEPTH} levels deep")
    _check(data, schema, "")


def _check(value: Any, schema: dict, path: str) -> None:
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if kinds and not any(_type_ok(value, k) for k in kinds):
        raise _fail(path, f"expected {' or '.join(kinds)}, got {type(value).__name__}")
    if "enum" in schema and value not in schema["enum"]:
        raise _fail(path, f"{_show(value)} is not one of the allowed values")
    if isinstance(value, str):
        _check_string(value, schema, path)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise _fail(path, f"{value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise _fail(path, f"{value} is above the maximum {schema['maximum']}")
    elif isinstance(value, list):
        if len(value) > schema.get("maxItems", len(value)):
            raise _fail(path, f"{len(value)} items where at most {schema['maxItems']} are allowed")
        if len(value) < schema.get("minItems", 0):
            raise _fail(path, f"{len(value)} items where at least {schema['minItems']} are needed")
        items = schema.get("items")
        if isinstance(items, dict):
            for i, v in enumerate(value):
                _check(v, items, f"{path}[{i}]")
    elif isinstance(value, dict):
        _check_object(value, schema, path)


def _check_string(value: str, schema: dict, path: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(path, "a string holds a lone surrogate (not valid text)") from None
    if len(value) > schema.get("maxLength", len(value)):
        raise _fail(path, f"{len(value)} characters where at most {schema['maxLength']} fit")
    if len(value) < schema.get("minLength", 0):
        raise _fail(path, f"{len(value)} characters where at least {schema['minLength']} needed")


def _check_object(value: dict, schema: dict, path: str) -> None:
    props = schema.get("properties") or {}
    for key in schema.get("required", []):
        if key not in value:
            raise _fail(path, f"the required field {key!r} is missing")
    for key, v in value.items():
        sub = f"{path}.{key}" if path else str(key)
        if key in props:
            _check(v, props[key], sub)
        elif schema.get("additionalProperties", True) is False:
            raise _fail(path, f"unexpected field {_show(key)}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_usage(usage: Any) -> tuple[int, int]:
    """(prompt_tokens, completion_tokens) from a server's ``usage`` block, validated."""
    if usage is None:
        return 0, 0
    if not isinstance(usage, dict):
        raise _fail("usage", f"expected object, got {type(usage).__name__}")
    out = []
    for key in ("prompt_tokens", "completion_tokens"):
        v = usage.get(key)
        if v is None:
            out.append(0)
        elif not _type_ok(v, "integer") or v < 0:
            raise _fail(f"usage.{key}", f"{_show(v)} is not a token count")
        else:
            out.append(v)
    return out[0], out[1]
