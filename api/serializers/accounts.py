"""Accounts: registration, the profile, logout and password change."""

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from django.db import models
from rest_framework import serializers

from ..fields import AccountEmailField, TextField
from ..models import Profile

User = get_user_model()

PROFILE_FIELDS = ("display_name", "organization", "bio")


class RegisterInputSerializer(serializers.Serializer):
    """A new account. Usernames are unique (someone must be told theirs is taken; the
    per-address rate limit slows anyone listing them). Emails are contact addresses, not
    identifiers: two accounts may share one, so registering never tells whether an address
    already has an account here."""

    username = TextField(
        max_length=150,
        validators=[RegexValidator(r"^[\w.@+-]+\Z", "Letters, digits and @ . + - _ only.")],
    )
    email = serializers.EmailField()
    password = TextField(write_only=True, trim_whitespace=False)
    password_confirm = TextField(write_only=True, trim_whitespace=False)
    display_name = TextField(max_length=150, required=False, allow_blank=True)
    organization = TextField(max_length=150, required=False, allow_blank=True)
    bio = TextField(max_length=2000, required=False, allow_blank=True)

    def validate_username(self, value):
        if User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("This username is taken.")
        return value

    def validate(self, attrs):
        if attrs["password"] != attrs["password_confirm"]:
            raise serializers.ValidationError({"password_confirm": ["The two passwords differ."]})
        candidate = User(username=attrs["username"], email=attrs["email"])
        try:
            password_validation.validate_password(attrs["password"], candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": exc.messages}) from exc
        # Validated data is what services.user_register takes.
        profile = {name: attrs[name] for name in PROFILE_FIELDS if name in attrs}
        return {
            "username": attrs["username"],
            "email": attrs["email"],
            "password": attrs["password"],
            "profile": profile,
        }


class ProfileSerializer(serializers.ModelSerializer):
    """The caller's account and profile, as one object."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: TextField,
        models.TextField: TextField,
    }

    username = serializers.CharField(source="user.username", read_only=True)
    email = AccountEmailField(source="user.email", required=False)
    first_name = TextField(source="user.first_name", max_length=150, required=False, allow_blank=True)
    last_name = TextField(source="user.last_name", max_length=150, required=False, allow_blank=True)
    is_staff = serializers.BooleanField(source="user.is_staff", read_only=True)
    date_joined = serializers.DateTimeField(source="user.date_joined", read_only=True)

    class Meta:
        model = Profile
        fields = ("username", "email", "first_name", "last_name", "is_staff", "date_joined", *PROFILE_FIELDS)


class LogoutInputSerializer(serializers.Serializer):
    refresh = TextField()


class PasswordChangeInputSerializer(serializers.Serializer):
    """The caller's current password, and the new one."""

    # context["user"]: the account whose old password is checked and whose details the
    # password validators compare the new one with.
    old_password = TextField(write_only=True, trim_whitespace=False)
    new_password = TextField(write_only=True, trim_whitespace=False)

    def validate_old_password(self, value):
        # A stolen access token alone must not be enough to take the account over.
        if not self.context["user"].check_password(value):
            raise serializers.ValidationError("Your old password is not correct.")
        return value

    def validate_new_password(self, value):
        try:
            password_validation.validate_password(value, self.context["user"])
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value
