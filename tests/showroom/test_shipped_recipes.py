"""The recipes that ship with the appliance deploy demos a browser reaches."""

from __future__ import annotations

import pytest

from appliance.showroom.demos import Showroom
from appliance.showroom.layout import SHIPPED_RECIPES
from tests.showroom.conftest import fetch

pytestmark = pytest.mark.slow


@pytest.fixture
def shipped(start_showroom) -> Showroom:
    return Showroom(start_showroom(SHIPPED_RECIPES).config)


def test_the_shipped_recipes_are_listed_with_their_parameters(shipped):
    assert shipped.available() == {
        "python-app": {"params": ["greeting"]},
        "static-site": {"params": ["title"]},
    }


def test_a_static_site_is_served_by_apache(shipped):
    shipped.deploy("static-site", "site", {"title": 'Tom & "Jerry" <3'})
    demo = shipped.demo("site")
    demo.start()
    assert demo.status() == "RUNNING"
    assert demo.info()["apache_error"] is None
    page = fetch(demo.info()["port"]).decode()
    assert "<h1>Tom &amp; &quot;Jerry&quot; &lt;3</h1>" in page


def test_a_python_app_serves_itself(shipped):
    shipped.deploy("python-app", "app", {"greeting": "Bonjour"})
    demo = shipped.demo("app")
    demo.start()
    assert demo.status() == "RUNNING"
    assert (
        fetch(demo.info()["port"])
        == b"<!doctype html>\n<title>Bonjour from app</title>\n<h1>Bonjour from app</h1>\n"
    )
    assert not shipped.layout.vhost("app").exists()  # no Apache
