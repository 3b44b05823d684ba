"""Forms of the API key pages. They validate input only: the views hand the cleaned values to
``keys.services``, which enforce the rules again and are the only code that creates or changes a key
(a form never sees, saves or keeps a secret)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms

from accounts import permissions
from accounts.actors import Actor
from accounts.models import Account, Application, Role
from keys import credentials, selectors, services
from keys.errors import ServiceError
from keys.filters import indented
from keys.models import ApiKey

NEVER = "never"
CUSTOM = "custom"
EXPIRY_CHOICES = [
    (NEVER, "Never"),
    ("30", "30 days"),
    ("90", "90 days"),
    ("365", "365 days"),
    (CUSTOM, "Custom…"),
]

EXPIRY_RANGE_MESSAGE = f"Expiry must be between 1 and {services.MAX_EXPIRY_DAYS} days, or never."

GRACE_PERIODS: dict[str, tuple[str, timedelta]] = {
    "0": ("Stop now", timedelta(0)),
    "3600": ("After 1 hour", timedelta(hours=1)),
    "86400": ("After 24 hours", timedelta(hours=24)),
    "604800": ("After 7 days", timedelta(days=7)),
}


class ErrorsDescribedMixin:
    """Point each invalid widget's ``aria-describedby`` at its error message (``partials/field.html``
    renders it with the id ``<field id>_error``), so a screen reader reads the error with the field."""

    def add_error(self, field, error) -> None:
        super().add_error(field, error)
        for name in self._errors or {}:
            if name not in self.fields:
                continue
            bound = self[name]
            ids = [f"{bound.auto_id}_error"]
            if bound.help_text:
                ids.append(f"{bound.auto_id}_helptext")
            self.fields[name].widget.attrs["aria-describedby"] = " ".join(ids)


def _service_clean_name(form: forms.Form, name: str) -> str:
    """The service's rules for a key name, as a form error."""
    try:
        return services.clean_name(name)
    except ServiceError as err:
        if credentials.contains_secret(name):
            # Not echoed back into the re-rendered form: the page must not carry a secret.
            form.data = form.data.copy()
            form.data[form.add_prefix("name")] = ""
        raise forms.ValidationError(err.message) from None


class AccountChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Account) -> str:
        return indented(obj)


class KeyCreateForm(ErrorsDescribedMixin, forms.Form):
    application = forms.ModelChoiceField(queryset=Application.objects.none(), empty_label=None)
    role = forms.TypedChoiceField(coerce=int, choices=())
    account = AccountChoiceField(queryset=Account.objects.none(), empty_label=None)
    name = forms.CharField(
        required=False,
        strip=True,
        help_text="Something that says where the key is used, e.g. “ERP production”.",
        widget=forms.TextInput(attrs={"maxlength": services.MAX_NAME_LENGTH, "autocomplete": "off"}),
    )
    expiry = forms.ChoiceField(label="Expiry", choices=EXPIRY_CHOICES, initial=NEVER)
    # The stateless rules are checked here too, so that every such error shows at once; the
    # service checks them again with the same words, and adds the ones that need the database.
    expiry_days = forms.IntegerField(
        label="Days until expiry",
        required=False,
        min_value=1,
        max_value=services.MAX_EXPIRY_DAYS,
        error_messages={
            "min_value": EXPIRY_RANGE_MESSAGE,
            "max_value": EXPIRY_RANGE_MESSAGE,
        },
        help_text=f"For a custom expiry: 1 to {services.MAX_EXPIRY_DAYS} days.",
        widget=forms.NumberInput(attrs={"min": 1, "max": services.MAX_EXPIRY_DAYS, "inputmode": "numeric"}),
    )
    scopes = forms.MultipleChoiceField(
        choices=(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one scope."},
    )

    def __init__(self, actor: Actor, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        applications = Application.objects.filter(organization_id=actor.organization_id).prefetch_related(
            "scopes"
        )
        self.applications = list(applications)
        self.accounts = permissions.manageable_accounts(actor)
        # The service checks the role against the chosen account again: a member may manage one
        # account with a lower role than another.
        self.roles = permissions.creatable_roles(actor)

        self.fields["application"].queryset = applications
        self.fields["account"].queryset = Account.objects.filter(pk__in=[a.pk for a in self.accounts])
        self.fields["role"].choices = [(int(r), r.label) for r in self.roles]
        if not self.is_bound:
            if self.applications and "application" not in self.initial:
                self.initial["application"] = self.applications[0].pk
            if self.roles and "role" not in self.initial:
                self.initial["role"] = int(self.roles[0])
            account = permissions.default_key_account(actor, self.accounts)
            if account is not None and "account" not in self.initial:
                self.initial["account"] = account.pk
        self.chosen_application = self._chosen_application()
        application = self.chosen_application
        # A readable unique name is suggested for the chosen application; when the application
        # changes, a suggestion the user did not edit follows it.
        self.name_replaced = False
        if self.is_bound:
            self.suggested_name = self.data.get("suggested_name", "")
        else:
            self.suggested_name = (
                selectors.suggest_key_name(application.organization, application) if application else ""
            )
            kept = self.initial.get("name")
            if not kept or kept == self.initial.get("suggested_name"):
                self.name_replaced = kept != self.suggested_name
                self.initial["name"] = self.suggested_name
        self.fields["scopes"].choices = [
            (str(s), str(s)) for s in (application.scopes.all() if application else [])
        ]

    # ---- what the template needs to draw the scope catalogue ----
    def _chosen_application(self) -> Application | None:
        wanted = self.data.get("application") if self.is_bound else self.initial.get("application")
        for application in self.applications:
            if str(application.pk) == str(getattr(wanted, "pk", wanted)):
                return application
        return self.applications[0] if self.applications else None

    def chosen_role(self) -> int:
        raw = self.data.get("role") if self.is_bound else self.initial.get("role")
        try:
            return int(raw)
        except (TypeError, ValueError):
            return int(self.roles[0]) if self.roles else 0

    def chosen_scopes(self) -> set[str]:
        if self.is_bound:
            return set(self.data.getlist("scopes")) if hasattr(self.data, "getlist") else set()
        return set(self.initial.get("scopes") or [])

    def scope_groups(self) -> list[dict]:
        """The catalogue grouped by resource, each scope with whether it is checked or too high."""
        if self.chosen_application is None:
            return []
        chosen, role = self.chosen_scopes(), self.chosen_role()
        return [
            {
                "resource": resource,
                "scopes": [
                    {
                        "name": str(scope),
                        "description": scope.description,
                        "checked": str(scope) in chosen and scope.min_role <= role,
                        "allowed": scope.min_role <= role,
                        "min_role": Role(scope.min_role).label,
                        "id": f"scope-{str(scope).replace(':', '-')}",
                    }
                    for scope in scopes
                ],
            }
            for resource, scopes in self.chosen_application.grouped_scopes()
        ]

    # ---- validation ----
    def clean_name(self) -> str:
        name = self.cleaned_data.get("name") or ""
        if not name:
            return ""  # filled with a suggestion by the view
        return _service_clean_name(self, name)

    def clean(self) -> dict:
        cleaned = super().clean()
        expiry = cleaned.get("expiry")
        if expiry == CUSTOM:
            if cleaned.get("expiry_days") is None and "expiry_days" not in self.errors:
                self.add_error("expiry_days", "Enter the number of days, or choose another expiry.")
            cleaned["expires_in_days"] = cleaned.get("expiry_days")
        elif expiry and expiry != NEVER:
            cleaned["expires_in_days"] = int(expiry)
        else:
            cleaned["expires_in_days"] = None
        return cleaned

    # Where a service refusal belongs on this form.
    SERVICE_FIELDS = {
        "name": "name",
        "scopes": "scopes",
        "expires_in_days": "expiry_days",
        "role": "role",
    }

    def add_service_error(self, err: ServiceError) -> None:
        field = self.SERVICE_FIELDS.get(err.field or "")
        if field == "expiry_days" and self.cleaned_data.get("expiry") != CUSTOM:
            field = "expiry"
        self.add_error(field, err.message)


class KeyEditForm(ErrorsDescribedMixin, forms.Form):
    """Rename a key, or bring its expiry earlier: all that may change about a deployed key."""

    name = forms.CharField(
        strip=True,
        max_length=services.MAX_NAME_LENGTH,
        error_messages={"required": "Give the key a name."},
        widget=forms.TextInput(attrs={"maxlength": services.MAX_NAME_LENGTH, "autocomplete": "off"}),
    )
    expires_at = forms.DateTimeField(
        label="Expires at (UTC)",
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"invalid": "Enter a date and time, e.g. 2026-12-31 17:00."},
    )

    def __init__(self, key: ApiKey, data=None) -> None:
        self.key = key
        initial = {"name": key.name, "expires_at": _to_minute(key.expires_at)}
        super().__init__(data, initial=initial)
        if key.expires_at is None:
            self.fields[
                "expires_at"
            ].help_text = (
                "Never expires now. Set a date to make it stop working then; it cannot be extended later."
            )
        else:
            self.fields[
                "expires_at"
            ].help_text = (
                "Only earlier than now set: a key's life cannot be extended (create a new key for that)."
            )

    def clean_name(self) -> str:
        return _service_clean_name(self, self.cleaned_data["name"])

    def clean_expires_at(self) -> datetime | None:
        value = self.cleaned_data.get("expires_at")
        if value is None:
            if self.key.expires_at is not None:
                raise forms.ValidationError(
                    "A key with an expiry cannot be made to never expire; create a new key for that."
                )
            return None
        return value

    @property
    def new_name(self) -> str | None:
        name = self.cleaned_data["name"]
        return name if name != self.key.name else None

    @property
    def new_expiry(self) -> datetime | None:
        """The new expiry, or None when the field still shows the current one (to the minute)."""
        value = self.cleaned_data.get("expires_at")
        if value is None or value == _to_minute(self.key.expires_at):
            return None
        return value

    def add_service_error(self, err: ServiceError) -> None:
        self.add_error(err.field if err.field in self.fields else None, err.message)


def _to_minute(moment: datetime | None) -> datetime | None:
    return moment.replace(second=0, microsecond=0) if moment is not None else None


class RegenerateForm(forms.Form):
    grace_period = forms.ChoiceField(
        label="When should the current secret stop working?",
        choices=[(value, label) for value, (label, _) in GRACE_PERIODS.items()],
        initial="0",
        widget=forms.RadioSelect,
    )

    @property
    def grace(self) -> timedelta:
        return GRACE_PERIODS[self.cleaned_data["grace_period"]][1]


class UsageExportForm(forms.Form):
    """``?days=`` of a usage export: 1 to ``USAGE_DAYS_MAX`` whole days, the default when absent."""

    days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=selectors.USAGE_DAYS_MAX,
        error_messages={
            name: (
                f"Choose a number of days from 1 to {selectors.USAGE_DAYS_MAX} for the usage export "
                f"(for example ?days={selectors.USAGE_DAYS_DEFAULT})."
            )
            for name in ("invalid", "min_value", "max_value")
        },
    )

    def clean_days(self) -> int:
        days = self.cleaned_data["days"]
        return selectors.USAGE_DAYS_DEFAULT if days is None else days
