"""Forms of the API key pages. They validate input only: the views hand the cleaned values to
``keys.services``, which enforce the rules again and are the only code that creates or changes a key
(a form never sees, saves or keeps a secret)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.http import QueryDict
from django.utils import timezone

from accounts import permissions
from accounts.actors import Actor
from accounts.models import Account, Application, LeakPolicy, Role, resource_label, resource_words
from keys import credentials, names, networks, selectors, services
from keys.errors import ErrorCode, ServiceError
from keys.filters import indented
from keys.models import ApiKey
from keys.policy import SecurityPolicy
from keys.scopes import expand_scopes

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


def expiry_choices(policy: SecurityPolicy) -> list[tuple[str, str]]:
    """What the Expiry field offers: everything, or under a maximum lifetime only what fits in it
    (no "Never"), with the maximum itself as a choice."""
    longest = policy.max_key_lifetime_days
    if longest is None:
        return EXPIRY_CHOICES
    presets = [(v, label) for v, label in EXPIRY_CHOICES if v not in (NEVER, CUSTOM) and int(v) <= longest]
    if all(int(v) != longest for v, _ in presets):
        presets.append((str(longest), f"{longest} days (the policy's maximum)"))
    return [*presets, (CUSTOM, "Custom…")]


GRACE_PERIODS: dict[str, tuple[str, timedelta]] = {
    "0": ("Stop now", timedelta(0)),
    "3600": ("After 1 hour", timedelta(hours=1)),
    "86400": ("After 24 hours", timedelta(hours=24)),
    "604800": ("After 7 days", timedelta(days=7)),
}


if TYPE_CHECKING:
    _FormBase = forms.BaseForm
else:
    _FormBase = object


class ErrorsDescribedMixin(_FormBase):
    """Point each invalid widget's ``aria-describedby`` at its error message (``partials/field.html``
    renders it with the id ``<field id>_error``), so a screen reader reads the error with the field."""

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        # Django's errors so far (not in the stubs); .errors would validate the form again.
        for name in self._errors or {}:  # type: ignore[attr-defined]
            if name not in self.fields:
                continue
            bound = self[name]
            ids = [f"{bound.auto_id}_error"]
            if bound.help_text:
                ids.append(f"{bound.auto_id}_helptext")
            self.fields[name].widget.attrs["aria-describedby"] = " ".join(ids)


def _service_clean(form: forms.Form, field: str, rule: Callable[[str], str], text: str) -> str:
    """The service's rule for a text a person typed (a key's name or description), as a form error."""
    try:
        return rule(text)
    except ServiceError as err:
        if credentials.contains_secret(text):
            # Not echoed back into the re-rendered form: the page must not carry a secret.
            data = form.data.copy()  # type: ignore[attr-defined]  # a QueryDict or a dict: both copy
            data[form.add_prefix(field)] = ""
            form.data = data
        raise forms.ValidationError(err.message) from None


def _service_clean_name(form: forms.Form, name: str) -> str:
    return _service_clean(form, "name", names.clean_name, name)


def _service_clean_description(form: forms.Form, description: str) -> str:
    return _service_clean(form, "description", names.clean_description, description)


class AllowedNetworksField(forms.CharField):
    """Allowed networks typed one per line (or separated by commas): cleaned by the same rule as the
    service's, so each bad entry is named next to the field."""

    widget = forms.Textarea

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", "Allowed networks")
        super().__init__(**kwargs)
        self.widget.attrs.update(
            {
                "rows": 3,
                "spellcheck": "false",
                "autocomplete": "off",
                "placeholder": "192.0.2.0/24\n2001:db8::/32",
            }
        )

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]  # text in, a list of networks out
        text = super().to_python(value) or ""
        try:
            return networks.clean_networks(networks.split_networks(text))
        except ServiceError as err:
            raise forms.ValidationError(err.message) from None

    def prepare_value(self, value: Any) -> str:
        return "\n".join(value) if isinstance(value, list | tuple) else (value or "")


class AccountChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Account) -> str:
        return indented(obj)


class KeyCreateForm(ErrorsDescribedMixin, forms.Form):
    marks_required = True  # partials/field.html marks its required fields
    application = forms.ModelChoiceField(queryset=Application.objects.none(), empty_label=None)
    role = forms.TypedChoiceField(coerce=int, choices=())
    account = AccountChoiceField(queryset=Account.objects.none(), empty_label=None)
    name = forms.CharField(
        required=False,
        strip=True,
        help_text="Something that says where the key is used, e.g. “ERP production”.",
        widget=forms.TextInput(attrs={"maxlength": names.MAX_NAME_LENGTH, "autocomplete": "off"}),
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
    allowed_ips = AllowedNetworksField(
        help_text=(
            f"Optional. Addresses or CIDR ranges the key may be used from, one per line, at most "
            f"{networks.MAX_NETWORKS}; empty: anywhere. The list can be narrowed later, never widened."
        ),
    )

    def __init__(self, actor: Actor, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        applications = Application.objects.filter(organization_id=actor.organization_id).prefetch_related(
            "scopes"
        )
        self.applications = list(applications)
        self.accounts = permissions.manageable_accounts(actor)
        # The service checks the role against the chosen account again: a member may manage one
        # account with a lower role than another.
        self.roles = permissions.creatable_roles(actor)

        cast(forms.ModelChoiceField, self.fields["application"]).queryset = applications
        accounts = Account.objects.filter(pk__in=[a.pk for a in self.accounts])
        cast(forms.ModelChoiceField, self.fields["account"]).queryset = accounts
        cast(forms.ChoiceField, self.fields["role"]).choices = [(int(r), r.label) for r in self.roles]
        if not self.is_bound:
            if self.applications and "application" not in self.initial:
                self.initial["application"] = self.applications[0].pk
            if self.roles and "role" not in self.initial:
                self.initial["role"] = int(self.roles[0])
            account = permissions.default_key_account(actor, self.accounts)
            if account is not None and "account" not in self.initial:
                self.initial["account"] = account.pk
        organization = actor.user.organization if actor.user else None
        self.policy = SecurityPolicy.of(organization) if organization is not None else SecurityPolicy()
        self._apply_policy()
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
        cast(forms.ChoiceField, self.fields["scopes"]).choices = [
            (str(s), str(s)) for s in (application.scopes.all() if application else [])
        ]

    def _apply_policy(self) -> None:
        """Offer only what the organization's security policy allows (the service checks again)."""
        policy = self.policy
        expiry, days = cast(forms.ChoiceField, self.fields["expiry"]), self.fields["expiry_days"]
        expiry.choices = expiry_choices(policy)
        if not policy.allows_no_expiry:
            longest = policy.longest_expiry_days
            expiry.help_text = (
                f"Your organization's security policy: every key expires within {longest} days."
            )
            days.widget.attrs["max"] = longest
            days.help_text = f"For a custom expiry: 1 to {longest} days."
            if not self.is_bound and self.initial.get("expiry") in (None, NEVER):
                self.initial["expiry"] = str(longest)
        allowed = self.fields["allowed_ips"]
        if policy.require_ip_allowlist:
            allowed.required = True
            allowed.error_messages["required"] = (
                "Your organization's security policy requires at least one allowed network."
            )
            allowed.help_text = (
                f"Required by your organization's security policy. Addresses or CIDR ranges the key may "
                f"be used from, one per line, at most {networks.MAX_NETWORKS}. They can be narrowed later, "
                "never widened."
            )

    # ---- what the template needs to draw the scope catalogue ----
    def _chosen_application(self) -> Application | None:
        wanted = self.data.get("application") if self.is_bound else self.initial.get("application")
        for application in self.applications:
            if str(application.pk) == str(getattr(wanted, "pk", wanted)):
                return application
        return self.applications[0] if self.applications else None

    def chosen_role(self) -> int:
        raw: Any = self.data.get("role") if self.is_bound else self.initial.get("role")
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
        # A write scope shows its read ticked too (write includes it; the picker ticks it as well).
        chosen, role = expand_scopes(sorted(self.chosen_scopes())), self.chosen_role()
        return [
            {
                "resource": resource,
                "label": resource_label(resource),
                "scopes": [
                    {
                        "name": str(scope),
                        "action": scope.action,
                        "description": scope.description or f"{scope.action} {resource_words(resource)}",
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

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        expiry = cleaned.get("expiry")
        if expiry == CUSTOM:
            days = cleaned.get("expiry_days")
            if days is None and "expiry_days" not in self.errors:
                self.add_error("expiry_days", "Enter the number of days, or choose another expiry.")
            elif days is not None and days > (longest := self.policy.longest_expiry_days):
                self.add_error(
                    "expiry_days", f"Your organization's security policy allows at most {longest} days."
                )
            cleaned["expires_in_days"] = days
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
        "allowed_ips": "allowed_ips",
    }

    def add_service_error(self, err: ServiceError) -> None:
        field = self.SERVICE_FIELDS.get(err.field or "")
        if field == "expiry_days" and self.cleaned_data.get("expiry") != CUSTOM:
            field = "expiry"
        self.add_error(field, err.message)


class KeyEditForm(ErrorsDescribedMixin, forms.Form):
    """Rename or describe a key, or bring its expiry earlier: all that may change about a deployed key."""

    name = forms.CharField(
        strip=True,
        max_length=names.MAX_NAME_LENGTH,
        error_messages={"required": "Give the key a name."},
        widget=forms.TextInput(attrs={"maxlength": names.MAX_NAME_LENGTH, "autocomplete": "off"}),
    )
    description = forms.CharField(
        required=False,
        strip=True,
        max_length=names.MAX_DESCRIPTION_LENGTH,
        help_text="Optional: who runs the integration, where its secret is kept (never the secret itself).",
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": names.MAX_DESCRIPTION_LENGTH}),
    )
    expires_at = forms.DateTimeField(
        label="Expires at",
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"invalid": "Enter a date and time, e.g. 2026-12-31 17:00."},
    )
    allowed_ips = AllowedNetworksField()

    def __init__(self, key: ApiKey, data: QueryDict | None = None) -> None:
        self.key = key
        initial = {
            "name": key.name,
            "description": key.description,
            "expires_at": _to_minute(key.expires_at),
            "allowed_ips": list(key.allowed_ips),
        }
        super().__init__(data, initial=initial)
        # Typed and shown in the member's own time zone (the form converts both ways).
        self.fields["expires_at"].label = f"Expires at ({timezone.get_current_timezone_name()})"
        self.fields["allowed_ips"].help_text = (
            "Only narrower: every entry must lie inside one the key has now (create a new key for other "
            "networks)."
            if key.allowed_ips
            else "Empty: anywhere. Add addresses or CIDR ranges, one per line, to limit where the key "
            "works; once set, the list can only be narrowed."
        )
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

    def clean_description(self) -> str:
        return _service_clean_description(self, self.cleaned_data.get("description") or "")

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
    def new_description(self) -> str | None:
        description = self.cleaned_data.get("description", "")
        return description if description != self.key.description else None

    @property
    def new_allowed_ips(self) -> list[str] | None:
        """The new list of allowed networks, or None when it is unchanged."""
        value = self.cleaned_data.get("allowed_ips") or []
        return None if value == list(self.key.allowed_ips) else value

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


class FindBySecretForm(ErrorsDescribedMixin, forms.Form):
    """Settings → API Keys, "Find the key of a secret". A password field that is never rendered
    with its value: the page that answers does not carry the secret, nor does the field after."""

    secret = forms.CharField(
        label="Client Secret",
        max_length=200,
        strip=True,
        help_text="Paste a secret (sk_live_… or sk_test_…) to see which key it belongs to. "
        "It is sent in the form, never kept, and the field is emptied after.",
        error_messages={"required": "Paste the Client Secret whose key you want to find."},
        widget=forms.PasswordInput(
            render_value=False,
            attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"},
        ),
    )

    def add_service_error(self, err: ServiceError) -> None:
        self.add_error("secret" if err.field == "secret" else None, err.message)


class SecurityPolicyForm(ErrorsDescribedMixin, forms.Form):
    """Settings → Security. The service validates the same ranges again and decides who may save."""

    rotation_policy_days = forms.IntegerField(
        label="Rotation period (days)",
        min_value=1,
        max_value=services.MAX_EXPIRY_DAYS,
        help_text="A key whose secret is older than this is marked “rotation due”; its managers are told.",
        error_messages={"required": "Enter the number of days after which a secret is due for rotation."},
        widget=forms.NumberInput(attrs={"min": 1, "max": services.MAX_EXPIRY_DAYS, "inputmode": "numeric"}),
    )
    max_key_lifetime_days = forms.IntegerField(
        label="Maximum key lifetime (days)",
        required=False,
        min_value=1,
        max_value=services.MAX_EXPIRY_DAYS,
        help_text="Every new key must expire within this many days (no “Never”). Empty: no limit.",
        widget=forms.NumberInput(attrs={"min": 1, "max": services.MAX_EXPIRY_DAYS, "inputmode": "numeric"}),
    )
    require_ip_allowlist = forms.BooleanField(
        label="Require allowed networks",
        required=False,
        help_text="Every new key must be limited to at least one address or CIDR range.",
    )
    leak_policy = forms.ChoiceField(
        label="When a secret is reported leaked",
        choices=LeakPolicy.choices,
        required=False,  # not sent: unchanged
        widget=forms.RadioSelect,
        help_text="Applied at once to the key of a live secret that a secret scanner (GitHub) or an "
        "administrator reports found in public; the key is also flagged exposed and its managers "
        "are emailed. Revoking stops the leaked secret for good; disabling pauses the key until "
        "someone enables it; flagging leaves it working until it is regenerated.",
        error_messages={"invalid_choice": "Choose what happens to a key whose secret is reported leaked."},
    )

    def __init__(
        self, policy: SecurityPolicy, data: QueryDict | None = None, *, read_only: bool = False
    ) -> None:
        super().__init__(data, initial={name: getattr(policy, name) for name in SecurityPolicy.FIELDS})
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    def clean_leak_policy(self) -> str | None:
        return self.cleaned_data["leak_policy"] or None

    def add_service_error(self, err: ServiceError) -> None:
        self.add_error(err.field if err.field in self.fields else None, err.message)


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


class RequestFilterForm(forms.Form):
    """The Requests tab's filters; times are the member's own zone's (the active one)."""

    status = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any"),
            ("2xx", "2xx success"),
            ("3xx", "3xx"),
            ("4xx", "4xx refused"),
            ("5xx", "5xx failed"),
        ],
    )
    code = forms.ChoiceField(required=False, label="Error code")
    surface = forms.ChoiceField(
        required=False, choices=[("", "Both"), ("rest", "REST"), ("graphql", "GraphQL")]
    )
    since = forms.DateTimeField(
        required=False, label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, label="To", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        codes = sorted(code.value for code in ErrorCode if code is not ErrorCode.ERROR)
        cast(forms.ChoiceField, self.fields["code"]).choices = [("", "Any"), *((c, c) for c in codes)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since >= until:
            self.add_error("until", "To must be after From.")
        return data

    def is_filtered(self) -> bool:
        return self.is_bound and any(self.data.get(name) for name in self.fields)
