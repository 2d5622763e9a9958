"""The API source's map of agents to cluster nodes: one node held once, the others by id."""

from __future__ import annotations

import pytest

from log_monitor.sources.wazuh_api import NodeMap


def test_agents_on_the_usual_node_answer_it_without_an_entry_each() -> None:
    names = {"001": "web", "002": "db", "003": "dc"}
    nodes = NodeMap(names, "master", {"003": "worker1"})
    assert dict(nodes) == {"001": "master", "002": "master", "003": "worker1"}
    assert nodes.counts() == {"master": 2, "worker1": 1}
    assert len(nodes.odd) == 1


def test_an_agent_not_listed_has_no_node() -> None:
    nodes = NodeMap({"001": "web"}, "master")
    assert nodes.get("999") is None
    with pytest.raises(KeyError):
        nodes["999"]


def test_agents_all_on_other_nodes_count_no_usual_one() -> None:
    nodes = NodeMap({"001": "a", "002": "b"}, "master", {"001": "w1", "002": "w2"})
    assert nodes.counts() == {"w1": 1, "w2": 1}
