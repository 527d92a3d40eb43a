"""The offline engine's built-in wording: one Jinja file per purpose, and ``email.j2`` around it."""

BUILT_IN_WORDING_LANGUAGES = frozenset({"en"})
"""The languages the files here are written in (ISO 639-1)."""
