"""The admin scoped to a company: an ISP admin sees and changes only its company's rows, on every model.

Every ModelAdmin of the project derives from ``CompanyScopedAdmin`` (inlines from ``CompanyScopedInline``)
and declares two things:

- ``company_path``: the lookup from its model to its company's id, e.g. ``"company"``,
  ``"campaign__company"``, ``"pk"`` for Company itself; or ``PLATFORM_ONLY`` for rows no ISP admin may
  see (platform tokens, users, periodic tasks). ``config.admin_site`` refuses a path that does not end
  at a Company and makes third-party admins (auth, django-celery-beat, axes) platform-only.
- ``isp_admin_permissions``: what an ISP admin may do there, of view, add, change and delete. Staff without
  a membership keep Django's own permissions; agents never reach the admin (``PonteAdminSite``).

For an ISP admin this scopes the changelist, search, actions and the autocomplete and raw-id pop-ups
(all read ``get_queryset``), the filters' choices, the choices of every form field that lists rows
(fixed to its own company for a company field), inlines' forms, and answers 404 for another company's
change, delete and history pages.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from companies.members import member_of
from companies.models import Company, Member
from config.fields import EncryptedTextField

PLATFORM_ONLY = None
UNDECLARED = "<undeclared>"
PERMISSIONS = frozenset({"view", "add", "change", "delete"})
EVERYTHING = PERMISSIONS
READ_ONLY = frozenset({"view"})
NOTHING: frozenset[str] = frozenset()


def check_company_path(model: type[models.Model], path: str | None) -> None:
    """Raise ImproperlyConfigured unless ``path`` is platform-only or leads from ``model`` to a Company."""
    if path is PLATFORM_ONLY:
        return
    if path == UNDECLARED:
        raise ImproperlyConfigured(
            f"The admin of {model._meta.label} declares no company_path (a lookup to its company, or PLATFORM_ONLY)."
        )
    if path == "pk":
        if model._meta.concrete_model is not Company:
            raise ImproperlyConfigured(f"company_path 'pk' is for Company only, not {model._meta.label}.")
        return
    try:
        last = get_fields_from_path(model, path)[-1]
    except (FieldDoesNotExist, NotRelationField) as exc:
        raise ImproperlyConfigured(f"company_path {path!r} of {model._meta.label}: {exc}") from None
    if not last.many_to_one or last.related_model is not Company:
        raise ImproperlyConfigured(f"company_path {path!r} of {model._meta.label} must end at a Company foreign key.")


def company_id_of(obj: models.Model, path: str) -> int | None:
    """The id of the company ``obj`` belongs to, following ``path`` (declared, so checked at registration)."""
    if path == "pk":
        return obj.pk
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop)
        if obj is None:
            return None
    return getattr(obj, f"{last}_id")


def scope(queryset: QuerySet, path: str | None, member: Member) -> QuerySet:
    """``queryset`` cut down to ``member``'s company (nothing for platform-only rows)."""
    if path is PLATFORM_ONLY or path == UNDECLARED:
        return queryset.none()
    return queryset.filter(**{path: member.company_id})


def for_request(request: HttpRequest, queryset: QuerySet, path: str) -> QuerySet:
    """``queryset`` as the logged-in user may see it: whole for platform staff, its company's for a member."""
    member = member_of(request.user)
    return queryset if member is None else scope(queryset, path, member)


def _path_of(site: admin.AdminSite, model: type[models.Model]) -> str | None:
    if model._meta.concrete_model is Company:
        return "pk"
    model_admin = site._registry.get(model) or site._registry.get(model._meta.concrete_model)
    path = getattr(model_admin, "company_path", UNDECLARED)
    if path == UNDECLARED:
        raise ImproperlyConfigured(
            f"A form lists {model._meta.label} rows to an ISP admin, but no registered admin declares its company_path."
        )
    return path


def scoped_form(form_class: type[forms.BaseForm], member: Member, site: admin.AdminSite) -> type[forms.BaseForm]:
    """``form_class`` whose fields that list rows (including those a form sets up itself) list only the member's."""

    class ScopedForm(form_class):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            for field in self.fields.values():
                if isinstance(field, forms.ModelChoiceField):
                    model = field.queryset.model
                    field.queryset = scope(field.queryset, _path_of(site, model), member)

    ScopedForm.__name__ = form_class.__name__
    return ScopedForm


class ScopedAllValuesFieldListFilter(admin.AllValuesFieldListFilter):
    """Django lists the values of a field across a relation from the whole table; this lists the member's."""

    def __init__(self, field, request, params, model, model_admin, field_path) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        rows = model_admin.get_queryset(request).distinct().order_by(field_path)
        self.lookup_choices = rows.values_list(field_path, flat=True)


def _member_filter(model: type[models.Model], spec: Any) -> Any:
    """A list_filter entry as a member may see it, or None when it has nothing to show a member."""
    if isinstance(spec, str):
        path, filter_class = spec, None
    elif isinstance(spec, tuple | list):
        path, filter_class = spec
    else:
        return spec  # a SimpleListFilter: its own lookups
    fields = get_fields_from_path(model, path)
    last = fields[-1]
    if last.is_relation:
        if last.related_model is Company:
            return None  # a member has one company: nothing to choose
        if filter_class is None or filter_class is admin.RelatedFieldListFilter:
            return (path, admin.RelatedOnlyFieldListFilter)
        return spec
    plain = not (last.flatchoices or isinstance(last, models.BooleanField | models.DateField))
    if filter_class is None and len(fields) > 1 and plain:
        return (path, ScopedAllValuesFieldListFilter)
    return spec


class _MemberPermissions:
    """What a member may do is its role's and the admin's declaration; platform staff keep Django's permissions."""

    company_path: str | None = UNDECLARED
    isp_admin_permissions: frozenset[str] = NOTHING

    def _member_may(self, request: HttpRequest, action: str, obj: models.Model | None) -> bool | None:
        """None for platform staff; for a member, whether it may ``action`` (on ``obj``, in its company)."""
        member = member_of(request.user)
        if member is None:
            return None
        if not member.is_isp_admin or self.company_path in (PLATFORM_ONLY, UNDECLARED):
            return False
        return action in self.isp_admin_permissions and (
            obj is None or company_id_of(obj, self._object_path()) == member.company_id
        )

    def _object_path(self) -> str:
        return self.company_path

    # The same for a ModelAdmin and an inline (whose ``obj`` is the parent row); adding differs in signature.

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = self._member_may(request, "view", obj)
        return super().has_view_permission(request, obj) if allowed is None else allowed

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = self._member_may(request, "change", obj)
        return super().has_change_permission(request, obj) if allowed is None else allowed

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = self._member_may(request, "delete", obj)
        return super().has_delete_permission(request, obj) if allowed is None else allowed


def _without(fieldsets: list, names: set[str]) -> list:
    """``fieldsets`` less the fields in ``names`` (rows of fields kept as rows)."""
    kept = []
    for title, options in fieldsets:
        fields = []
        for entry in options.get("fields", ()):
            if isinstance(entry, list | tuple):
                row = [name for name in entry if name not in names]
                if row:
                    fields.append(tuple(row))
            elif entry not in names:
                fields.append(entry)
        kept.append((title, {**options, "fields": fields}))
    return kept


class CompanyScopedAdmin(_MemberPermissions, admin.ModelAdmin):
    """The base of every ModelAdmin: see the module's docstring."""

    # Django 6.0's default, stated so 5.2 (used on Python 3.11) behaves the same.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    # ------------------------------------------------------------------ rows

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return for_request(request, super().get_queryset(request), self.company_path)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        obj = super().get_object(request, object_id, from_field)
        if obj is None and member_of(request.user) is not None:
            raise Http404("No such row in your company.")  # Django would redirect to the index saying so
        return obj

    # ------------------------------------------------------------------ permissions

    def has_module_permission(self, request: HttpRequest) -> bool:
        allowed = self._member_may(request, "view", None)
        if allowed is None:
            return super().has_module_permission(request)
        return any(self._member_may(request, action, None) for action in PERMISSIONS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        allowed = self._member_may(request, "add", None)
        return super().has_add_permission(request) if allowed is None else allowed

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        if member_of(request.user) is None:
            return actions
        # An action that names the permissions it needs is checked against them (Django does that); one
        # that names none is an operator's tool, for the platform's staff only.
        return {name: action for name, action in actions.items() if getattr(action[0], "allowed_permissions", ())}

    # ------------------------------------------------------------------ filters and forms

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets  # secrets are write-only boxes there (companies.forms)
        # A read-only page would print a stored secret as text.
        secrets = {f.name for f in self.model._meta.concrete_fields if isinstance(f, EncryptedTextField)}
        return _without(fieldsets, secrets) if secrets else fieldsets

    def get_list_filter(self, request: HttpRequest) -> list:
        filters = super().get_list_filter(request)
        if member_of(request.user) is None:
            return filters
        return [spec for spec in (_member_filter(self.model, spec) for spec in filters) if spec is not None]

    def get_autocomplete_fields(self, request: HttpRequest) -> list[str]:
        fields = super().get_autocomplete_fields(request)
        if member_of(request.user) is None:
            return fields
        return [name for name in fields if self.model._meta.get_field(name).related_model is not Company]

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        member = member_of(request.user)
        if member is not None and db_field.related_model is Company:
            # Fixed to the member's company: a disabled field ignores what is posted.
            return db_field.formfield(
                queryset=Company.objects.filter(pk=member.company_id),
                initial=member.company_id,
                disabled=True,
                empty_label=None,
                widget=forms.Select,
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        member = member_of(request.user)
        if member is not None:
            for field in self.model._meta.concrete_fields:
                if field.many_to_one and field.related_model is Company:
                    initial[field.name] = member.company_id
        return initial

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change, **kwargs)
        member = member_of(request.user)
        return form if member is None else scoped_form(form, member, self.admin_site)


class CompanyScopedInline(_MemberPermissions):
    """Mixed into every inline (before TabularInline / StackedInline): the parent row is already the member's,
    so what is left is what its role may do there and the choices of the inline's forms."""

    company_path = "parent"  # the parent row's, checked by its own admin

    def _object_path(self) -> str:
        return self.admin_site._registry[self.parent_model].company_path

    def has_add_permission(self, request: HttpRequest, obj: Any) -> bool:
        allowed = self._member_may(request, "add", obj)  # obj: the parent row
        return super().has_add_permission(request, obj) if allowed is None else allowed

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any):
        formset = super().get_formset(request, obj, **kwargs)
        member = member_of(request.user)
        if member is not None:
            formset.form = scoped_form(formset.form, member, self.admin_site)
        return formset


def platform_only(admin_class: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    """``admin_class`` (a third party's) made invisible to members; staff keep it as it was."""
    return type(
        admin_class.__name__,
        (CompanyScopedAdmin, admin_class),
        {"company_path": PLATFORM_ONLY, "made_platform_only": True, "__module__": admin_class.__module__},
    )
