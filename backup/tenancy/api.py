from ninja import Router, Schema

from .access import subscriptions_for

router = Router(tags=["subscriptions"])


class SubscriptionOut(Schema):
    id: int
    name: str
    subscription_id: str


@router.get("/subscriptions", response=list[SubscriptionOut])
def list_subscriptions(request):
    return [
        SubscriptionOut(id=s.pk, name=s.name, subscription_id=str(s.subscription_id))
        for s in subscriptions_for(request.auth)
    ]
