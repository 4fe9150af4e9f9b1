"""POST/GET/DELETE /api/v1/datasets/: uploads checked whole, profiled, versioned, private."""

import hashlib
from importlib import resources

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from predictor.models import Dataset, DatasetVersion
from tests.clients import assert_error, client_for, model_builder_group

PENGUINS = (resources.files("palmerpenguins") / "data" / "penguins.csv").read_bytes()


def upload(client, name: str, data: bytes, filename: str = "table.csv", **fields):
    return client.post(
        "/api/v1/datasets/",
        {"name": name, "file": SimpleUploadedFile(filename, data, content_type="text/csv"), **fields},
        format="multipart",
    )


@pytest.fixture
def builder(make_user):
    """A user staff put in the "model builders" group."""
    user = make_user("bea")
    user.groups.add(model_builder_group())
    return user


@pytest.fixture
def builder_api(builder, history):
    return client_for(builder)


def stored_files(history) -> int:
    from mongoengine.connection import get_db

    return get_db()["datasets.files"].count_documents({})


def test_it_profiles_an_uploaded_csv_with_categories_and_missing_values(builder_api):
    response = upload(builder_api, "penguins", PENGUINS, "penguins.csv")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "penguins"
    assert body["owner"] == "bea"
    assert body["visibility"] == "private"
    [version] = body["versions"]
    assert version["number"] == 1
    assert version["sha256"] == hashlib.sha256(PENGUINS).hexdigest()
    assert version["rows"] == 344
    assert version["filename"] == "penguins.csv"
    columns = {column["name"]: column for column in version["columns"]}
    assert list(columns) == [
        "species",
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
        "year",
    ]
    assert columns["species"]["type"] == "category"
    assert columns["species"]["top"][0] == ["Adelie", 152]
    assert columns["sex"]["missing"] == 11
    assert columns["bill_length_mm"]["type"] == "number"
    assert columns["bill_length_mm"]["missing"] == 2
    assert columns["bill_length_mm"]["min"] == 32.1
    assert columns["bill_length_mm"]["max"] == 59.6
    assert "values" not in columns["species"]  # kept for the checks, not shown
    assert len(version["preview"]) == 5
    assert version["preview"][3]["bill_length_mm"] is None  # the "NA" row


def test_the_same_name_again_makes_version_2_and_keeps_version_1(builder_api):
    upload(builder_api, "penguins", PENGUINS)
    changed = PENGUINS.replace(b"Torgersen,39.1", b"Torgersen,39.2", 1)
    response = upload(builder_api, "penguins", changed)

    assert response.status_code == 201
    versions = response.json()["versions"]
    assert [v["number"] for v in versions] == [2, 1]
    assert versions[0]["sha256"] == hashlib.sha256(changed).hexdigest()
    assert versions[1]["sha256"] == hashlib.sha256(PENGUINS).hexdigest()
    detail = builder_api.get("/api/v1/datasets/penguins/").json()
    assert [v["number"] for v in detail["versions"]] == [2, 1]


def test_identical_bytes_are_stored_once(builder_api, history):
    before = stored_files(history)
    upload(builder_api, "penguins", PENGUINS)
    upload(builder_api, "penguins-copy", PENGUINS)
    assert stored_files(history) - before in (0, 1)
    assert DatasetVersion.objects.filter(sha256=hashlib.sha256(PENGUINS).hexdigest()).count() == 2


def test_another_users_private_dataset_is_404_everywhere_and_not_listed(builder_api, api):
    upload(builder_api, "penguins", PENGUINS)

    assert api.get("/api/v1/datasets/").json()["results"] == []
    mine = builder_api.get("/api/v1/datasets/").json()["results"]
    assert [d["name"] for d in mine] == ["penguins"]
    missing = assert_error(api.get("/api/v1/datasets/nothing-here/"), 404, "not_found")
    hidden = assert_error(api.get("/api/v1/datasets/penguins/"), 404, "not_found")
    assert hidden == missing
    assert api.delete("/api/v1/datasets/penguins/").status_code == 404
    assert Dataset.objects.filter(name="penguins").exists()


def test_a_shared_dataset_is_listed_for_everyone_but_only_its_owner_deletes_it(builder_api, api):
    upload(builder_api, "penguins", PENGUINS, visibility="shared")

    assert [d["name"] for d in api.get("/api/v1/datasets/").json()["results"]] == ["penguins"]
    assert api.get("/api/v1/datasets/penguins/").status_code == 200
    assert_error(api.delete("/api/v1/datasets/penguins/"), 403, "permission_denied")
    assert builder_api.delete("/api/v1/datasets/penguins/").status_code == 204
    assert not Dataset.objects.filter(name="penguins").exists()


def test_uploading_needs_the_model_builder_permission(api, staff_api, history):
    body = assert_error(upload(api, "penguins", PENGUINS), 403, "permission_denied")
    assert "model builder" in body["message"]
    assert upload(staff_api, "penguins", PENGUINS).status_code == 201


def test_a_name_another_user_holds_is_refused(builder_api, make_user, history):
    other = client_for(make_user("cyd", is_staff=True))
    upload(other, "penguins", PENGUINS)

    body = assert_error(
        upload(builder_api, "penguins", PENGUINS), 400, "invalid", keys=("code", "message", "fields")
    )
    assert "taken" in body["fields"]["name"][0]
    assert DatasetVersion.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        (b"a,b,c\n", "no data rows"),
        ("name,city\nJosé,Málaga\n".encode("latin-1"), "UTF-8"),
        (b"a,b,a\n1,2,3\n", "'a'"),
        (b"a,,c\n1,2,3\n", "Column 2"),
        (b"a,b,c\n1,2,3\n4,5,6,7\n", "line 3"),
        (b"a,b,c\n1,2,3\n4,5\n", "line 3"),
    ],
    ids=[
        "empty",
        "blank-lines",
        "header-only",
        "latin-1",
        "duplicate-name",
        "empty-name",
        "too-many",
        "too-few",
    ],
)
def test_a_bad_file_is_a_400_naming_the_problem_and_stores_nothing(builder_api, history, data, needle):
    before = stored_files(history)
    response = upload(builder_api, "bad", data)

    body = assert_error(response, 400, "invalid", keys=("code", "message", "fields"))
    message = " ".join(body["fields"]["file"])
    assert needle in message, message
    assert not Dataset.objects.exists()
    assert stored_files(history) == before


@pytest.mark.parametrize(
    ("setting", "value", "data"),
    [
        ("DATASET_MAX_BYTES", 100, b"a,b\n" + b"1,2\n" * 100),
        ("DATASET_MAX_ROWS", 3, b"a,b\n1,2\n3,4\n5,6\n7,8\n"),
        ("DATASET_MAX_COLUMNS", 2, b"a,b,c\n1,2,3\n"),
    ],
)
def test_a_file_over_a_limit_is_a_413_naming_the_limit(builder_api, settings, setting, value, data):
    setattr(settings, setting, value)
    response = upload(builder_api, "big", data)

    body = assert_error(response, 413, "too_large", keys=("code", "message", "fields"))
    assert setting in " ".join(body["fields"]["file"]) or str(value) in " ".join(body["fields"]["file"])
    assert not Dataset.objects.exists()


def test_a_body_over_the_upload_limit_is_refused_before_it_is_read(builder_api, settings):
    settings.DATASET_MAX_BYTES = 1024
    settings.REQUEST_MAX_BYTES = 1024
    data = b"a,b\n" + b"1,2\n" * 100_000
    response = upload(builder_api, "big", data)
    assert response.status_code == 413
    assert not Dataset.objects.exists()


def test_a_missing_file_or_bad_name_is_a_400(builder_api):
    response = builder_api.post("/api/v1/datasets/", {"name": "x"}, format="multipart")
    assert "file" in assert_error(response, 400, "invalid", keys=("code", "message", "fields"))["fields"]
    response = upload(builder_api, "Not A Slug!", PENGUINS)
    assert "name" in assert_error(response, 400, "invalid", keys=("code", "message", "fields"))["fields"]


def test_a_dataset_a_model_learned_from_cannot_be_deleted(builder_api, builder, history):
    from predictor.definitions import model_define

    upload(builder_api, "penguins", PENGUINS)
    version = DatasetVersion.objects.get(dataset__name="penguins")
    model_define(name="penguin-species", dataset_version=version, target="species", owner=builder)

    body = assert_error(builder_api.delete("/api/v1/datasets/penguins/"), 409, "conflict")
    assert "penguin-species" in body["message"]
    assert Dataset.objects.filter(name="penguins").exists()


def test_the_bytes_of_a_deleted_dataset_leave_the_store(builder_api, history):
    from predictor.datasets import dataset_bytes

    data = PENGUINS + b"Gentoo,Biscoe,50.0,15.0,220,5000,male,2009\n"
    upload(builder_api, "penguins", data)
    version = DatasetVersion.objects.get(dataset__name="penguins")
    with dataset_bytes(version) as stream:
        assert stream.read() == data
    assert builder_api.delete("/api/v1/datasets/penguins/").status_code == 204

    from predictor.datasets import DatasetMissing

    with pytest.raises(DatasetMissing), dataset_bytes(version):
        pass


def test_the_stored_bytes_are_checked_against_their_sha256(builder_api, history):
    from mongoengine.connection import get_db

    from predictor.datasets import DatasetMissing, dataset_bytes

    data = PENGUINS + b"Adelie,Dream,40.0,18.0,190,3600,female,2009\n"
    upload(builder_api, "penguins", data)
    version = DatasetVersion.objects.get(dataset__name="penguins")
    # Someone with write access to MongoDB changes the stored bytes.
    files = get_db()["datasets.files"].find_one({"filename": version.sha256})
    get_db()["datasets.chunks"].update_one({"files_id": files["_id"], "n": 0}, {"$set": {"data": b"x" * 10}})

    with pytest.raises(DatasetMissing, match=r"damaged|SHA-256"), dataset_bytes(version):
        pass


def test_a_dataset_downloaded_as_bytes_round_trips(builder_api):
    from predictor.datasets import dataset_bytes

    upload(builder_api, "penguins", PENGUINS)
    with dataset_bytes(DatasetVersion.objects.get(dataset__name="penguins")) as stream:
        assert stream.read() == PENGUINS


def test_a_download_writes_formula_cells_as_text_and_keeps_numbers(builder_api, api):
    data = b'name,score,note\nada,-1.5,"=HYPERLINK(""http://evil"",""x"")"\nbob,2,@SUM(1+1)\n'
    upload(builder_api, "notes", data)

    response = builder_api.get("/api/v1/datasets/notes/versions/1/download/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="notes-v1.csv"'
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == '"name","score","note"'
    assert lines[1].startswith('"ada","-1.5","\'=HYPERLINK(')
    assert lines[2] == '"bob","2","\'@SUM(1+1)"'
    # Private: another user gets the same 404 as for a dataset that does not exist.
    assert api.get("/api/v1/datasets/notes/versions/1/download/").status_code == 404
    assert builder_api.get("/api/v1/datasets/notes/versions/9/download/").status_code == 404
