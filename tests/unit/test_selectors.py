"""keys/selectors.py: reads for the key pages."""

import pytest

from keys import selectors

pytestmark = pytest.mark.django_db


def test_suggested_names_are_unique(demo, make_key):
    assert selectors.suggest_key_name(demo.acme, demo.incharge) == "InCharge key 1"
    make_key(application=demo.incharge, name="InCharge key 1", scopes=["billing:read"])
    assert selectors.suggest_key_name(demo.acme, demo.incharge) == "InCharge key 2"
