"""Pages of the forensics app: packages, artifacts, suspicious files, downloads.

Every page needs a login and the model's `view` permission (Responders and
Auditors have it). Every download is recorded as an audit event.
"""

from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.utils.http import content_disposition_header

from forensics import actions, viewer
from forensics.choices import ARTIFACT_FAILED, PackageStatus
from forensics.models import CollectedFile, ForensicsPackage, PackageArtifact

VIEW_PACKAGES = "forensics.view_forensicspackage"
VIEW_FILES = "forensics.view_collectedfile"
PACKAGES_PER_PAGE = 50
ROWS_PER_PAGE = 100
MAX_ROWS_PER_PAGE = 500
# With these headers a browser saves a download instead of rendering it, and
# allows no sniffing, scripts or plugins, even if a stored member were HTML.
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}
MEMBER_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def query_without_page(request: HttpRequest) -> str:
    """Return the request's query string minus `page`, ready for `?...page=N`."""
    params = request.GET.copy()
    params.pop("page", None)
    encoded = params.urlencode()
    return f"{encoded}&" if encoded else ""


def bounded_int(raw: str | None, default: int, maximum: int) -> int:
    try:
        value = int(raw or default)
    except ValueError:
        return default
    return min(max(value, 1), maximum)


@login_required
@permission_required(VIEW_PACKAGES, raise_exception=True)
def package_list(request: HttpRequest) -> HttpResponseBase:
    # Aggregates drop Meta.ordering from the query, so order explicitly.
    packages = ForensicsPackage.objects.select_related("endpoint").order_by(
        "-received", "-id"
    )
    packages = packages.annotate(
        artifact_count=Count("artifacts"),
        failed_count=Count(
            "artifacts", filter=Q(artifacts__status__in=ARTIFACT_FAILED)
        ),
    )
    status = request.GET.get("status", "")
    if status in PackageStatus.values:
        packages = packages.filter(status=status)
    endpoint = request.GET.get("endpoint", "")
    if endpoint.isdigit():
        packages = packages.filter(endpoint_id=int(endpoint))

    page = Paginator(packages, PACKAGES_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "status": status,
        "statuses": PackageStatus.choices,
        "query_string": query_without_page(request),
    }
    return render(request, "forensics/package_list.html", context)


@login_required
@permission_required(VIEW_PACKAGES, raise_exception=True)
def package_detail(request: HttpRequest, package_id: int) -> HttpResponseBase:
    package = get_object_or_404(
        ForensicsPackage.objects.select_related("endpoint", "task", "requested_by"),
        pk=package_id,
    )
    context = {
        "package": package,
        "artifacts": package.artifacts.all(),
        "collector": package.manifest.get("collector") or {},
        "source": package.manifest.get("endpoint") or {},
        "iocs": listed_iocs(package),
        "can_view_files": request.user.has_perm(VIEW_FILES),
    }
    return render(request, "forensics/package_detail.html", context)


def listed_iocs(package: ForensicsPackage) -> list[dict[str, Any]]:
    """Return the manifest's suspicious files, each with its stored row if any.

    The agent uploads each file as a zip of its own, so a listed file may
    arrive later than the package or not at all.
    """
    entries = [
        entry
        for entry in package.manifest.get("iocs") or []
        if isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
    ]
    stored = {
        collected.sha256: collected
        for collected in CollectedFile.objects.filter(
            endpoint_id=package.endpoint_id,
            sha256__in=[entry["sha256"].lower() for entry in entries],
        )
    }
    return [
        {
            "sha256": entry["sha256"].lower(),
            "original_path": str(entry.get("original_path") or ""),
            "status": str(entry.get("status") or ""),
            "stored": stored.get(entry["sha256"].lower()),
        }
        for entry in entries
    ]


def artifact_page_context(request: HttpRequest, artifact: PackageArtifact) -> dict:
    """Load the artifact's rows, then apply the search, sorting and paging."""
    context: dict[str, Any] = {"artifact": artifact, "package": artifact.package}
    try:
        table = viewer.load_table(artifact)
    except viewer.TooLargeToShow as error:
        context["problem"] = (
            f"This artifact's JSON is {error.args[0]} bytes, more than the "
            f"{viewer.VIEW_MAX_BYTES} bytes shown on a page; download it instead."
        )
        return context
    except viewer.UnreadableArtifact as error:
        context["problem"] = f"This artifact cannot be shown: {error}."
        return context

    query = request.GET.get("q", "")
    rows = viewer.filter_rows(table.rows, query)
    sort = request.GET.get("sort", "")
    descending = request.GET.get("order") == "desc"
    if sort in table.columns:
        rows = viewer.sort_rows(rows, table.columns.index(sort), descending)

    per_page = bounded_int(
        request.GET.get("per_page"), ROWS_PER_PAGE, MAX_ROWS_PER_PAGE
    )
    page = Paginator(rows, per_page).get_page(request.GET.get("page"))
    context.update(
        columns=table.columns,
        page=page,
        rows=[[viewer.cell_text(cell) for cell in row] for row in page.object_list],
        total=len(table.rows),
        query=query,
        sort=sort,
        order="desc" if descending else "asc",
        per_page=per_page,
        query_string=query_without_page(request),
    )
    return context


@login_required
@permission_required(VIEW_PACKAGES, raise_exception=True)
def artifact_detail(
    request: HttpRequest, package_id: int, artifact_id: int
) -> HttpResponseBase:
    artifact = get_object_or_404(
        PackageArtifact.objects.select_related("package__endpoint"),
        pk=artifact_id,
        package_id=package_id,
    )
    context = artifact_page_context(request, artifact)
    return render(request, "forensics/artifact_detail.html", context)


def attachment(response: HttpResponseBase, filename: str) -> HttpResponseBase:
    response["Content-Disposition"] = content_disposition_header(True, filename)
    for header, value in DOWNLOAD_HEADERS.items():
        response[header] = value
    return response


@login_required
@permission_required(VIEW_PACKAGES, raise_exception=True)
def package_download(request: HttpRequest, package_id: int) -> HttpResponseBase:
    package = get_object_or_404(
        ForensicsPackage.objects.select_related("endpoint"), pk=package_id
    )
    actions.record_download(
        request.user,
        package,
        "forensics.package_downloaded",
        f"Downloaded forensics package {package.pk} of {package.endpoint.hostname}",
    )
    response = FileResponse(package.file.open("rb"), content_type="application/zip")
    return attachment(response, f"package-{package.pk}-{package.sha256[:12]}.zip")


@login_required
@permission_required(VIEW_PACKAGES, raise_exception=True)
def artifact_download(
    request: HttpRequest, package_id: int, artifact_id: int, file_format: str
) -> HttpResponseBase:
    if file_format not in MEMBER_TYPES:
        raise Http404(f"Unknown format {file_format!r}; use csv or json.")
    artifact = get_object_or_404(
        PackageArtifact.objects.select_related("package__endpoint"),
        pk=artifact_id,
        package_id=package_id,
    )
    member = artifact.csv_member if file_format == "csv" else artifact.json_member
    if not member:
        raise Http404(f"Artifact {artifact.name} has no {file_format} file.")

    actions.record_download(
        request.user,
        artifact,
        "forensics.artifact_downloaded",
        f"Downloaded artifact {artifact.name} ({file_format}) of forensics "
        f"package {artifact.package_id}",
    )
    response = StreamingHttpResponse(
        viewer.stream_member(artifact.package.file, member),
        content_type=MEMBER_TYPES[file_format],
    )
    filename = f"package-{artifact.package_id}-{artifact.name}.{file_format}"
    return attachment(response, filename)


@login_required
@permission_required(VIEW_FILES, raise_exception=True)
def file_list(request: HttpRequest) -> HttpResponseBase:
    files = CollectedFile.objects.select_related("endpoint")
    sha256 = request.GET.get("sha256", "").strip().lower()
    if sha256:
        files = files.filter(sha256=sha256)
    endpoint = request.GET.get("endpoint", "")
    if endpoint.isdigit():
        files = files.filter(endpoint_id=int(endpoint))
    page = Paginator(files, PACKAGES_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "sha256": sha256,
        "query_string": query_without_page(request),
    }
    return render(request, "forensics/file_list.html", context)


@login_required
@permission_required(VIEW_FILES, raise_exception=True)
def file_download(request: HttpRequest, file_id: int) -> HttpResponseBase:
    """Serve a suspicious-file zip as an attachment, never inline."""
    collected = get_object_or_404(
        CollectedFile.objects.select_related("endpoint"), pk=file_id
    )
    actions.record_download(
        request.user,
        collected,
        "forensics.file_downloaded",
        f"Downloaded suspicious file {collected.sha256} of "
        f"{collected.endpoint.hostname}",
    )
    response = FileResponse(collected.file.open("rb"), content_type="application/zip")
    return attachment(response, collected.download_name)
