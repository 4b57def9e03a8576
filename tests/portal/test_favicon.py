"""The portal has an icon: pages name it, and /favicon.ico (asked for by browsers and the admin) leads to it."""

import pytest
from django.contrib.staticfiles import finders


@pytest.mark.django_db
def test_favicon_ico_leads_to_the_icon_without_a_sign_in(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith(".svg")
    assert finders.find("portal/favicon.svg")


@pytest.mark.django_db
def test_pages_name_the_icon(client, alice_client):
    for page in (client.get("/accounts/login/"), alice_client.get("/")):
        assert 'rel="icon" href="/static/portal/favicon.svg"' in page.content.decode()
