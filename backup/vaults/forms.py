from django import forms
from django.core.exceptions import ValidationError

from backup.tenancy.access import subscriptions_for

from . import services
from .models import Vault
from .regions import REGION_CHOICES


class QuickCreateForm(forms.Form):
    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}))
    region = forms.ChoiceField(choices=REGION_CHOICES)
    subscription = forms.ModelChoiceField(queryset=None, empty_label=None)

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["subscription"].queryset = subscriptions_for(user)

    def save(self) -> Vault | None:
        """Create the vault through the service; its rule violations become field errors."""
        try:
            return services.create_vault(user=self.user, **self.cleaned_data)
        except ValidationError as error:
            self.add_error(None, error)
            return None


class RedundancyForm(forms.Form):
    redundancy = forms.ChoiceField(choices=Vault.Redundancy.choices, widget=forms.RadioSelect)
