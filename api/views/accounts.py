from django.contrib.auth.signals import user_logged_in
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.views import TokenObtainPairView

from ..errors import TokenNotValid
from ..lockout import LoginLocked, retry_after_s
from ..serializers import (
    LogoutInputSerializer,
    PasswordChangeInputSerializer,
    ProfileSerializer,
    RegisterInputSerializer,
)
from ..services import (
    profile_ensure,
    profile_update,
    user_password_change,
    user_register,
    user_token_revoke,
    user_tokens_revoke,
)
from ..throttles import AuthRateThrottle, PasswordRateThrottle


class UserLoginApi(TokenObtainPairView):
    """Log in: `{access, refresh}`. Limited per client address (AuthRateThrottle), and a
    username with too many failed logins is locked for a while (api/lockout.py): 429."""

    throttle_classes = [AuthRateThrottle]

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except TokenError as exc:
            raise InvalidToken(exc.args[0]) from exc
        # What a session login announces and simplejwt does not: django-axes clears the
        # username's failed attempts, and Django records last_login.
        user_logged_in.send(sender=type(serializer.user), request=request, user=serializer.user)
        return Response(serializer.validated_data)

    def handle_exception(self, exc):
        # Axes marks the request when it refused the username; simplejwt would call it a
        # wrong password (401), which tells a client nothing about waiting.
        if getattr(self.request, "axes_locked_out", False):
            exc = LoginLocked(retry_after_s(self.request))
        return super().handle_exception(exc)


class UserRegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [AuthRateThrottle]

    @extend_schema(request=RegisterInputSerializer, responses={201: ProfileSerializer})
    def post(self, request):
        serializer = RegisterInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_register(**serializer.validated_data)
        return Response(ProfileSerializer(user.profile).data, status=status.HTTP_201_CREATED)


class UserLogoutApi(APIView):
    """Blacklist a refresh token, so it can never mint another access token."""

    @extend_schema(request=LogoutInputSerializer, responses={205: None})
    def post(self, request):
        serializer = LogoutInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user_token_revoke(refresh=serializer.validated_data["refresh"])
        except TokenError as exc:
            raise TokenNotValid(str(exc)) from exc
        return Response(status=status.HTTP_205_RESET_CONTENT)


class UserLogoutAllApi(APIView):
    """Log out everywhere: blacklist every refresh token of the caller."""

    @extend_schema(
        request=None,
        responses={205: None},
        description="Every refresh token of the caller stops working: each app or device has to "
        "log in again. Access tokens already issued work until they expire (minutes).",
    )
    def post(self, request):
        user_tokens_revoke(user=request.user)
        return Response(status=status.HTTP_205_RESET_CONTENT)


class UserPasswordChangeApi(APIView):
    """Change the caller's password; every token issued before stops working."""

    throttle_classes = [PasswordRateThrottle]

    @extend_schema(
        request=PasswordChangeInputSerializer,
        responses={205: None},
        description="Every token of the caller, access and refresh, including the one making "
        "this request, stops working: log in again with the new password.",
    )
    def post(self, request):
        serializer = PasswordChangeInputSerializer(data=request.data, context={"user": request.user})
        serializer.is_valid(raise_exception=True)
        user_password_change(user=request.user, password=serializer.validated_data["new_password"])
        return Response(status=status.HTTP_205_RESET_CONTENT)


class ProfileMeApi(APIView):
    @extend_schema(responses=ProfileSerializer)
    def get(self, request):
        return Response(ProfileSerializer(profile_ensure(user=request.user)).data)

    @extend_schema(request=ProfileSerializer, responses=ProfileSerializer)
    def patch(self, request):
        profile = profile_ensure(user=request.user)
        serializer = ProfileSerializer(profile, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        profile = profile_update(profile=profile, user_fields=data.pop("user", {}), profile_fields=data)
        return Response(ProfileSerializer(profile).data)
