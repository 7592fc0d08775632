"""Rows of any model for one company, built from the model's fields, so a model added later needs no factory.

Every text field of a company's rows carries its marker (``qqalpha``, ``qqbeta``): a page shown to
company A's admin that contains B's marker shows something of B's.
"""

import datetime as dt
import itertools
import uuid
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone

from companies.models import Company

_sequence = itertools.count(1)


class Rows:
    """One row per model for ``company`` (parents shared: a message and its session have the same contact)."""

    def __init__(self, company: Company, marker: str) -> None:
        self.company, self.marker = company, marker
        self._made: dict[type[models.Model], models.Model] = {Company: company}

    def of(self, model: type[models.Model]) -> models.Model:
        concrete = model._meta.concrete_model
        if concrete not in self._made:
            self._made[concrete] = self._build(concrete)
        row = self._made[concrete]
        return row if model is concrete else model.objects.get(pk=row.pk)

    def _build(self, model: type[models.Model]) -> models.Model:
        if model is get_user_model():
            return model.objects.create_user(username=f"{self.marker}-user-{next(_sequence)}", password="x")
        values = {}
        for field in model._meta.concrete_fields:
            if field.auto_created or isinstance(field, models.AutoField) or getattr(field, "auto_now_add", False):
                continue
            if field.is_relation:
                if field.related_model is model:
                    continue  # a row pointing at another of its kind: left empty
                values[field.name] = self.of(field.related_model)
            else:
                values[field.name] = self._value(field)
        return model.objects.create(**values)

    def _value(self, field: models.Field):
        if field.choices:
            return field.get_default() if field.has_default() and field.get_default() else field.choices[0][0]
        text = f"{self.marker}-{field.name}-{next(_sequence)}"
        if isinstance(field, models.EmailField):
            return f"{text}@example.com"
        if isinstance(field, models.URLField):
            return f"https://{self.marker}.example.com/{field.name}"
        if isinstance(field, models.FileField):
            return ""
        if isinstance(field, models.CharField | models.TextField):
            return text[: field.max_length] if field.max_length else text
        if field.has_default():
            return field.get_default()
        if field.null:
            return None  # revoked_at, closed_at...: a row in its everyday state
        if isinstance(field, models.UUIDField):
            return uuid.uuid4()
        if isinstance(field, models.BooleanField):
            return False
        if isinstance(field, models.DateTimeField):
            return timezone.now()
        if isinstance(field, models.DateField):
            return timezone.localdate() + dt.timedelta(days=next(_sequence))  # unique per day where it must be
        if isinstance(field, models.DecimalField):
            return Decimal(0)
        if isinstance(field, models.IntegerField | models.FloatField):
            return next(_sequence)
        if isinstance(field, models.JSONField):
            return {}
        raise NotImplementedError(f"No test value for {field.model._meta.label}.{field.name} ({type(field).__name__})")
