"""Less noise: help text once (where people type, and folded once on detail pages), the names'
freshness once, in the footer."""

import pytest
from django.utils.html import escape

from portal.records.kinds import KINDS, get_kind
from tests.records.browse_support import KIND_PARAMS, one_with_lines

pytestmark = pytest.mark.django_db


@pytest.fixture
def browse(sandbox_settings, sandbox, login_as, viewer):
    sandbox.reset()
    return login_as(viewer)


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_detail_page_explains_each_field_once_not_under_every_value(browse, sandbox, slug):
    kind = get_kind(slug)
    record = one_with_lines(sandbox, kind)
    html = browse.get(f"/{kind.slug}/{record[kind.key_field]}/").content.decode()
    assert 'class="help"' not in html
    for column in kind.help_columns:
        assert html.count(escape(column.help)) == 1
    if kind.help_columns:
        assert "<summary>What these fields mean</summary>" in html


def test_help_columns_are_listed_once_per_label():
    for kind in KINDS.values():
        labels = [column.label for column in kind.help_columns]
        assert len(labels) == len(set(labels))
        assert all(column.help for column in kind.help_columns)


@pytest.mark.parametrize("path", ["/refunds/", "/drafts/"])
def test_names_freshness_shows_once_in_the_footer(browse, path):
    html = browse.get(path).content.decode()
    assert html.count("Refresh names") == 1
    footer = html[html.index('<footer class="site-footer') :]
    assert "Names as of" in footer and "Refresh names" in footer
    main = html[html.index("<main") : html.index("</main>")]
    assert "Refresh names" not in main
