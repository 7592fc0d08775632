"""How the spend panel writes amounts, changes and the gauge's fill."""

from decimal import Decimal

from django import template

register = template.Library()
CENT = Decimal("0.01")


@register.filter
def money(amount: Decimal | None, currency: str) -> str:
    """``USD 1,234.56``; below a cent, four places (Meta's prices per message are fractions of a cent)."""
    amount = amount or Decimal(0)
    places = 4 if 0 < abs(amount) < CENT else 2
    return f"{currency} {amount:,.{places}f}"


@register.filter
def change(fraction: Decimal | None) -> str:
    """A change as a signed percentage, or a dash when there is nothing to compare with."""
    return "—" if fraction is None else f"{fraction * 100:+.1f}%"


@register.filter
def gauge_fill(percent: Decimal) -> str:
    """The gauge's filled share as a CSS percentage, full past the budget."""
    return f"{min(max(percent, Decimal(0)), Decimal(100)):.1f}%"
