"""Who may see what. A user sees the subscriptions they are a member of and everything in them, through
`for_user` on every tenant-scoped model (`SubscriptionScopedQuerySet`). Each app keeps the lookups of its own
objects in its `access` module: the object if it is the user's, else 404, so an id of another subscription
reads exactly like an id that does not exist."""

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.http import Http404

from .models import Subscription


def subscriptions_for(user: User | AnonymousUser) -> QuerySet[Subscription]:
    """The subscriptions a user may see; every tenant-scoped read starts here."""
    return Subscription.objects.for_user(user)


def get_subscription_for_user(user: User, pk: int) -> Subscription:
    try:
        return subscriptions_for(user).get(pk=pk)
    except (Subscription.DoesNotExist, ValueError, TypeError):
        raise Http404("No such subscription.") from None
