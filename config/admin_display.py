"""Display helpers shared by every app's admin."""

from django.utils.html import format_html


def pill(css: str, label: object, *, title: object = None) -> str:
    """A coloured badge (classes in static/admin_theme/theme.css); ``title`` becomes its tooltip."""
    if title is None:
        return format_html('<span class="pill {}">{}</span>', css, label)
    return format_html('<span class="pill {}" title="{}">{}</span>', css, title, label)
