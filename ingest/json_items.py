"""The exact text of each item of a JSON array, so that a gateway batch's refused item is kept
with the bytes it was sent as, not as ingest re-serialised it."""

from __future__ import annotations

import json

# Numbers are kept as their text: only where items end matters here, and Python's int() refuses
# numbers of more than 4,300 digits (a ValueError that is no JSONDecodeError).
_DECODER = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str)
_SPACE = " \t\n\r"


class NotAnArray(ValueError):
    """The text is not one JSON array (malformed JSON, another JSON type, or nested too deep)."""


def split_json_array(text: str) -> list[str]:
    """The items of the JSON array `text`, each exactly as written (surrounding blanks removed).

    Raises NotAnArray, naming the first problem, when `text` is not a well-formed JSON array.
    """
    end = len(text)
    pos = _skip_space(text, 0)
    if pos == end or text[pos] != "[":
        raise NotAnArray(f"expected a JSON array at char {pos}")
    pos = _skip_space(text, pos + 1)
    items: list[str] = []
    if pos < end and text[pos] == "]":
        return _nothing_after(text, pos + 1, items)
    while True:
        try:
            _, stop = _DECODER.raw_decode(text, pos)
        except ValueError as exc:  # JSONDecodeError, and any other reading failure
            raise NotAnArray(f"item {len(items)}: {exc}") from None
        except RecursionError:
            raise NotAnArray(f"item {len(items)} is nested too deep") from None
        items.append(text[pos:stop])
        pos = _skip_space(text, stop)
        if pos < end and text[pos] == ",":
            pos = _skip_space(text, pos + 1)
            continue
        if pos < end and text[pos] == "]":
            return _nothing_after(text, pos + 1, items)
        raise NotAnArray(f"expected ',' or ']' after item {len(items) - 1} at char {pos}")


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _SPACE:
        pos += 1
    return pos


def _nothing_after(text: str, pos: int, items: list[str]) -> list[str]:
    pos = _skip_space(text, pos)
    if pos != len(text):
        raise NotAnArray(f"extra data after the array at char {pos}")
    return items
