"""A Redis Cluster, started from the embedded binary: refused at boot, clearly.

landing's scripts touch keys in many hash slots; until they are split per
slot (issue #11), a cluster would refuse the first landing. A node of one
must stop the app at start with a message saying what to use instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from landing import create_app
from landing.devserver import EmbeddedCluster
from landing.store import ClusterNotSupported

from conftest import settings_env


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCluster]:
    started = EmbeddedCluster(tmp_path_factory.mktemp("cluster")).start()
    yield started
    started.stop()


def test_the_embedded_cluster_is_a_real_three_master_cluster(
    cluster: EmbeddedCluster,
) -> None:
    client: Any = redis.RedisCluster.from_url(cluster.url)
    try:
        masters = [n for n in client.get_nodes() if n.server_type == "primary"]
        assert len(masters) == 3
        with pytest.raises(redis.ResponseError, match="same slot"):
            client.execute_command(
                "MSET", "{a}x", 1, "{b}y", 2, target_nodes=masters[0]
            )
    finally:
        client.close()


def test_a_cluster_node_stops_the_app_at_start_saying_why(
    cluster: EmbeddedCluster, tmp_path: Path
) -> None:
    with pytest.raises(ClusterNotSupported, match="Redis Cluster node"):
        create_app(settings_env(f"{cluster.url}/0", tmp_path))
