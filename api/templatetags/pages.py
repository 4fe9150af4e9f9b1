from django import template
from django.conf import settings
from django.urls import reverse

register = template.Library()


@register.filter
def get_item(mapping, key):
    """`{{ errors|get_item:name }}`: a dict lookup with a variable key."""
    return mapping.get(key) if mapping else None


@register.simple_tag
def flower_link() -> str:
    """Where staff find Flower; empty when this site runs none."""
    return reverse("flower", kwargs={"path": ""}) if settings.FLOWER_URL else ""
