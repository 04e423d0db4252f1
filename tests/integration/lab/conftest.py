"""The production-layout lab: kin, lub and gom each deployed by the strategy inventories/production
gives it (release, container on the lab's podman, blue_green), as `make lab-up` starts it. One for
the tests of this directory that ask for it."""

from __future__ import annotations

import pytest

from medops_lab.testing import LabHandle


@pytest.fixture(scope="package")
def production_lab():
    with LabHandle.running(3, layout="production", prefix="medops-plab-") as handle:
        yield handle
