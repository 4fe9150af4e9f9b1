"""The API's JWTs: simplejwt's, with two limits it lacks, and a 401 where it answers 500.

Family: a login starts a family of refresh tokens, the one it hands out and every token
rotated from it. Each carries `family_exp`, the family's absolute end (login time plus
JWT_REFRESH_MAX_DAYS). Rotation renews a token's own `exp`, but never past that end, so a
stolen refresh token cannot be kept alive by refreshing it again and again.

Password: every token (refresh and access) carries `pwd`, a short digest of the user's
password hash, the same one Django's sessions are bound to. A password changed by any path
(the API, the profile page, the admin, `manage.py changepassword`, `set_password`) changes
it, so every token issued before stops working at once: on refresh and on every request.
Tokens without the claim (issued before it existed) are refused too: their owners log in
again once, rather than keep tokens a password change could not end.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.crypto import constant_time_compare
from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch, datetime_to_epoch

FAMILY_EXP_CLAIM = "family_exp"
PASSWORD_CLAIM = "pwd"
# 16 hex digits (64 bits) of an HMAC: short in every token, and a different password
# matches by chance once in 2**64.
PASSWORD_DIGEST_LENGTH = 16


def password_digest(user) -> str:
    # Django's session hash is an HMAC keyed with SECRET_KEY: unlike simplejwt's own
    # CHECK_REVOKE_TOKEN (an md5 of the stored hash), a token, which anyone holding it can
    # read, tells nothing about the password hash.
    return user.get_session_auth_hash()[:PASSWORD_DIGEST_LENGTH]


def token_password_check(token, user) -> None:
    """Refuse (401 token_not_valid) a token issued under another password, or before `pwd`."""
    claim = token.get(PASSWORD_CLAIM)
    if not isinstance(claim, str):
        raise InvalidToken("Token was issued before password binding; log in again.")
    if not constant_time_compare(claim, password_digest(user)):
        raise InvalidToken("The password was changed after this token was issued; log in again.")


def token_user(token):
    """The user a refresh token belongs to, if it may still use it; a 401 otherwise."""
    User = get_user_model()
    try:
        user = User.objects.get(**{api_settings.USER_ID_FIELD: token.get(api_settings.USER_ID_CLAIM)})
    except (User.DoesNotExist, ValueError, TypeError):
        # Deleted since the token was issued (simplejwt lets DoesNotExist become a 500).
        raise InvalidToken("The token's user no longer exists.") from None
    if not api_settings.USER_AUTHENTICATION_RULE(user):
        raise AuthenticationFailed("No active account found for the given token.", "no_active_account")
    token_password_check(token, user)
    return user


class PlatformRefreshToken(RefreshToken):
    # An access token is capped by the family's end instead (see access_token).
    no_copy_claims = (*RefreshToken.no_copy_claims, FAMILY_EXP_CLAIM)

    @classmethod
    def for_user(cls, user) -> "PlatformRefreshToken":
        """A login: the first token of a new family, bound to the user's password."""
        token = super().for_user(user)  # also records it as outstanding, before our claims
        token[PASSWORD_CLAIM] = password_digest(user)
        max_lifetime = settings.JWT_REFRESH_MAX_LIFETIME
        token.family_set(datetime_to_epoch(token.current_time + max_lifetime))
        # The outstanding record is what `user_tokens_revoke` blacklists and what
        # `flushexpiredtokens` deletes: it must hold the token as issued.
        OutstandingToken.objects.filter(jti=token[api_settings.JTI_CLAIM]).update(
            token=str(token), expires_at=datetime_from_epoch(token["exp"])
        )
        return token

    def family_end(self) -> int:
        """The family's end, in epoch seconds; for a token issued before families, its iat
        plus the maximum lifetime."""
        if FAMILY_EXP_CLAIM in self.payload:
            return int(self.payload[FAMILY_EXP_CLAIM])
        if "iat" not in self.payload:
            raise TokenError("Token has no 'iat' claim")
        return int(self.payload["iat"]) + int(settings.JWT_REFRESH_MAX_LIFETIME.total_seconds())

    def family_set(self, end: int) -> None:
        self.payload[FAMILY_EXP_CLAIM] = end
        self.payload["exp"] = min(int(self.payload["exp"]), end)

    def verify(self) -> None:
        super().verify()
        # A token issued here never has `exp` past the family's end; one issued before
        # families (no claim) can, when JWT_REFRESH_MAX_DAYS < JWT_REFRESH_DAYS.
        leeway = self.get_token_backend().get_leeway()
        if datetime_from_epoch(self.family_end()) <= self.current_time - leeway:
            raise TokenError("Token family has expired; log in again.")

    @property
    def access_token(self):
        access = super().access_token
        access["exp"] = min(int(access["exp"]), self.family_end())
        return access


class TokenObtainPairSerializer(jwt_serializers.TokenObtainPairSerializer):
    """Login (POST /login/, /api/v1/auth/token/): starts a family."""

    token_class = PlatformRefreshToken


class TokenRefreshSerializer(jwt_serializers.TokenRefreshSerializer):
    """simplejwt's rotation, within the family's end, for the current password only."""

    token_class = PlatformRefreshToken

    def validate(self, attrs):
        refresh = self.token_class(attrs["refresh"])  # signature, exp, family's end, blacklist
        token_user(refresh)
        data = {"access": str(refresh.access_token)}
        if api_settings.ROTATE_REFRESH_TOKENS:
            # Read before set_iat: a token issued before families counts from its own iat.
            family_end = refresh.family_end()
            if api_settings.BLACKLIST_AFTER_ROTATION:
                _, created = refresh.blacklist()
                if not created:
                    # Blacklisted since the check above: a concurrent rotation of the same
                    # token (the owner's and a thief's), or a revocation. Only one may win.
                    raise TokenError("Token is blacklisted")
            refresh.set_jti()
            refresh.set_exp()
            refresh.set_iat()
            refresh.family_set(family_end)
            refresh.outstand()
            data["refresh"] = str(refresh)
        return data


class PlatformJWTAuthentication(JWTAuthentication):
    """simplejwt's bearer authentication, for access tokens of the current password only."""

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        token_password_check(validated_token, user)
        return user
