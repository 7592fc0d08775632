"""Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEYS."""

from django.core.management.base import BaseCommand
from django.db import transaction

from companies.models import Channel, Company
from config.fields import EncryptedTextField


class Command(BaseCommand):
    help = "After putting a new key first in FIELD_ENCRYPTION_KEYS, re-encrypt all secrets with it."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        total = 0
        for model in (Company, Channel):
            fields = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
            for row in model.objects.select_for_update().only("pk", *fields):
                # Reading decrypts with any key; saving encrypts with the primary one.
                row.save(update_fields=fields)
                total += 1
        self.stdout.write(f"Re-encrypted the secrets of {total} rows.")
