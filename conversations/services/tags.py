"""Tags: the labels a company puts on its sessions, created by name (``sessions.tag`` puts them on a session)."""

from django.db import IntegrityError, transaction

from companies.models import Company
from conversations.models import Tag


def create_tag(*, company: Company, name: str) -> tuple[Tag, bool]:
    """The company's tag ``name``, created when it has none by that name; and whether it was created."""
    try:
        with transaction.atomic():
            return Tag.objects.get_or_create(company=company, name=name)
    except IntegrityError:  # created by another request meanwhile
        return Tag.objects.get(company=company, name=name), False
