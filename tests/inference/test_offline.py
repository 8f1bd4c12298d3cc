"""Ultralytics never reaches the network: any outbound connection attempt or DNS lookup fails the test."""

import socket

import pytest

from cityeye.config import DetectorSettings
from inference.detector import Detector, export_onnx
from tests.inference.test_detector import frames


@pytest.fixture
def no_network(monkeypatch):
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise OSError("network access attempted in an offline test")

    real_connect = socket.socket.connect

    def guarded_connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(f"connect {address!r}")
            raise OSError("network access attempted in an offline test")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "gethostbyname", refuse)
    yield attempts
    assert attempts == [], f"outbound network attempts: {attempts}"


def test_load_predict_export_offline(tiny_model, tmp_path, no_network):
    det = Detector.from_file(tiny_model, DetectorSettings(conf=0.01, imgsz=64))
    det.predict(frames(2))
    onnx = export_onnx(tiny_model, imgsz=64, out=tmp_path / "m.onnx")
    Detector.from_file(onnx, DetectorSettings(conf=0.01, imgsz=64)).predict(frames(2))
    assert no_network == []
