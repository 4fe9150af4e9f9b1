"""The OpenAPI schema documents every error an operation can answer, not only its success.

drf-spectacular describes what a view declares. The errors most views share (no token,
not staff, unknown id, rate limit, a dependency down) follow from the view's permissions,
throttles, path and body, so they are added here from those, once, in the one error shape
(`ErrorSerializer`); what a view declares itself (a 409, a specific 400) is kept as is.
"""

from drf_spectacular.contrib.rest_framework_simplejwt import (
    SimpleJWTScheme,
    TokenObtainPairSerializerExtension,
    TokenRefreshSerializerExtension,
)
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework.permissions import AllowAny, IsAdminUser

from .fields import AccountEmailField
from .permissions import CanBuildModels

ERRORS = {
    "400": "Invalid request: `fields` names each bad field and why.",
    "401": "No token, or an invalid or expired one.",
    "403": "Not allowed: staff only, the model builder permission, or the owner's (or staff's) alone.",
    "404": "No such object, or one that belongs to another user.",
    "413": "The body is larger than the server takes (REQUEST_MAX_BYTES, 12 MB by default).",
    "415": "The body is not `application/json`.",
    "429": "Rate limited: retry after `Retry-After` seconds.",
    "503": "Redis or MongoDB is unavailable: nothing was changed; retry after `Retry-After` seconds.",
}


RETRY_AFTER = {"required": True, "schema": {"type": "integer"}, "description": "Seconds to wait."}
# Set by api.middleware on every answer a rate limit counted (a submit, not a read).
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": {"schema": {"type": "integer"}, "description": "Requests allowed per window."},
    "RateLimit-Remaining": {"schema": {"type": "integer"}, "description": "Requests left in it."},
    "RateLimit-Reset": {"schema": {"type": "integer"}, "description": "Seconds until a slot frees."},
}


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        # Imported here: both modules define views, and a view class needs this one to exist.
        from .errors import ErrorSerializer

        responses = operation.setdefault("responses", {})
        for code in self._error_codes(operation):
            if code not in responses:
                error = OpenApiResponse(ErrorSerializer, description=ERRORS[code])
                responses[code] = self._get_response_for_code(error, code)
        for code, response in responses.items():
            if code in ERRORS and not response.get("description"):
                response["description"] = ERRORS[code]  # declared by the view without one
            if code in ("429", "503"):
                response.setdefault("headers", {})["Retry-After"] = RETRY_AFTER
            elif self.view.get_throttles():
                response.setdefault("headers", {}).update(RATE_LIMIT_HEADERS)
        return operation

    def _error_codes(self, operation) -> list[str]:
        from rest_framework_simplejwt.views import TokenViewBase

        view = self.view
        permissions = view.get_permissions()
        parameters = [p for p in operation.get("parameters", []) if p.get("in") in ("query", "header")]
        codes = []
        if "requestBody" in operation or parameters:
            codes.append("400")
        anonymous = any(isinstance(p, AllowAny) for p in permissions)
        if not anonymous or isinstance(view, TokenViewBase):
            codes.append("401")  # a token endpoint answers 401 to wrong credentials
        # What a view refuses beyond its permission classes (an owner-only change, a dataset
        # named in the body that the caller may not see), by method: `error_codes`.
        declared = getattr(view, "error_codes", {}).get(self.method.lower(), ())
        # A tuple: DRF permission classes joined with | make a composite, not a union.
        if any(isinstance(p, (IsAdminUser, CanBuildModels)) for p in permissions) or "403" in declared:
            codes.append("403")
        if "{" in self.path or "404" in declared:
            codes.append("404")
        if "requestBody" in operation:
            codes += ["413", "415"]
        if view.get_throttles():
            codes.append("429")
        if getattr(view, "needs_services", False):
            codes.append("503")
        return codes


class AccountEmailFieldExtension(OpenApiSerializerFieldExtension):
    target_class = AccountEmailField

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction == "request":
            return {**schema, "format": "email"}
        return {**schema, "description": 'The account\'s email; "" for an account made without one.'}


# drf-spectacular describes simplejwt's classes, not subclasses: the same for api/tokens.py's.
class PlatformJWTScheme(SimpleJWTScheme):
    target_class = "api.tokens.PlatformJWTAuthentication"


class PlatformTokenObtainPairSerializerExtension(TokenObtainPairSerializerExtension):
    target_class = "api.tokens.TokenObtainPairSerializer"


class PlatformTokenRefreshSerializerExtension(TokenRefreshSerializerExtension):
    target_class = "api.tokens.TokenRefreshSerializer"
