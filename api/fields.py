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


class RowsField(serializers.ListField):
    """A list of rows, passed on as sent: each row is checked against the model's features
    by the service (predictor/predictions.py), which names the row and feature at fault.

    DRF's per-item validation would re-encode every row as JSON only to see that it can
    (JSONField), about 10 ms for a 1,000-row batch, for nothing the service does not check.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("child", serializers.JSONField())
        super().__init__(**kwargs)

    def run_child_validation(self, data):
        return list(data)
