"""Campaign tasks: import an uploaded CSV, run the engine, and find the imports a dead worker left."""

import datetime as dt

from celery import shared_task
from django.conf import settings

from companies.joblocks import exclusive_job
from config import queues
from notifications.campaigns import engine, imports, services
from notifications.models import CampaignUpload


@shared_task(ignore_result=True)
def import_campaign_upload(upload_id: int) -> str:
    upload = (
        CampaignUpload.objects.select_related("campaign__company", "campaign__channel").filter(pk=upload_id).first()
    )
    if upload is None:
        return "nothing to import"
    try:
        fields = services.fields_of(upload.campaign)
    except services.CampaignTemplateNotUsable as exc:
        CampaignUpload.objects.filter(pk=upload_id, status=CampaignUpload.Status.IMPORTING).update(
            status=CampaignUpload.Status.FAILED, error=exc.message[:500]
        )
        return "failed"
    return imports.import_upload(upload_id, fields=fields)


# One engine at a time: it runs passes for CAMPAIGN_RUN_SECONDS, then hands over to a fresh task while a
# campaign is active (beat's run is the backstop for a lost hand-over).
@shared_task
@exclusive_job(lease=dt.timedelta(minutes=3), name="notifications.tasks.campaigns.run_campaigns")
def run_campaigns() -> int:
    handed = engine.run(seconds=settings.CAMPAIGN_RUN_SECONDS)
    if settings.CAMPAIGN_RUN_SECONDS > 0 and engine.active_campaigns():
        queues.publish(services.PUMP_TASK, countdown=engine.TICK_SECONDS)
    return handed


@shared_task
@exclusive_job(lease=dt.timedelta(minutes=5))
def resume_imports() -> int:
    """Publish every import still running: one whose worker died resumes after its last batch; a live one is
    left alone by its campaign's import lock."""
    waiting = list(CampaignUpload.objects.filter(status=CampaignUpload.Status.IMPORTING).values_list("pk", flat=True))
    for upload_id in waiting:
        queues.publish(imports.IMPORT_TASK, upload_id)
    return len(waiting)
