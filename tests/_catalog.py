"""A small demo source for the report tests: the minimal header, then the test's own body."""

import textwrap

from pipeline.catalog import Source, load_source
from tests.test_catalog import write

HEAD = "id: demo\ntitle: t\ncitation: c\nrecipe: {lr: 0.1, epochs: 2}\n"


def demo_catalog(body: str) -> str:
    """``HEAD`` then ``body`` (configurations, tables, claims; dedented)."""
    return HEAD + textwrap.dedent(body)


def load_demo(directory, text: str) -> Source:
    """Write ``text`` to ``directory``/demo.yaml and load it."""
    return load_source(write(directory, text))
