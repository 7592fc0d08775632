"""The project's URLs plus ``/echo``, which says what client address and scheme Django saw."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from config.ratelimit import client_ip
from config.urls import urlpatterns as project_urlpatterns


def echo(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {"remote_addr": request.META.get("REMOTE_ADDR"), "client_ip": client_ip(request), "secure": request.is_secure()}
    )


urlpatterns = [path("echo", echo), *project_urlpatterns]
