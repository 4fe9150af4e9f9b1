"""Serializer fields that read JSON as strictly as the schema describes it."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from rest_framework import serializers


class TextField(serializers.CharField):
    """A string, and only a string: DRF's CharField would turn 0 or 1.5 into "0" or "1.5",
    accepting a body the schema calls invalid."""

    default_error_messages = {"invalid": "Not a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class AccountEmailField(TextField):
    """An account's email: a valid one when given; an account made without one
    (`createsuperuser`, the admin) reads back as "".

    Checked here rather than by an `EmailValidator`, which would stamp `format: email` on
    the response schema too, where "" would break it.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            validate_email(value)
        except DjangoValidationError:
            message = serializers.EmailField.default_error_messages["invalid"]
            raise serializers.ValidationError(message) from None
        return value
