"""Podman's Docker API and three tagged images of a tiny service (1.0.0, 1.1.0, 1.2.0-bad whose
health fails), built locally for the session; every container and image is removed afterwards."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from harness.podman import BASE_IMAGE, build_image, podman_api, remove_images, unique_repository  # noqa: F401  pylint: disable=unused-import

HERE = Path(__file__).resolve().parent
VERSIONS = ("1.0.0", "1.1.0", "1.2.0-bad")


@pytest.fixture(scope="session")
def release_images(podman_api):  # pylint: disable=redefined-outer-name
    """{"repository": ..., "ids": {version: image id}} of the tiny service, one tag per version."""
    repository = unique_repository("medops-ctest")
    work = Path(tempfile.mkdtemp(prefix="medops-ctest-image-"))
    ids = {}
    try:
        for version in VERSIONS:
            context = work / version
            context.mkdir()
            shutil.copy(HERE / "image" / "server.py", context / "server.py")
            (context / "VERSION").write_text(version + "\n")
            bad = "COPY VERSION /srv/BAD\n" if version.endswith("-bad") else ""
            (context / "Containerfile").write_text(
                f"FROM {BASE_IMAGE}\nCOPY server.py /srv/server.py\nCOPY VERSION /srv/VERSION\n{bad}"
                'CMD ["python3", "/srv/server.py"]\n')
            ids[version] = build_image(context, f"{repository}:{version}")
        yield {"repository": repository, "ids": ids}
    finally:
        remove_images(repository)
        shutil.rmtree(work, ignore_errors=True)
