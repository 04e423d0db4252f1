# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Feature flags in Unleash (version 5 or later), through its admin API.

The module manages three things of one flag: that it exists (not archived), its on/off switch in
one environment, and one ``flexibleRollout`` strategy in that environment whose ``rollout``
parameter is the percentage. Other strategies are left alone. Nothing is written when the server
already holds the wanted state, so a second run adds no event to Unleash's audit log.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote
from ansible.module_utils.urls import open_url, ConnectionError as UrlConnectionError, SSLValidationError

from ansible_collections.medops.runbook.plugins.module_utils.flag_common import FlagError, clears_rollout, flag_state

NAME_RE = re.compile(r"^[A-Za-z0-9_.~-]{1,100}$")
STRATEGY = "flexibleRollout"


def check_unleash_params(params):
    url = params.get("api_url") or ""
    if not re.match(r"^https?://[^/\s]+", url):
        raise FlagError("api_url must be an http:// or https:// URL of the Unleash server, got %r" % url[:80])
    if not NAME_RE.match(params["name"]):
        raise FlagError("name %r is not a valid Unleash flag name (1-100 of letters, digits, '_', '.', '~', '-')" % params["name"][:100])
    if params.get("timeout") is not None and params["timeout"] <= 0:
        raise FlagError("timeout must be more than 0 seconds, got %s" % params["timeout"])
    for option in ("project", "environment"):
        if not params.get(option) or "/" in params[option]:
            raise FlagError("%s must be a non-empty Unleash %s id without '/', got %r" % (option, option, params.get(option)))


class UnleashFlags(object):
    def __init__(self, params):
        self.params = params
        self.base = params["api_url"].rstrip("/")
        self.name = params["name"]
        self.env = params["environment"]
        self.writes = []
        self.warnings = []
        self.strategy = None
        self.rollout_strategies = []
        self.other_strategies = []
        self.rollout_absent = False
        self.archived = False
        self.observed = None
        project = quote(params["project"], safe="")
        self.feature_path = "/api/admin/projects/%s/features/%s" % (project, quote(self.name, safe=""))
        self.env_path = "%s/environments/%s" % (self.feature_path, quote(self.env, safe=""))

    # -- HTTP --------------------------------------------------------------------------------
    def request(self, method, path, body=None, missing_ok=False):
        headers = {"Authorization": self.params["api_token"], "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            response = open_url(self.base + path, method=method, data=data, headers=headers,
                                validate_certs=self.params["validate_certs"], timeout=self.params["timeout"],
                                follow_redirects="safe")
            text = response.read()
        except HTTPError as exc:
            if exc.code == 404 and missing_ok:
                return None
            raise FlagError(self._http_message(method, path, exc))
        except SSLValidationError as exc:
            raise FlagError("TLS verification of %s failed (set validate_certs=false only for a test server): %s" % (self.base, exc))
        except (URLError, UrlConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise FlagError("cannot reach Unleash at %s: %s" % (self.base, reason))
        if not text:
            return {}
        try:
            return json.loads(text)
        except ValueError:
            raise FlagError("%s %s%s did not answer JSON: is api_url the Unleash server?" % (method, self.base, path))

    def _http_message(self, method, path, exc):
        try:
            body = json.loads(exc.read() or b"{}")
        except ValueError:
            body = {}
        detail = body.get("message") or body.get("details") or ""
        if isinstance(detail, list):
            detail = "; ".join(str(item.get("message", item)) if isinstance(item, dict) else str(item) for item in detail)
        if exc.code == 401:
            return "Unleash at %s rejected api_token (401 Unauthorized): use a valid admin API token" % self.base
        if exc.code == 403:
            return "api_token may not %s %s (403 Forbidden): it needs admin rights on project %s. %s" % (
                method, path, self.params["project"], detail)
        if exc.code == 404 and path.startswith("/api/admin/projects/"):
            return ("Unleash answered 404 for %s %s: check that project %r exists and environment %r is enabled in it. %s"
                    % (method, path, self.params["project"], self.env, detail)).strip()
        return ("Unleash answered %s for %s %s: %s" % (exc.code, method, path, detail or exc.reason)).strip()

    # -- reading -----------------------------------------------------------------------------
    def read(self):
        feature = self.request("GET", self.feature_path, missing_ok=True)
        if feature is None or feature.get("archived"):
            self.archived = feature is not None or self._is_archived()
            return flag_state(False, False, None)
        envs = [env for env in feature.get("environments") or [] if env.get("name") == self.env]
        if not envs:
            raise FlagError("environment %r is not enabled in Unleash project %r (the flag has environments: %s)"
                            % (self.env, self.params["project"], ", ".join(env.get("name", "?") for env in feature.get("environments") or []) or "none"))
        env = envs[0]
        strategies = env.get("strategies")
        if strategies is None:
            strategies = self.request("GET", self.env_path + "/strategies") or []
        ours = [item for item in strategies if item.get("name") == STRATEGY and not item.get("disabled")]
        self.rollout_strategies = ours
        self.other_strategies = [item for item in strategies if item.get("name") != STRATEGY and not item.get("disabled")]
        self.strategy = ours[0] if ours else None
        rollout = None
        if self.strategy is not None:
            value = (self.strategy.get("parameters") or {}).get("rollout")
            try:
                rollout = int(float(value))
            except (TypeError, ValueError):
                rollout = None
        return flag_state(True, bool(env.get("enabled")), rollout)

    def _is_archived(self):
        """An archived flag still holds its name: creating it again fails, reviving it works."""
        query = "/api/admin/search/features?query=%s&archived=IS:true&project=IS:%s&limit=100" % (
            quote(self.name, safe=""), quote(self.params["project"], safe=""))
        found = self.request("GET", query, missing_ok=True)
        return any(item.get("name") == self.name for item in (found or {}).get("features") or [])

    # -- planning and writing ----------------------------------------------------------------
    def _strategy_body(self, rollout):
        body = dict(name=STRATEGY, constraints=[], parameters=dict(rollout=str(rollout), stickiness="default", groupId=self.name))
        if self.strategy is not None:
            # keep what someone added in the UI (constraints, segments, title) and change only the percentage
            for field in ("constraints", "segments", "title", "variants"):
                if self.strategy.get(field) is not None:
                    body[field] = self.strategy[field]
            params = dict(self.strategy.get("parameters") or {})
            params["rollout"] = str(rollout)
            params.setdefault("stickiness", "default")
            params.setdefault("groupId", self.name)
            body["parameters"] = params
        return body

    def plan(self, before, after, rollout_absent=False):
        """The API calls that turn ``before`` into ``after``; ``rollout_absent`` deletes the rollout strategies."""
        self.wanted = after
        self.rollout_absent = rollout_absent
        if rollout_absent and after["enabled"] and not self.other_strategies:
            # Unleash switches an environment off when its last strategy is deleted, and gives one switched
            # on without a strategy a flexibleRollout at 100 %: "on without a rollout" would never hold
            raise FlagError("Unleash cannot keep %s switched on in %s without a rollout value: it has no other active "
                            "strategy, and Unleash switches an environment off when its last strategy goes (and adds a "
                            "%s at 100%% when one is switched on without any). Use state=disabled with "
                            "rollout_absent=true, or rollout=100 for everyone" % (self.name, self.env, STRATEGY))
        if not after["exists"]:
            if before["exists"]:
                self.writes.append(("DELETE", self.feature_path, None, "archive flag %s" % self.name))
            return bool(self.writes)
        if not before["exists"]:
            if self.archived:
                self.writes.append(("POST", "/api/admin/archive/revive/%s" % quote(self.name, safe=""), None,
                                    "revive archived flag %s" % self.name))
            else:
                body = dict(name=self.name, type=self.params["flag_type"], impressionData=False)
                if self.params.get("description"):
                    body["description"] = self.params["description"]
                self.writes.append(("POST", "/api/admin/projects/%s/features" % quote(self.params["project"], safe=""),
                                    body, "create %s flag %s" % (self.params["flag_type"], self.name)))
        # the strategy goes in before the switch: an environment switched on with no strategy gets
        # Unleash's default strategy (100 %), which users would see for a moment
        if after["rollout"] is not None and (after["rollout"] != before["rollout"] or self.strategy is None and not before["exists"]):
            if self.strategy is not None:
                self.writes.append(("PUT", "%s/strategies/%s" % (self.env_path, quote(str(self.strategy["id"]), safe="")),
                                    self._strategy_body(after["rollout"]), "set %s to %s%%" % (STRATEGY, after["rollout"])))
            else:
                self.writes.append(("POST", self.env_path + "/strategies", self._strategy_body(after["rollout"]),
                                    "add %s at %s%%" % (STRATEGY, after["rollout"])))
        if after["enabled"] != before["enabled"]:
            switch = "on" if after["enabled"] else "off"
            self.writes.append(("POST", "%s/%s" % (self.env_path, switch), None, "turn %s %s in %s" % (self.name, switch, self.env)))
        if after["rollout"] is None and clears_rollout(before, rollout_absent):
            # after the switch: a flag being turned off is off before its rollout goes. Every active
            # flexibleRollout strategy goes, so that the rollout reads back as none
            for strategy in self.rollout_strategies:
                rollout = (strategy.get("parameters") or {}).get("rollout")
                self.writes.append(("DELETE", "%s/strategies/%s" % (self.env_path, quote(str(strategy["id"]), safe="")), None,
                                    "remove %s at %s%%" % (STRATEGY, rollout)))
        return bool(self.writes)

    def apply(self):
        done = []
        if self.archived and self.wanted["exists"]:
            # a revived flag comes back with its old strategies: plan the rest against what it holds then
            method, path, body, what = self.writes[0]
            self.request(method, path, body)
            done.append(what)
            self.writes = []
            self.plan(self.read(), self.wanted, self.rollout_absent)
        for method, path, body, _what in self.writes:
            self.request(method, path, body)
        self.writes = list(done) + self.writes
        self.strategy = None
        self.observed = self.read()

    def describe_writes(self):
        return [item if isinstance(item, str) else item[3] for item in self.writes]

    def diff(self):
        return None
