"""The viewer's time zone: the cookie, the middleware and the picker page."""

import pytest
from django.test import Client
from django.utils import timezone

from exec_site.timezones import TIMEZONE_COOKIE, viewer_timezone

pytestmark = pytest.mark.django_db


def test_viewer_timezone_known_and_unknown():
    assert viewer_timezone("Europe/Brussels").key == "Europe/Brussels"
    assert viewer_timezone("Mars/Olympus").key == "UTC"
    assert viewer_timezone("../../etc/passwd").key == "UTC"
    assert viewer_timezone("").key == "UTC"
    assert viewer_timezone(None).key == "UTC"


def test_picker_sets_cookie_and_returns(client):
    response = client.post(
        "/timezone/", {"zone": "Asia/Tokyo", "next": "/approvals/?status=pending"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/approvals/?status=pending"
    cookie = response.cookies[TIMEZONE_COOKIE]
    assert cookie.value == "Asia/Tokyo"
    assert cookie["samesite"] == "Lax"
    assert cookie["httponly"] is True


def test_picker_rejects_unknown_zone(client):
    response = client.post("/timezone/", {"zone": "Mars/Olympus", "next": "/"})

    assert response.status_code == 400
    assert "Mars/Olympus is not one of the available choices" in (
        response.content.decode()
    )
    assert TIMEZONE_COOKIE not in response.cookies


@pytest.mark.parametrize(
    "target", ["https://attacker.example/", "//attacker.example/x", "", "javascript:x"]
)
def test_picker_ignores_foreign_next(client, target):
    response = client.post("/timezone/", {"zone": "UTC", "next": target})

    assert response.status_code == 302
    assert response["Location"] == "/audit/"


def test_picker_page_preselects_current_zone(client):
    client.cookies[TIMEZONE_COOKIE] = "America/Chicago"

    response = client.get("/timezone/?next=/approvals/")

    page = response.content.decode()
    assert response.status_code == 200
    assert '<option value="America/Chicago" selected>' in page
    assert 'value="/approvals/"' in page
    assert "csrfmiddlewaretoken" in page


def test_picker_requires_csrf():
    client = Client(enforce_csrf_checks=True)

    response = client.post("/timezone/", {"zone": "Asia/Tokyo"})

    assert response.status_code == 403


def test_middleware_activates_cookie_zone(rf):
    from exec_site.timezones import ViewerTimeZoneMiddleware

    seen = []
    middleware = ViewerTimeZoneMiddleware(
        lambda request: seen.append(timezone.get_current_timezone_name())
    )
    request = rf.get("/")
    request.COOKIES[TIMEZONE_COOKIE] = "Australia/Adelaide"

    middleware(request)
    middleware(rf.get("/"))

    assert seen == ["Australia/Adelaide", "UTC"]
    assert timezone.get_current_timezone_name() == "UTC"
