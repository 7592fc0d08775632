"""Draft pt_BR templates for every purpose of the companies that exist when this runs.

New companies get theirs with ``manage.py create_default_templates``.
"""

from django.db import migrations


def create_drafts(apps, schema_editor):
    from templates_meta.services import default_drafts  # plain data, safe to use from a migration

    Company = apps.get_model("companies", "Company")
    Channel = apps.get_model("companies", "Channel")
    Template = apps.get_model("templates_meta", "Template")
    TemplatePurpose = apps.get_model("templates_meta", "TemplatePurpose")
    for company in Company.objects.all():
        wabas = sorted(
            set(Channel.objects.filter(company=company, kind="cloud").exclude(waba_id="").values_list("waba_id", flat=True))
        )
        for draft in default_drafts():
            purpose, _ = TemplatePurpose.objects.get_or_create(
                company=company, purpose=draft["purpose"], defaults={"parameters": draft["parameters"]}
            )
            for waba_id in wabas or [""]:
                template, _ = Template.objects.get_or_create(
                    company=company,
                    waba_id=waba_id,
                    name=draft["name"],
                    language="pt_BR",
                    defaults={"category": "UTILITY", "components": draft["components"], "status": "DRAFT"},
                )
                if purpose.template_id is None:
                    purpose.template = template
                    purpose.save(update_fields=["template"])


class Migration(migrations.Migration):
    dependencies = [
        ("templates_meta", "0001_initial"),
        ("companies", "0004_joblock_channel_health_channel_health_changed_at_and_more"),
    ]

    operations = [migrations.RunPython(create_drafts, migrations.RunPython.noop)]
