from django import forms
from django.contrib import admin, messages

from backup import engine
from backup.engine import EngineError
from backup.jobs.errors import describe

from . import copies
from .models import StorageLocation, Vault


@admin.register(Vault)
class VaultAdmin(admin.ModelAdmin):
    list_display = ("name", "subscription", "region", "status", "redundancy", "secondary_region", "created_at")
    list_filter = ("status", "region", "redundancy")
    search_fields = ("name", "subscription__name")
    date_hierarchy = "created_at"
    readonly_fields = ("primary_location", "secondary_region", "secondary_location", "secondary_created_at")

    @admin.action(description="Create the copy in the paired region (geo-redundant vaults)", permissions=["operate"])
    def create_secondary(self, request, queryset) -> None:
        """Vaults made before copies existed are geo-redundant in name only until an operator runs this."""
        for vault in queryset.filter(redundancy=Vault.Redundancy.GEO, secondary_created_at__isnull=True):
            try:
                copies.ensure_secondary(vault)
            except (EngineError, OSError) as exc:
                self.message_user(request, f"'{vault.name}': {describe(exc)}", messages.ERROR)
            else:
                self.message_user(request, f"'{vault.name}' now has a copy in {vault.secondary_region}.")


class StorageLocationForm(forms.ModelForm):
    endpoint_url = forms.URLField(
        required=False, assume_scheme="https", help_text="Bucket: the server's address; empty for Amazon S3."
    )
    # Write-only: the saved secret is never rendered back; leaving the field empty keeps it.
    secret_access_key = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="Never shown again after saving; leave empty to keep the current one.",
    )

    class Meta:
        model = StorageLocation
        fields = [
            "name",
            "region",
            "kind",
            "path",
            "endpoint_url",
            "bucket",
            "prefix",
            "bucket_region",
            "path_style",
            "credentials",
            "access_key_id",
            "secret_access_key",
        ]

    def clean_secret_access_key(self) -> str:
        return self.cleaned_data["secret_access_key"] or (self.instance.secret_access_key if self.instance.pk else "")

    def _post_clean(self) -> None:
        super()._post_clean()  # the model's own checks (a folder's writability among them)
        location = self.instance
        if self.errors or location.kind != StorageLocation.Kind.BUCKET:
            return
        try:
            engine.probe_location(location.location_for(""), location.options("probe"))
        except (EngineError, ValueError) as exc:
            # The operator's own endpoint and bucket are shown as they are (the engine's texts name no secret).
            self.add_error("bucket", f"The bucket cannot be used: {exc}.")


@admin.register(StorageLocation)
class StorageLocationAdmin(admin.ModelAdmin):
    form = StorageLocationForm
    list_display = ("name", "region", "kind", "where", "credentials", "secret_set")
    list_filter = ("kind", "credentials")

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        return fields if self.has_change_permission(request, obj) else [f for f in fields if f != "secret_access_key"]

    @admin.display(description="Where")
    def where(self, location: StorageLocation) -> str:
        return location.location_for("")

    @admin.display(description="Secret", boolean=True)
    def secret_set(self, location: StorageLocation) -> bool:
        return bool(location.secret_access_key)
