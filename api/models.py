from django.conf import settings
from django.db import models


class Profile(models.Model):
    """What a user tells about themselves beyond Django's own user fields."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    display_name = models.CharField(max_length=150, blank=True)
    organization = models.CharField(max_length=150, blank=True)
    bio = models.TextField(blank=True, max_length=2000)

    def __str__(self):
        return f"profile of {self.user}"
