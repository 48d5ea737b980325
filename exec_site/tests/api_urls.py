"""A small API over auth groups that exercises Exec's permission classes."""

from django.contrib.auth.models import Group
from rest_framework import routers, serializers, viewsets

from exec_site.permissions import ObjectPermissions, ViewableObjectsFilter


class GroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = Group
        fields = ["id", "name"]


class ModelGuardedGroups(viewsets.ModelViewSet):
    queryset = Group.objects.order_by("id")
    serializer_class = GroupSerializer


class ObjectGuardedGroups(viewsets.ModelViewSet):
    queryset = Group.objects.order_by("id")
    serializer_class = GroupSerializer
    permission_classes = [ObjectPermissions]
    filter_backends = [ViewableObjectsFilter]


router = routers.SimpleRouter()
router.register("model-groups", ModelGuardedGroups, basename="model-groups")
router.register("object-groups", ObjectGuardedGroups, basename="object-groups")
urlpatterns = router.urls
