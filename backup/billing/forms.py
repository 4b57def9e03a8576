from django import forms

from .months import BadMonth, Month


class MonthField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            return Month.parse(value)
        except BadMonth as error:
            raise forms.ValidationError(str(error)) from None


class BillingFilterForm(forms.Form):
    """The month picker of the billing page; the subscription is checked by the view (404)."""

    month = MonthField(required=False, widget=forms.TextInput(attrs={"type": "month"}))
