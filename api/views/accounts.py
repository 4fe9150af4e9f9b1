from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from ..serializers import (
    LogoutInputSerializer,
    ProfileSerializer,
    RegisterInputSerializer,
    register_kwargs,
)
from ..services import profile_ensure, profile_update, user_register
from ..throttles import AuthRateThrottle


class UserRegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [AuthRateThrottle]

    @extend_schema(request=RegisterInputSerializer, responses={201: ProfileSerializer})
    def post(self, request):
        serializer = RegisterInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = user_register(**register_kwargs(data))
        return Response(ProfileSerializer(user.profile).data, status=status.HTTP_201_CREATED)


class UserLogoutApi(APIView):
    """Blacklist a refresh token, so it can never mint another access token."""

    @extend_schema(request=LogoutInputSerializer, responses={205: None})
    def post(self, request):
        serializer = LogoutInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            RefreshToken(serializer.validated_data["refresh"]).blacklist()
        except TokenError as exc:
            return Response(
                {"code": "token_not_valid", "message": str(exc)}, status=status.HTTP_400_BAD_REQUEST
            )
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
