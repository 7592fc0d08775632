"""Building campaigns and their CSVs for the campaign tests."""

import io

from notifications.campaigns import services
from notifications.models import Campaign
from notifications.tasks.campaigns import import_campaign_upload


def csv_file(text: str, *, encoding: str = "utf-8") -> io.BytesIO:
    return io.BytesIO(text.encode(encoding))


def campaign_for(company, template, **overrides) -> Campaign:
    fields = {
        "company": company,
        "name": "Manutenção",
        "template_name": template.name,
        "template_language": template.language,
        "messages_per_minute": 60,
        "columns": {"1": "nome", "2": "data"},
    }
    return services.create_campaign(**{**fields, **overrides})


def imported(campaign: Campaign, text: str, *, encoding: str = "utf-8"):
    """Upload ``text`` as the campaign's CSV and import it as the background task would; returns the upload."""
    file = csv_file(text, encoding=encoding)
    upload = services.add_upload(campaign=campaign, file=file, filename="clientes.csv", size=len(file.getvalue()))
    import_campaign_upload(upload.pk)
    upload.refresh_from_db()
    return upload
