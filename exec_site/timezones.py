"""The viewer's time zone: a cookie that every page honours, and a page to set it.

Exec stores times in UTC. A viewer who picks a zone gets the `exec_tz`
cookie, and `ViewerTimeZoneMiddleware` activates that zone for each of their
requests, so templates, the admin and form input use it. Without the cookie,
or with a name that is not an IANA zone, pages stay in UTC.
"""

import zoneinfo
from collections.abc import Callable
from functools import cache
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

TIMEZONE_COOKIE = "exec_tz"
COOKIE_MAX_AGE = 365 * 24 * 3600


@cache
def timezone_names() -> list[str]:
    return sorted(zoneinfo.available_timezones())


@cache
def _known_names() -> frozenset[str]:
    # available_timezones() reads the zone database from disk on every call.
    return frozenset(timezone_names())


def viewer_timezone(name: str | None) -> zoneinfo.ZoneInfo:
    """Return the zone a viewer chose, or UTC when the name is unknown."""
    if name and name in _known_names():
        return zoneinfo.ZoneInfo(name)
    return zoneinfo.ZoneInfo("UTC")


def set_timezone_cookie(response: HttpResponse, name: str) -> None:
    response.set_cookie(
        TIMEZONE_COOKIE, name, max_age=COOKIE_MAX_AGE, samesite="Lax", httponly=True
    )


class ViewerTimeZoneMiddleware:
    """Activate the zone named by the viewer's `exec_tz` cookie for one request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = request.COOKIES.get(TIMEZONE_COOKIE)
        if not name:
            return self.get_response(request)
        with timezone.override(viewer_timezone(name)):
            return self.get_response(request)


def zone_name(request: HttpRequest) -> dict[str, Any]:
    """Offer `zone_name`, the zone that the page's times are shown in."""
    return {"zone_name": timezone.get_current_timezone_name()}


class TimeZoneForm(forms.Form):
    zone = forms.ChoiceField(label="Time zone")
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["zone"].choices = [(name, name) for name in timezone_names()]


def _safe_next(request: HttpRequest, target: str) -> str:
    """Return `target` if it is a page of this site, else the audit timeline."""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("audit:timeline")


@require_http_methods(["GET", "POST"])
def choose_timezone(request: HttpRequest) -> HttpResponse:
    """Show the zone picker; on POST store the choice and go back to `next`."""
    if request.method == "POST":
        form = TimeZoneForm(request.POST)
        if form.is_valid():
            response = HttpResponseRedirect(
                _safe_next(request, form.cleaned_data["next"])
            )
            set_timezone_cookie(response, form.cleaned_data["zone"])
            return response
        return render(request, "timezone.html", {"form": form}, status=400)

    form = TimeZoneForm(
        initial={
            "zone": timezone.get_current_timezone_name(),
            "next": request.GET.get("next", ""),
        }
    )
    return render(request, "timezone.html", {"form": form})
