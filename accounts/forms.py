from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.models import User
from accounts.timezones import time_zone_names


class EmailAuthenticationForm(AuthenticationForm):
    """Django's login form, labelled for email sign-in."""

    username = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an active account.",
    }


class TimeZoneForm(forms.ModelForm):
    """The member's time zone: every date on their pages is shown in it."""

    time_zone = forms.TypedChoiceField(
        label="Time zone",
        choices=lambda: [(name, name) for name in time_zone_names()],
        help_text="Dates and times on your pages are shown in this zone, with its abbreviation.",
    )

    class Meta:
        model = User
        fields = ["time_zone"]
