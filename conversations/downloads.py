"""The public URL of a hosted file (``services.hosted_files``): what WhatsApp fetches to deliver a document."""

from django.http import FileResponse, Http404, HttpRequest
from django.utils import timezone
from django.views.decorators.http import require_safe

from conversations.models import HostedFile


@require_safe
def hosted_file(request: HttpRequest, token: str, filename: str) -> FileResponse:
    hosted = HostedFile.objects.filter(token=token, expires_at__gt=timezone.now()).first()
    if hosted is None or hosted.filename != filename:
        raise Http404
    response = FileResponse(hosted.file.open("rb"), content_type=hosted.content_type, filename=hosted.filename)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
