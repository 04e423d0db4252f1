"""The production-layout lab: kin, lub and gom each deployed by the strategy inventories/production
gives it (release, container on the lab's podman, blue_green), as `make lab-up` starts it. One for
the tests of this directory that ask for it."""

from __future__ import annotations

import pytest

from medops_lab.testing import LabHandle


@pytest.fixture(scope="package")
def production_lab():
    handle = LabHandle.create(prefix="medops-plab-")
    try:
        handle.up(3, layout="production")
        yield handle
    finally:
        handle.run("down", "--purge", check=False)
