"""Draft pt_BR templates for every purpose of the companies that exist when this runs.

New companies get theirs with ``manage.py create_default_templates``.
"""

from django.db import migrations


def create_drafts(apps, schema_editor):
    from companies.wabas import cloud_wabas  # no model imports: safe with historical models
    from templates_meta.defaults import create_drafts

    Company = apps.get_model("companies", "Company")
    Channel = apps.get_model("companies", "Channel")
    Template = apps.get_model("templates_meta", "Template")
    TemplatePurpose = apps.get_model("templates_meta", "TemplatePurpose")
    for company in Company.objects.all():
        create_drafts(
            company=company,
            wabas=cloud_wabas(Channel.objects.filter(company=company)),
            template_model=Template,
            purpose_model=TemplatePurpose,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("templates_meta", "0001_initial"),
        ("companies", "0004_joblock_channel_health_channel_health_changed_at_and_more"),
    ]

    operations = [migrations.RunPython(create_drafts, migrations.RunPython.noop)]
