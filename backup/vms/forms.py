"""Forms of the vms pages. They only carry values: the services check the product's rules and
their ValidationErrors come back onto the fields (so the API and the pages say the same thing)."""

from django import forms
from django.core.exceptions import ValidationError

from .models import BackupPolicy
from .services import policies

HALF_HOURS = [(f"{h:02d}:{m:02d}", f"{h:02d}:{m:02d}") for h in range(24) for m in (0, 30)]
WEEKDAY_CHOICES = [(str(i), day) for i, day in enumerate(policies.WEEKDAYS)]


class PolicyForm(forms.Form):
    name = forms.CharField(required=False, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    frequency = forms.ChoiceField(choices=BackupPolicy.Frequency.choices, widget=forms.RadioSelect,
                                  initial=BackupPolicy.Frequency.DAILY)
    days_of_week = forms.MultipleChoiceField(choices=WEEKDAY_CHOICES, required=False,
                                             widget=forms.CheckboxSelectMultiple)
    time_of_day = forms.ChoiceField(choices=HALF_HOURS, initial="22:00")
    timezone = forms.ChoiceField(choices=[(z, z) for z in policies.COMMON_TIMEZONES], initial="UTC")
    daily_retention_days = forms.CharField(required=False, initial="30",
                                           widget=forms.NumberInput(attrs={"min": 1, "max": 366}))
    weekly_retention_weeks = forms.CharField(required=False, widget=forms.NumberInput(attrs={"min": 1, "max": 260}))
    monthly_retention_months = forms.CharField(required=False,
                                               widget=forms.NumberInput(attrs={"min": 1, "max": 120}))
    yearly_retention_years = forms.CharField(required=False, widget=forms.NumberInput(attrs={"min": 1, "max": 99}))

    def __init__(self, *args, policy: BackupPolicy | None = None, **kwargs) -> None:
        if policy is not None and "initial" not in kwargs:
            kwargs["initial"] = initial_for(policy)
        super().__init__(*args, **kwargs)
        zone = (self.initial or {}).get("timezone")
        if zone and zone not in policies.COMMON_TIMEZONES:
            self.fields["timezone"].choices = [(zone, zone), *self.fields["timezone"].choices]

    def data_for_service(self) -> dict:
        data = dict(self.cleaned_data)
        data["days_of_week"] = [int(d) for d in data.get("days_of_week") or []]
        return data

    def apply_error(self, error: ValidationError) -> None:
        """Put a service's ValidationError on the fields it names."""
        if hasattr(error, "error_dict"):
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        else:
            self.add_error(None, error.messages)


def initial_for(policy: BackupPolicy) -> dict:
    initial = {field: getattr(policy, field) for field in policies.POLICY_FIELDS}
    initial["time_of_day"] = policy.time_of_day.strftime("%H:%M")
    initial["days_of_week"] = [str(d) for d in policy.days_of_week]
    for field in policies.RETENTION_RANGES:
        initial[field] = "" if initial[field] is None else str(initial[field])
    return initial
