from django.db import models
from django.utils import timezone


class SecondaryDeletion(models.Model):
    """A point deleted in a geo-redundant vault's primary copy, kept in its secondary copy until `due_at`: a
    deletion (malicious or mistaken) reaches the copy only once it is final, as a sync job that does not
    remove vanished points would."""

    vault = models.ForeignKey("vaults.Vault", on_delete=models.CASCADE, related_name="secondary_deletions")
    point_id = models.CharField(max_length=64)
    requested_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "pk"]
        indexes = [models.Index(fields=["done_at", "due_at"])]

    def __str__(self) -> str:
        return f"{self.point_id} (due {self.due_at:%Y-%m-%d %H:%M})"
