"""Multilingual text: a map of BCP-47 language tag → string.

Tags must be well-formed (RFC 5646 syntax), made of registered subtags, and are stored in
their canonical form (``zh-hans`` → ``zh-Hans``, ``in`` → ``id``). Values are NFC-normalised
and trimmed; at least one value must be non-empty.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import langcodes
from marshmallow import ValidationError, fields

# RFC 5646 "langtag" (grandfathered and private-use-only tags are not accepted as keys).
_LANGTAG_RE = re.compile(
    r"^(?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}|[A-Za-z]{4,8})"
    r"(?:-[A-Za-z]{4})?"
    r"(?:-(?:[A-Za-z]{2}|[0-9]{3}))?"
    r"(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*"
    r"(?:-[0-9A-WY-Za-wy-z](?:-[A-Za-z0-9]{2,8})+)*"
    r"(?:-[xX](?:-[A-Za-z0-9]{1,8})+)?$"
)
MAX_TAG_LENGTH = 35


@lru_cache(maxsize=4096)
def canonical_tag(tag: str) -> str | None:
    """The canonical form of a well-formed, valid BCP-47 tag, or None."""
    if not isinstance(tag, str) or len(tag) > MAX_TAG_LENGTH or not _LANGTAG_RE.match(tag):
        return None
    if not langcodes.tag_is_valid(tag):
        return None
    return langcodes.standardize_tag(tag)


# C0/C1 controls other than tab and newline, and lone surrogates.
_FORBIDDEN_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def clean_string(value: str) -> str:
    """NFC, trimmed, no control characters other than newline and tab, no lone surrogates."""
    if not unicodedata.is_normalized("NFC", value):
        value = unicodedata.normalize("NFC", value)
    value = value.strip()
    if _FORBIDDEN_RE.search(value):
        raise ValidationError("Must not contain control characters or lone surrogates.")
    return value


class MultilingualText(fields.Field):
    """``{"zh-Hans": "…", "en": "…"}`` with per-value length limits."""

    default_error_messages = {
        "type": "Must be an object mapping BCP-47 language tags to text.",
        "empty": "At least one language must have non-empty text.",
        "too_many": "At most {max} language variants.",
    }

    def __init__(self, *, max_length: int = 300, max_variants: int = 24, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length
        self.max_variants = max_variants

    def _deserialize(self, value, attr, data, **kwargs) -> dict[str, str]:
        if not isinstance(value, dict):
            raise self.make_error("type")
        if len(value) > self.max_variants:
            raise self.make_error("too_many", max=self.max_variants)
        out: dict[str, str] = {}
        errors: dict[str, list[str]] = {}
        for tag, text in value.items():
            canon = canonical_tag(tag)
            if canon is None:
                errors[str(tag)] = ["Not a well-formed BCP-47 language tag."]
                continue
            if canon in out:
                errors[str(tag)] = [f"Same language as another key ({canon})."]
                continue
            if not isinstance(text, str):
                errors[str(tag)] = ["Must be a string."]
                continue
            try:
                text = clean_string(text)
            except ValidationError as exc:
                errors[str(tag)] = exc.messages
                continue
            if len(text) > self.max_length:
                errors[str(tag)] = [f"Longer than {self.max_length} characters."]
                continue
            if text:
                out[canon] = text
        if errors:
            raise ValidationError(errors)
        if not out:
            raise self.make_error("empty")
        return out

    def _serialize(self, value, attr, obj, **kwargs):
        return value


class CleanString(fields.String):
    """A string NFC-normalised and trimmed, with an upper length (and optional lower)."""

    def __init__(self, *, max_length: int = 200, min_length: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length
        self.min_length = min_length

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        value = clean_string(super()._deserialize(value, attr, data, **kwargs))
        if len(value) > self.max_length:
            raise ValidationError(f"Longer than {self.max_length} characters.")
        if len(value) < self.min_length:
            raise ValidationError("Must not be empty.")
        return value
