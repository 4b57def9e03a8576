from decimal import Decimal

from django import template

from ..services.pricing import GB

register = template.Library()

SYMBOLS = {"USD": "$", "EUR": "\u20ac", "GBP": "\u00a3"}


@register.filter
def gb(num_bytes) -> str:
    """Bytes as billing GB (2^30 bytes), two decimals."""
    return f"{Decimal(num_bytes or 0) / GB:,.2f} GB"


@register.filter
def money(amount, currency="USD") -> str:
    amount = Decimal(amount or 0)
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}"


@register.filter
def rate(amount, currency="USD") -> str:
    """A unit price, with as many decimals as it has (0.048), at least two."""
    amount = Decimal(amount or 0).normalize()
    places = max(2, -amount.as_tuple().exponent)
    symbol = SYMBOLS.get(currency)
    text = f"{amount:,.{places}f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


@register.filter
def redundancy_label(code: str) -> str:
    return {"geo": "Geo-redundant (GRS)", "local": "Locally redundant (LRS)"}.get(code, code)


@register.filter
def status_label(code: str) -> str:
    return {
        "pending": "Protected (pending initial backup)",
        "protected": "Protected",
        "backup_failing": "Protected (backup failing)",
        "stopped": "Protection stopped",
    }.get(code, code or "\u2014")
