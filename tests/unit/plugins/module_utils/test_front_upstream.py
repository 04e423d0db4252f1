"""front_upstream: the live blue_green slot from nginx's upstream file (the filter medops.runbook.front_live_slot)."""

from __future__ import annotations

import pytest

from ansible_collections.medops.runbook.plugins.module_utils.front_upstream import live_port, live_slot

SLOTS = {"blue": 8081, "green": "8082"}
WRITTEN = "# Managed by medops.runbook (deploy strategy blue_green): the live backend.\nserver 127.0.0.1:8082;\n"


def test_the_slot_whose_port_the_server_line_names_is_live():
    assert live_slot(WRITTEN, SLOTS) == "green"
    assert live_slot("  server 127.0.0.1:8081 ;", SLOTS) == "blue"


@pytest.mark.parametrize("text", ["", "# server 127.0.0.1:8081;", "server 127.0.0.1:9000;", "server unix:/run/x.sock;",
                                  "upstream x { server 127.0.0.1:8081; }"])
def test_no_live_slot_when_the_file_names_none_of_their_ports(text):
    assert live_slot(text, SLOTS) == ""


def test_the_first_server_line_decides():
    assert live_port("server a:8081;\nserver b:8082;\n") == 8081 and live_port(None) is None


def test_slots_must_be_a_dict():
    with pytest.raises(TypeError, match="dict of name to port"):
        live_slot(WRITTEN, ["blue", "green"])
