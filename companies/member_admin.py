"""Members in the admin: platform staff put users in companies as ISP admins or agents; an ISP admin adds,
resets and removes its own company's agents (the other ISP admins it only sees). Writes go through
``companies.members``."""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model, password_validation
from django.db.models import QuerySet
from django.http import HttpRequest

from companies import members
from companies.admin_scoping import EVERYTHING, CompanyScopedAdmin
from companies.models import Member

NEW_USER_FIELDS = ["username", "email", "password"]


class MemberForm(forms.ModelForm):
    """Either an existing user (platform staff) or a new login made here; a password replaces the current one."""

    username = forms.CharField(max_length=150, required=False, help_text="A new login for this person.")
    email = forms.EmailField(required=False)
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="For a new login; on an existing member, a new password (blank keeps it).",
    )

    class Meta:
        model = Member
        fields = ["company", "role", "user"]

    def clean_password(self) -> str:
        password = self.cleaned_data.get("password", "")
        if password:
            password_validation.validate_password(password, self.instance.user if self.instance.pk else None)
        return password

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance.pk:
            return cleaned
        user, username = cleaned.get("user"), cleaned.get("username", "").strip()
        if user is None and not username:
            raise forms.ValidationError("Choose a user, or give a username and password for a new login.")
        if user is not None and username:
            raise forms.ValidationError("Either an existing user or a new login, not both.")
        if user is not None and user.is_superuser:
            self.add_error("user", members.NotAllowedAsMember.message)
        if user is not None and Member.objects.filter(user=user).exists():
            self.add_error("user", "This user is already a member; change that membership instead.")
        if username:
            if get_user_model().objects.filter(username__iexact=username).exists():
                self.add_error("username", "This username is taken.")
            if not cleaned.get("password"):
                self.add_error("password", "A new login needs a password.")
        return cleaned


@admin.register(Member)
class MemberAdmin(CompanyScopedAdmin):
    form = MemberForm
    company_path = "company"
    isp_admin_permissions = EVERYTHING  # narrowed to agents below
    list_display = ["user", "role", "company", "email", "is_active", "last_login", "created_at"]
    list_filter = ["role", "company"]
    list_select_related = ["user", "company"]
    search_fields = ["user__username", "user__email", "user__first_name", "user__last_name", "company__name"]
    autocomplete_fields = ["company", "user"]

    @admin.display(description="e-mail", ordering="user__email")
    def email(self, obj: Member) -> str:
        return obj.user.email

    @admin.display(description="active", boolean=True, ordering="user__is_active")
    def is_active(self, obj: Member) -> bool:
        return obj.user.is_active

    @admin.display(description="last login", ordering="user__last_login")
    def last_login(self, obj: Member):
        return obj.user.last_login

    def _is_member(self, request: HttpRequest) -> bool:
        return members.member_of(request.user) is not None

    def _only_agents(self, request: HttpRequest, obj: Member | None) -> bool:
        # An ISP admin manages its agents; the ISP admins (itself included) are the platform's to change.
        return obj is None or not self._is_member(request) or obj.role == Member.Role.AGENT

    def has_change_permission(self, request: HttpRequest, obj: Member | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._only_agents(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Member | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._only_agents(request, obj)

    def get_fields(self, request: HttpRequest, obj: Member | None = None) -> list[str]:
        if obj is not None:
            return ["user", "company", "role", "password"]
        if self._is_member(request):
            return ["company", "role", *NEW_USER_FIELDS]
        return ["company", "role", "user", *NEW_USER_FIELDS]

    def get_readonly_fields(self, request: HttpRequest, obj: Member | None = None) -> list[str]:
        return ["user"] if obj is not None else []

    def formfield_for_choice_field(self, db_field, request: HttpRequest, **kwargs: Any):
        if db_field.name == "role" and self._is_member(request):
            kwargs["choices"] = [(Member.Role.AGENT, Member.Role.AGENT.label)]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        if db_field.name == "user":
            kwargs["required"] = False
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Member, form: MemberForm, change: bool) -> None:
        data = form.cleaned_data
        if change:
            saved = members.set_member(user=obj.user, company=obj.company, role=obj.role)
            if data.get("password"):
                members.set_member_password(member=saved, password=data["password"])
        elif data.get("user") is not None:
            saved = members.set_member(user=data["user"], company=obj.company, role=obj.role)
        else:
            saved = members.create_member_user(
                company=obj.company,
                role=obj.role,
                username=data["username"].strip(),
                email=data.get("email", ""),
                password=data["password"],
            )
        obj.pk, obj.user = saved.pk, saved.user

    def delete_model(self, request: HttpRequest, obj: Member) -> None:
        members.remove_member(member=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Member]) -> None:
        # Django has asked has_delete_permission of each selected row before getting here.
        for member in queryset.select_related("user"):
            members.remove_member(member=member)
