"""Template source rules that Django does not enforce itself."""

from pathlib import Path

import pytest

TEMPLATES = sorted((Path(__file__).resolve().parents[2] / "templates").rglob("*.html"))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: str(path.name))
def test_one_line_comments_close_on_their_line(template: Path):
    """``{# … #}`` is a one-line comment: spread over two lines, Django prints it on the page as text.
    A longer note goes in ``{% comment %}``."""
    for number, line in enumerate(template.read_text().splitlines(), start=1):
        opened = line.count("{#")
        assert opened <= line.count("#}"), f"{template.name}:{number} opens a {{# comment it does not close"
