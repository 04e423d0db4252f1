"""Stand-ins for unit tests of pure logic: a clock that sleeps instantly, and the check that a
module's documented options match its argument spec."""

from __future__ import annotations

import yaml


class FakeClock:
    """Monotonic time that moves only when the code under test sleeps; ``sleeps`` records each sleep."""

    def __init__(self, now: float = 0.0):
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def assert_documented_like_spec(module, *fragments) -> None:
    """Every option of ``module.argument_spec()`` is documented (in the module or one of the doc
    ``fragments``) with the same type, default, choices and requiredness, and nothing else is."""
    docs = dict(yaml.safe_load(module.DOCUMENTATION)["options"])
    for fragment in fragments:
        docs.update(yaml.safe_load(fragment.DOCUMENTATION)["options"])
    spec = module.argument_spec()
    assert set(spec) == set(docs)
    for name, option in spec.items():
        assert docs[name]["type"] == option["type"], name
        assert docs[name].get("default") == option.get("default"), name
        assert docs[name].get("choices") == option.get("choices"), name
        assert docs[name].get("required", False) == option.get("required", False), name
