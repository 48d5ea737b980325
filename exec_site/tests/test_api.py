import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from guardian.shortcuts import assign_perm
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def groups():
    return [Group.objects.create(name=f"team-{n}") for n in range(3)]


@pytest.fixture
def allowed():
    user = User.objects.create_user("allowed")
    user.user_permissions.add(Permission.objects.get(codename="view_group"))
    return user


@pytest.fixture
def teammate(groups):
    """A user who may view one group only, through a per-object permission."""
    user = User.objects.create_user("teammate")
    assign_perm("auth.view_group", user, groups[0])
    return user


@pytest.fixture
def outsider():
    return User.objects.create_user("outsider")


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.mark.urls("exec_site.tests.api_urls")
def test_model_permissions_need_view_for_get(groups, allowed, outsider):
    assert client_for(allowed).get("/model-groups/").status_code == 200
    assert client_for(outsider).get("/model-groups/").status_code == 403
    assert client_for(None).get("/model-groups/").status_code in (401, 403)


@pytest.mark.urls("exec_site.tests.api_urls")
def test_model_permissions_need_add_for_post(allowed):
    response = client_for(allowed).post("/model-groups/", {"name": "new"})

    assert response.status_code == 403
    assert not Group.objects.filter(name="new").exists()


@pytest.mark.urls("exec_site.tests.api_urls")
def test_object_permissions_per_object(groups, allowed, teammate, outsider):
    own, other = groups[0], groups[1]

    assert client_for(allowed).get(f"/object-groups/{other.pk}/").status_code == 200
    assert client_for(teammate).get(f"/object-groups/{own.pk}/").status_code == 200
    assert client_for(teammate).get(f"/object-groups/{other.pk}/").status_code == 404
    assert client_for(outsider).get(f"/object-groups/{own.pk}/").status_code == 404


@pytest.mark.urls("exec_site.tests.api_urls")
def test_object_permissions_filter_lists(groups, allowed, teammate, outsider):
    def names(user):
        body = client_for(user).get("/object-groups/").json()
        return {row["name"] for row in body["results"]}

    assert {"team-0", "team-1", "team-2"} <= names(allowed)
    assert names(teammate) == {"team-0"}
    assert names(outsider) == set()


@pytest.mark.urls("exec_site.tests.api_urls")
def test_object_permissions_view_does_not_grant_change(groups, teammate):
    response = client_for(teammate).patch(
        f"/object-groups/{groups[0].pk}/", {"name": "renamed"}
    )

    assert response.status_code == 403
    groups[0].refresh_from_db()
    assert groups[0].name == "team-0"


@pytest.mark.urls("exec_site.tests.api_urls")
def test_api_pagination_is_on(groups, allowed):
    body = client_for(allowed).get("/model-groups/").json()

    assert set(body) == {"count", "next", "previous", "results"}


@pytest.mark.urls("exec_site.tests.api_urls")
def test_token_authentication(groups, allowed):
    token = Token.objects.create(user=allowed)
    client = APIClient()

    response = client.get("/model-groups/", HTTP_AUTHORIZATION=f"Token {token.key}")

    assert response.status_code == 200


def test_openapi_schema_builds_without_warnings(tmp_path):
    output = tmp_path / "schema.yaml"

    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(output))

    assert output.read_text().startswith("openapi:")


def test_api_docs_page_serves_local_assets(client, admin_user):
    client.force_login(admin_user)

    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert b"cdn.jsdelivr" not in response.content


def test_api_schema_needs_login(client, admin_user):
    assert client.get("/api/schema/").status_code in (401, 403)

    client.force_login(admin_user)

    assert client.get("/api/schema/").status_code == 200
