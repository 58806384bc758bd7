"""A site loads the libraries of the drivers and parts it uses and no others: a Modbus-only
gateway runs without OpenCV, numpy, libosdp, zeep or aiohttp in its process, a camera's driver
still brings OpenCV when a site has a camera, and the console (FastAPI, uvicorn) and metrics
(Prometheus) load only when the site turns them on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import pytest

from drivers import DRIVERS, DeviceConfig
from drivers.registry import DriverRegistry, import_from
from tests.conftest import Mosquitto, Subscriber
from tests.rig import SimulatorThread, site_file

# The libraries of the camera, reader and ONVIF drivers (numpy only video needs).
CAMERA_AND_READER_LIBRARIES = ("cv2", "numpy", "osdp", "onvif", "zeep", "aiohttp")

# Runs the gateway as `campus-gateway run` does and writes, as it exits, what it had imported.
GATEWAY_WITH_MODULE_LIST = textwrap.dedent("""
    import atexit, json, sys
    from gateway.cli import main
    site, out = sys.argv[1], sys.argv[2]
    atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
    sys.exit(main(["run", "-c", site]))
""")


def loaded_libraries(modules: list[str]) -> list[str]:
    return sorted({name.split(".")[0] for name in modules} & set(CAMERA_AND_READER_LIBRARIES))


def imported_by(code: str) -> list[str]:
    """``sys.modules`` of a fresh interpreter once ``code`` has run."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, check=True)
    return list(json.loads(done.stdout.splitlines()[-1]))


def test_a_modbus_only_gateway_runs_without_camera_or_reader_libraries(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=2)
    modules_file = tmp_path / "modules.json"
    sims = SimulatorThread(site)
    log = (tmp_path / "gateway.log").open("wb")
    gateway = subprocess.Popen(
        [sys.executable, "-c", GATEWAY_WITH_MODULE_LIST, str(site), str(modules_file)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        subscriber.wait_event("device.online", count=2, timeout=30)
        sims.press("io-1", "btn-a")  # the drivers poll: the site really runs
        subscriber.wait_event("panic.pressed", device="io-1", point="btn-a")
    finally:
        gateway.send_signal(signal.SIGTERM)
        code = gateway.wait(30)
        log.close()
        sims.stop()
        print((tmp_path / "gateway.log").read_text(errors="replace")[-3000:])
    assert code == 0
    modules = json.loads(modules_file.read_text())
    assert "drivers.modbus.driver" in modules
    assert loaded_libraries(modules) == []
    assert "drivers.osdp.driver" not in modules and "drivers.onvif.driver" not in modules


def test_site_file_models_and_the_gateway_modules_import_no_driver_library() -> None:
    modules = imported_by("import gateway.cli, gateway.app, gateway.console, gateway.media\n"
                          "import drivers.onvif, drivers.osdp, drivers.http_gate, drivers.video")
    assert loaded_libraries(modules) == []
    assert not [m for m in modules if m.startswith("drivers.") and m.endswith(".driver")
                and m != "gateway.kernel.ports"]  # gateway.kernel.ports: the contract, not a driver


def test_the_console_and_metrics_load_only_for_a_site_that_turns_them_on() -> None:
    modules = imported_by("import gateway.cli, gateway.app")
    assert not {"fastapi", "uvicorn", "starlette", "prometheus_client"} & {
        name.split(".")[0] for name in modules}


def test_a_driver_brings_its_libraries_when_it_is_first_looked_up() -> None:
    modules = imported_by("from drivers import DRIVERS\nDRIVERS['onvif']\n"
                          "from drivers.osdp import OsdpBusDriver")
    assert {"cv2", "numpy", "onvif", "osdp"} <= set(loaded_libraries(modules))


def test_every_driver_key_of_the_site_file_names_a_driver_class() -> None:
    (union, _discriminator) = typing.get_args(DeviceConfig)
    keys = {typing.get_args(model.model_fields["driver"].annotation)[0]
            for model in typing.get_args(union)}
    assert set(DRIVERS) == keys
    for key in keys:
        factory = DRIVERS[key]
        assert isinstance(factory, type) and DRIVERS.path(key).endswith(f":{factory.__name__}")


def test_a_wrong_driver_path_names_what_is_missing() -> None:
    registry = DriverRegistry({"broken": "drivers.modbus.driver:NoSuchDriver",
                               "shapeless": "drivers.modbus.driver"})
    with pytest.raises(ImportError, match="NoSuchDriver"):
        registry["broken"]
    with pytest.raises(ValueError, match=r"expected 'package\.module:Name'"):
        registry["shapeless"]
    with pytest.raises(KeyError):
        registry["zigbee"]
    assert import_from("drivers.modbus.models:ModbusIoConfig").__name__ == "ModbusIoConfig"
