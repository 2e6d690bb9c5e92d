"""Shared fixtures: the services run.sh started (../services.sh exports their
addresses), and the generated stubs in gen/ on the import path."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "gen"))
sys.path.insert(0, HERE)

import grpc  # noqa: E402


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests through tests/interop/python/run.sh")
    return value


@pytest.fixture(scope="session")
def server_addr() -> str:
    return _env("SERVER_ADDR")


@pytest.fixture(scope="session")
def client_addr() -> str:
    return _env("CLIENT_ADDR")


@pytest.fixture(scope="session")
def ca_file() -> str:
    return _env("CA_FILE")


@pytest.fixture(scope="session")
def server_name() -> str:
    return _env("SERVER_NAME")


@pytest.fixture(scope="session")
def client_channel(client_addr):
    with grpc.insecure_channel(client_addr) as channel:
        yield channel


@pytest.fixture(scope="session")
def server_channel(server_addr):
    with grpc.insecure_channel(server_addr) as channel:
        yield channel
