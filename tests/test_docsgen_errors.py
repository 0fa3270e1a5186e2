"""docsgen_errors: the docs/errors pages, written through the one Markdown escaper."""

from __future__ import annotations

import re

import markdown

from llmdoctor.docsgen_errors import error_page, errors_index
from llmdoctor.facts.known_errors import by_code, table

ANGLE_WORD = re.compile(r"<[a-z]+>")  # MIG-<uuid>: HTML to Markdown, so a browser would not show it


def _angle_words(entries) -> set[str]:
    return {w for e in entries for w in ANGLE_WORD.findall(f"{e.title} {e.cause} {e.fix}")}


def _prose_html(page: str) -> str:
    """The page as mkdocs renders it, without the verbatim blocks (fences keep <...> as text)."""
    return markdown.markdown(re.sub(r"~~~~.*?~~~~", "", page, flags=re.S), extensions=["tables"])


def test_angle_bracket_words_are_shown_not_taken_for_html():
    err = by_code()["LD-MIG-006"]
    assert "<uuid>" in err.cause  # the entry this test is about still says it
    html = _prose_html(error_page(err))
    assert "MIG-&lt;uuid&gt;" in html and not any(w in html for w in _angle_words([err]))
    index = _prose_html(errors_index(table()))
    assert not any(w in index for w in _angle_words(table()))
