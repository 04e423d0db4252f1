"""``patch_module_args`` on every ansible-core the collection claims.

ansible-core 2.19 ships ``ansible.module_utils.testing.patch_module_args``; 2.16 to 2.18 read a
module's arguments from ``ansible.module_utils.basic._ANSIBLE_ARGS`` (JSON bytes), which is what
the fallback sets.
"""

from __future__ import annotations

import contextlib
import json
from unittest import mock

__all__ = ["patch_module_args"]

try:  # ansible-core >= 2.19
    from ansible.module_utils.testing import patch_module_args
except ImportError:
    from ansible.module_utils import basic as _basic

    @contextlib.contextmanager
    def patch_module_args(args: dict | None = None):
        """Expose the given module args to ``AnsibleModule`` instances created within this context."""
        if not isinstance(args, (dict, type(None))):
            raise TypeError("The `args` arg must be a dict or None.")
        encoded = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()
        with mock.patch.object(_basic, "_ANSIBLE_ARGS", encoded):
            yield
