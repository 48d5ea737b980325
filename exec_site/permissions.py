"""API permission classes that also require the `view` permission for reads.

DRF's model and object permission classes let any authenticated user read;
Exec stores incident data, so GET, HEAD and OPTIONS need `view_<model>` too.
"""

from typing import TYPE_CHECKING, Any

from django.db.models import Model, QuerySet
from guardian.shortcuts import get_objects_for_user
from rest_framework.filters import BaseFilterBackend
from rest_framework.permissions import DjangoModelPermissions, DjangoObjectPermissions

if TYPE_CHECKING:
    # DRF's views module reads DEFAULT_PERMISSION_CLASSES while it loads, so
    # importing it here at run time would be circular.
    from rest_framework.request import Request
    from rest_framework.views import APIView

_VIEW = ["%(app_label)s.view_%(model_name)s"]


class ModelPermissions(DjangoModelPermissions):
    """Model permissions, with `view` required for reads."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": _VIEW,
        "OPTIONS": _VIEW,
        "HEAD": _VIEW,
    }


class ObjectPermissions(DjangoObjectPermissions):
    """Per-object permissions, with `view` required for reads.

    A permission held on the model (through a role) covers every object; one
    held on an object through django-guardian covers that object alone. Lists
    need `ViewableObjectsFilter` to hide what the user may not view.
    """

    perms_map = {
        **DjangoObjectPermissions.perms_map,
        "GET": _VIEW,
        "OPTIONS": _VIEW,
        "HEAD": _VIEW,
    }

    def has_permission(self, request: "Request", view: "APIView") -> bool:
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(
        self, request: "Request", view: "APIView", obj: Model
    ) -> bool:
        model_cls = type(obj)
        perms = self.get_required_object_permissions(request.method, model_cls)
        if request.user.has_perms(perms):
            return True
        return super().has_object_permission(request, view, obj)


class ViewableObjectsFilter(BaseFilterBackend):
    """Limit a list to the objects the user may view, globally or one by one."""

    def filter_queryset(
        self, request: "Request", queryset: QuerySet, view: Any
    ) -> QuerySet:
        opts = queryset.model._meta
        return get_objects_for_user(
            request.user,
            f"{opts.app_label}.view_{opts.model_name}",
            queryset,
            accept_global_perms=True,
        )
