"""What goes into the committed tables: wording a reader outside the project can follow, and files
rewritten only when something besides the code-version line changed.

The catalog's notes cite the project's working papers ("issue 17", "spec §7.2": the issue that fixed a
recipe, the section of the internal source analysis). Those mean nothing to a reader of the tables, so
the rendered text drops them and keeps the evidence the note itself gives (the source's code, its logs,
the count of our build) or says in words what the reference was.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..files import write_text

_REFERENCE = r"(?:issue \d+|spec §[\d.]+)"
_RULES = [
    # where the reference stood for evidence, name the evidence
    (re.compile(r"\(does not match, spec §2\.3\)"), "(does not match; counted on our build: `repro models`)"),
    (re.compile(r" \(spec §2\.3\)"), " (counted on our build: `repro models`)"),
    (re.compile(r"reproduces 2\.89M \(spec §7\.2\)"), "reproduces 2.89M (counted on our candidate builds)"),
    (re.compile(r"\(issue 17, from its review of"), "(from a review of"),
    (re.compile(r"spec §12 suggestion"), "our suggestion, not the source's"),  # tinyimagenet spec §12: a cleaned pair
    (re.compile(r"\(spec §[\d.]+ (\"[^\"]*\")\)"), r"(\1)"),  # (spec §8.5 "to compare fairly") → the quote
    (re.compile(rf"\s*\({_REFERENCE}\)"), ""),  # "FIXED (issue 17):" → "FIXED:"
    (re.compile(rf"\({_REFERENCE}[;,]\s*"), "("),  # "(issue 17; was 1)" → "(was 1)"
    (re.compile(rf"[;,]\s*{_REFERENCE}(?=[),:;])"), ""),  # "(recipe drop_last, issue 17)" → "(recipe drop_last)"
    (re.compile(rf"\s*{_REFERENCE}\b"), ""),  # anything left
]
VERSION = re.compile(r"(Code version: |code version )\S+?(?=[.\s]|$)", re.MULTILINE)


def public_text(text: str) -> str:
    """``text`` without the project-internal references (see the module docstring)."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def write_rendered(path: Path, text: str) -> None:
    """Write a rendered table (atomically) unless the file already says the same apart from its code-version
    line: re-rendering unchanged results at a new commit leaves the committed files alone, so the line keeps
    naming the commit that last changed what the file shows."""
    text = public_text(text)
    path = Path(path)
    if path.is_file():
        old = path.read_text()
        if old == text or VERSION.sub(r"\1", old) == VERSION.sub(r"\1", text):
            return
    write_text(path, text)
