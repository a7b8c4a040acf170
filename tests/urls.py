"""URLs of the test project: the admin, and a login shortcut the browser test uses."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path


def browser_login(request: HttpRequest) -> HttpResponse:
    """Log the browser in as the user named in ``?user=`` (test project only) and go to ``?next=``."""
    user = get_user_model().objects.get(username=request.GET["user"])
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponseRedirect(request.GET.get("next", "/admin/"))


urlpatterns = [
    path("admin/", admin.site.urls),
    path("test-login/", browser_login),
]
