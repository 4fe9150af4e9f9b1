"""Batch files: POST a CSV, follow its progress, download its results (predictor/batches.py)."""

import hashlib

from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from predictor import history
from predictor.batch_files import files_delete
from predictor.batches import batch_results

from ..errors import Conflict, ErrorSerializer
from ..headers import parse_idempotency_key
from ..parsers import MultiPartParser
from ..serializers import BatchJobSerializer, BatchSubmitSerializer
from ..services import batch_cancel, batch_submit
from ..throttles import SubmitRateThrottle
from ..uploads import FIELD, BatchUploadHandler
from .base import ServiceApiView

NO_SUCH_BATCH = "No such batch job."
LIST_MAX = 100


def batch_owned_or_404(request, batch_id: str) -> history.BatchJob:
    batch = history.batch_get_owned(batch_id, owner_id=request.user.pk)
    if batch is None:
        raise NotFound(NO_SUCH_BATCH)
    return batch


class BatchListCreateApi(ServiceApiView):
    throttle_classes = [SubmitRateThrottle]
    parser_classes = [MultiPartParser]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method == "POST":
            # Before the body is read: the file streams into GridFS as it arrives.
            self.upload = BatchUploadHandler(request._request)
            request._request.upload_handlers = [self.upload]

    @extend_schema(
        request={"multipart/form-data": BatchSubmitSerializer},
        responses={
            202: BatchJobSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Not a UTF-8 CSV, a header without a "
                                 "feature, a record with more cells than the header, an unknown model."),
            413: OpenApiResponse(ErrorSerializer, description="Over BATCH_FILE_MAX_BYTES."),
        },
    )  # fmt: skip
    def post(self, request):
        """Score a whole CSV file: it is cut into chunks that run on every batch worker; the
        answer is the batch job, to follow at its `urls.self` (or its page)."""
        data = request.data  # reads the body: the file goes to GridFS (api/uploads.py)
        upload: BatchUploadHandler = self.upload
        if upload.refused is not None:
            raise upload.refused
        stored = upload.stored
        form = {name: data.get(name) for name in ("model", "version", "key_column", "webhook")}
        form = {name: value for name, value in form.items() if value not in (None, "")}
        serializer = BatchSubmitSerializer(data={**form, FIELD: stored} if stored else form)
        if not serializer.is_valid() or stored is None:
            if stored is not None:
                files_delete(upload=stored.upload_id)
            errors = dict(serializer.errors) if not serializer.is_valid() else {}
            if stored is None:
                errors[FIELD] = ["Attach the CSV file as the form's `file` part (multipart/form-data)."]
            raise ValidationError(errors)
        fields = serializer.validated_data
        key = parse_idempotency_key(request.headers.get("Idempotency-Key"))
        batch, created = batch_submit(
            user=request.user,
            model_name=fields["model"],
            stored=stored,
            version=fields.get("version"),
            key_column=fields.get("key_column"),
            webhook=fields.get("webhook"),
            idempotency_key=key,
            request_hash=_request_hash(form, stored.sha256) if key else "",
        )
        headers = {"Location": request.build_absolute_uri(reverse("batch-detail", args=[batch.id]))}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return Response(BatchJobSerializer(batch).data, status=status.HTTP_202_ACCEPTED, headers=headers)

    @extend_schema(
        operation_id="batches_list",
        responses=inline_serializer("BatchList", {"results": BatchJobSerializer(many=True)}),
    )
    def get(self, request):
        """Your batch jobs, the newest first (the last 100)."""
        batches = history.batches_list(owner_id=request.user.pk, limit=LIST_MAX)
        chunks = history.chunks_of([batch.id for batch in batches])
        return Response({"results": BatchJobSerializer(batches, many=True, context={"chunks": chunks}).data})


def _request_hash(form: dict, sha256: str) -> str:
    """What an Idempotency-Key's request was: its form fields and its file's bytes."""
    text = "\n".join(f"{name}={form[name]}" for name in sorted(form))
    return hashlib.sha256(f"{text}\nfile={sha256}".encode()).hexdigest()


class BatchDetailApi(ServiceApiView):
    @extend_schema(responses=BatchJobSerializer)
    def get(self, request, batch_id: str):
        """The batch job: status, rows done, failed and total, a rate and the time left."""
        return Response(BatchJobSerializer(batch_owned_or_404(request, str(batch_id))).data)


class BatchCancelApi(ServiceApiView):
    @extend_schema(request=None, responses=BatchJobSerializer)
    def post(self, request, batch_id: str):
        """Cancel a queued or running batch: the chunks not started do not run. A finished
        batch is returned unchanged."""
        batch = batch_cancel(user=request.user, batch_id=str(batch_id))
        if batch is None:
            raise NotFound(NO_SUCH_BATCH)
        return Response(BatchJobSerializer(batch).data)


class BatchResultsApi(ServiceApiView):
    @extend_schema(
        responses={
            (200, "text/csv"): str,
            409: OpenApiResponse(ErrorSerializer, description="Still queued or running."),
        }
    )
    def get(self, request, batch_id: str):
        """The results as CSV, streamed, once the batch has ended: one line per input row, in
        input order: the key column (or `line`), then `label` and `p_<class>`... (a
        classifier) or `value`, then `error`, which names the field and the reason for a row
        that could not be predicted."""
        batch = batch_owned_or_404(request, str(batch_id))
        if batch.status not in history.FINISHED:
            raise Conflict(f"The batch is {batch.status}; its results are ready once it ends.")
        response = StreamingHttpResponse(batch_results(batch), content_type="text/csv; charset=utf-8")
        name = (batch.filename or "batch").rsplit(".", 1)[0] or "batch"
        response["Content-Disposition"] = f'attachment; filename="{_safe(name)}-results.csv"'
        return response


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:100] or "batch"
