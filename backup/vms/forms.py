"""Forms of the vms pages. They only carry values: the services check the product's rules and
their ValidationErrors come back onto the fields (so the API and the pages say the same thing)."""

from django import forms
from django.core.exceptions import ValidationError

from .models import BackupPolicy
from .services import policies

HALF_HOURS = [(f"{h:02d}:{m:02d}", f"{h:02d}:{m:02d}") for h in range(24) for m in (0, 30)]
WEEKDAY_CHOICES = [(str(i), day) for i, day in enumerate(policies.WEEKDAYS)]
DAY_OF_MONTH_CHOICES = [(str(d), str(d)) for d in range(1, 29)] + [(policies.LAST, policies.LAST)]
WEEK_CHOICES = [(w, w) for w in policies.WEEKS_OF_MONTH]
MONTH_CHOICES = [(str(i), month) for i, month in enumerate(policies.MONTHS, start=1)]
FORMAT_CHOICES = BackupPolicy.RetentionFormat.choices


def _checks(choices, initial=None) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=choices, required=False, initial=initial, widget=forms.CheckboxSelectMultiple
    )


def _format(initial: str) -> forms.ChoiceField:
    return forms.ChoiceField(choices=FORMAT_CHOICES, required=False, initial=initial, widget=forms.RadioSelect)


class PolicyForm(forms.Form):
    name = forms.CharField(required=False, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    frequency = forms.ChoiceField(
        choices=BackupPolicy.Frequency.choices, widget=forms.RadioSelect, initial=BackupPolicy.Frequency.DAILY
    )
    days_of_week = forms.MultipleChoiceField(
        choices=WEEKDAY_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    time_of_day = forms.ChoiceField(choices=HALF_HOURS, initial="22:00")
    timezone = forms.ChoiceField(choices=[(z, z) for z in policies.COMMON_TIMEZONES], initial="UTC")
    daily_retention_days = forms.CharField(
        required=False, initial="30", widget=forms.NumberInput(attrs={"min": 1, "max": 366})
    )
    weekly_retention_weeks = forms.CharField(required=False, widget=forms.NumberInput(attrs={"min": 1, "max": 260}))
    monthly_retention_months = forms.CharField(required=False, widget=forms.NumberInput(attrs={"min": 1, "max": 120}))
    yearly_retention_years = forms.CharField(required=False, widget=forms.NumberInput(attrs={"min": 1, "max": 99}))
    # The days each long-term rule keeps; a new policy starts from the product's example (weekly on Sunday,
    # monthly on the last Sunday, yearly on the first Sunday of January).
    weekly_retention_days = _checks(WEEKDAY_CHOICES, ["6"])
    monthly_retention_format = _format("week")
    monthly_retention_days_of_month = _checks(DAY_OF_MONTH_CHOICES, ["1"])
    monthly_retention_weeks_of_month = _checks(WEEK_CHOICES, ["Last"])
    monthly_retention_days_of_week = _checks(WEEKDAY_CHOICES, ["6"])
    yearly_retention_format = _format("week")
    yearly_retention_months = _checks(MONTH_CHOICES, ["1"])
    yearly_retention_days_of_month = _checks(DAY_OF_MONTH_CHOICES, ["1"])
    yearly_retention_weeks_of_month = _checks(WEEK_CHOICES, ["First"])
    yearly_retention_days_of_week = _checks(WEEKDAY_CHOICES, ["6"])

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
    for field in policies.RULE_DAY_FIELDS:
        if isinstance(initial[field], list):
            initial[field] = [
                policies.LAST if field.endswith("days_of_month") and v == 0 else str(v) for v in initial[field]
            ]
    return initial
