#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: release
short_description: Ship, activate or prune a release under an application root
version_added: "0.1.0"
extends_documentation_fragment:
  - medops.runbook.attributes
description:
  - Manages the release tree of one application, C(<app_root>/releases/<version>) with a C(current) link,
    in one module call per step of a deploy (the release strategy's ship, switch and prune).
  - V(present) ships a release. The tarball (downloaded from O(url), or O(src) already on the host) is
    checked against O(checksum) before anything is unpacked, unpacked under a temporary name, marked
    C(.medops-complete) and renamed into place, so C(releases/<version>) is always whole. Members that would
    land outside the release (absolute paths, C(..), links out of it, devices) are refused. Then the
    O(shared_paths) are linked into the release. A release already complete is not shipped again.
  - V(live) points C(current) at the release by renaming a new link over it, so it always names a whole
    release, then runs O(restart_command) when given.
  - V(pruned) removes all but the O(keep) newest releases (by modification time), never one named in O(protect).
  - M(medops.runbook.release_info) reads the same tree without changing it.
author:
  - medops.runbook contributors (@medops-runbook)
options:
  app_root:
    description: The application root; its C(releases/) directory must exist.
    type: path
    required: true
  state:
    description: V(present) ships, V(live) activates, V(pruned) removes old releases.
    type: str
    choices: [present, live, pruned]
    default: present
  version:
    description:
      - The release's name (letters, digits, C(.), C(_), C(+), C(-)). Required unless O(state=pruned).
    type: str
  url:
    description:
      - With O(state=present), where to download the tarball. Mutually exclusive with O(src).
    type: str
  src:
    description:
      - With O(state=present), a tarball already on the host (for example copied there by M(ansible.builtin.copy)).
    type: path
  remove_src:
    description: Remove O(src) once the release is in place (or was already there).
    type: bool
    default: false
  checksum:
    description:
      - The tarball's sha256, as C(sha256:<hex>) or C(<hex>). Required with O(src), and with O(url) unless
        O(checksum_url) is given; never skipped.
    type: str
  checksum_url:
    description:
      - With O(url) and no O(checksum), where to read the sha256 (its first word, as C(sha256sum) writes it),
        for example the artifact's URL with C(.sha256) appended. Read only when the release is not shipped yet.
    type: str
  url_timeout:
    description: Seconds to wait for the download's connection and each read.
    type: int
    default: 60
  validate_certs:
    description: Verify the download's TLS certificate.
    type: bool
    default: true
  shared_paths:
    description:
      - With O(state=present), links from the release into C(<app_root>/shared/); each item has C(src)
        (under C(shared/)) and C(dest) (under the release). A directory the tarball put at C(dest) is replaced.
    type: list
    elements: dict
    default: []
  restart_command:
    description:
      - With O(state=live), a command (argv list) run after C(current) points at the release, every time the
        module runs (a re-run usually meets a service that did not start). A non-zero exit fails the task.
    type: list
    elements: str
    default: []
  keep:
    description: With O(state=pruned), how many of the newest releases to keep.
    type: int
    default: 5
  protect:
    description: With O(state=pruned), releases never removed (the live one and the one it replaced).
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    details: Nothing is downloaded, unpacked, linked, run or removed; the result says what would be.
  diff_mode:
    support: none
notes:
  - The download goes to a temporary file next to the releases and is removed whatever happens.
seealso:
  - module: medops.runbook.release_info
"""

EXAMPLES = r"""
- name: Ship 1.1.0, checksum checked, with the shared .env and uploads linked in
  medops.runbook.release:
    app_root: /srv/clinic
    version: 1.1.0
    url: https://artifacts.example.org/clinic-service-1.1.0.tar.gz
    checksum_url: https://artifacts.example.org/clinic-service-1.1.0.tar.gz.sha256
    shared_paths:
      - {src: .env, dest: .env}
      - {src: uploads, dest: public/uploads}

- name: Make 1.1.0 live and restart the service
  medops.runbook.release:
    app_root: /srv/clinic
    state: live
    version: 1.1.0
    restart_command: [systemctl, --user, restart, clinic]

- name: Keep the five newest releases, and always the live one and the one before
  medops.runbook.release:
    app_root: /srv/clinic
    state: pruned
    keep: 5
    protect: [1.1.0, 1.0.0]
"""

RETURN = r"""
version_before:
  description: The release C(current) pointed at when the module started ('' when none).
  returned: always
  type: str
  sample: 1.0.0
shipped:
  description: Whether the release was unpacked by this run (would be, in check mode).
  returned: state=present
  type: bool
linked:
  description: The O(shared_paths) destinations that were (or would be) linked anew.
  returned: state=present
  type: list
  elements: str
activated:
  description: Whether C(current) was (or would be) changed.
  returned: state=live
  type: bool
restarted:
  description: Whether O(restart_command) ran.
  returned: state=live
  type: bool
removed:
  description: The releases that were (or would be) removed.
  returned: state=pruned
  type: list
  elements: str
  sample: [0.9.0]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.medops.runbook.plugins.module_utils.release import (
    ReleaseError, ReleaseTree, discard, download, is_release_name, normalise_checksum)


def argument_spec():
    return dict(
        app_root=dict(type="path", required=True),
        state=dict(type="str", choices=["present", "live", "pruned"], default="present"),
        version=dict(type="str"),
        url=dict(type="str"),
        src=dict(type="path"),
        remove_src=dict(type="bool", default=False),
        checksum=dict(type="str"),
        checksum_url=dict(type="str"),
        url_timeout=dict(type="int", default=60),
        validate_certs=dict(type="bool", default=True),
        shared_paths=dict(type="list", elements="dict", default=[]),
        restart_command=dict(type="list", elements="str", default=[]),
        keep=dict(type="int", default=5),
        protect=dict(type="list", elements="str", default=[]),
    )


def check_params(params):
    """Refuse bad input before anything is touched."""
    version = params["version"]
    if params["state"] != "pruned" and not version:
        raise ReleaseError("version is required with state=%s" % params["state"])
    if version and not is_release_name(version):
        raise ReleaseError("version must be a release name (letters, digits, '.', '_', '+', '-'), got %r" % version)
    if params["url"] and not (params["checksum"] or params["checksum_url"]):
        raise ReleaseError("url needs checksum or checksum_url: an artifact is never unpacked unchecked")
    if params["keep"] < 1:
        raise ReleaseError("keep must be at least 1, got %d" % params["keep"])
    for i, item in enumerate(params["shared_paths"]):
        if set(item) != {"src", "dest"} or not all(isinstance(v, str) and v for v in item.values()):
            raise ReleaseError("shared_paths[%d] must have exactly src and dest, both non-empty strings" % i)
        if any(v.startswith("/") or ".." in v.split("/") for v in item.values()):
            raise ReleaseError("shared_paths[%d]: src and dest are relative paths without '..'" % i)


def ship(module, tree, params):
    version = params["version"]
    shipped = not tree.complete(version)
    if shipped and not (params["url"] or params["src"]):
        raise ReleaseError("%s is not shipped yet: give url or src, and checksum" % tree.path(version))
    if shipped and not module.check_mode:
        checksum = normalise_checksum(params["checksum"] or published_checksum(params))
        tarball = params["src"] or download(lambda url: _fetch(url, params), params["url"], tree.releases, version)
        try:
            tree.unpack(version, tarball, checksum)
        finally:
            if not params["src"]:
                discard(tarball)
    elif shipped and params["checksum"]:
        normalise_checksum(params["checksum"])
    if params["src"] and params["remove_src"] and not module.check_mode:
        discard(params["src"])
    linked = tree.link_shared(version, params["shared_paths"], check_mode=module.check_mode)
    return dict(changed=shipped or bool(linked), shipped=shipped, linked=linked)


def published_checksum(params):
    """The first word of O(checksum_url) (a C(.sha256) file beside the artifact)."""
    text = _fetch(params["checksum_url"], params).read(4096).decode("ascii", "replace").split()
    if not text:
        raise ReleaseError("%s is empty: no checksum to check the artifact against" % params["checksum_url"])
    return text[0]


def _fetch(url, params):
    try:
        return open_url(url, timeout=params["url_timeout"], validate_certs=params["validate_certs"])
    except (IOError, OSError) as exc:  # URLError and HTTPError are OSErrors too
        raise ReleaseError("cannot download %s: %s" % (url, getattr(exc, "reason", None) or exc))


def activate(module, tree, params):
    activated = tree.activate(params["version"], check_mode=module.check_mode)
    restarted = bool(params["restart_command"]) and not module.check_mode
    if restarted:
        rc, out, err = module.run_command(params["restart_command"])
        if rc != 0:
            raise ReleaseError("the restart command %s exited %d: %s" % (
                params["restart_command"][0], rc, (err or out).strip()[-300:] or "(no output)"))
    # A restart changes the host even when current already pointed at the release (and would, in check mode).
    return dict(changed=activated or bool(params["restart_command"]), activated=activated, restarted=restarted)


def prune(module, tree, params):
    removed = tree.prune(params["keep"], set(params["protect"]), check_mode=module.check_mode)
    return dict(changed=bool(removed), removed=removed)


STATES = {"present": ship, "live": activate, "pruned": prune}


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("url", "src")],
        required_by={"src": "checksum"},
        supports_check_mode=True,
    )
    params = module.params
    tree = ReleaseTree(params["app_root"])
    try:
        check_params(params)
        result = dict(version_before=tree.live())
        result.update(STATES[params["state"]](module, tree, params))
    except ReleaseError as exc:
        module.fail_json(msg=str(exc))
    except (IOError, OSError) as exc:
        module.fail_json(msg="%s: %s" % (getattr(exc, "filename", None) or params["app_root"], exc.strerror or exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
