import pytest
from django.test import Client


@pytest.fixture
def ada(make_user):
    return make_user("ada")


@pytest.fixture
def ada_client(ada, model_version):
    """A browser's client (session login) of ada, with breast_cancer v1 serving."""
    client = Client()
    client.force_login(ada)
    return client
