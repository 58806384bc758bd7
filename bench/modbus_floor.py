"""What one Modbus read costs pymodbus's own client, with nothing of the gateway around it.

A pymodbus simulator serves 32 discrete inputs in a child process; this process reads them with
``AsyncModbusTcpClient.read_discrete_inputs`` back to back and prints the CPU and wall time per
read. It is the floor under the gateway's CPU per poll (``bench/panic_latency.py`` prints that):
the gateway cannot poll for less than its Modbus client spends on a read.

    .venv/bin/python bench/modbus_floor.py
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from benchlib import free_port, machine, wait_port

SERVER = """
import asyncio, sys
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
device = SimDevice(1, simdata=(
    [SimData(0, values=False, count=16, datatype=DataType.BITS)],
    [SimData(0, values=[False] * 32, datatype=DataType.BITS)],
    [SimData(0, values=0, count=1, datatype=DataType.REGISTERS)],
    [SimData(0, values=0, count=1, datatype=DataType.REGISTERS)]))
async def serve():
    await ModbusTcpServer([device], address=("127.0.0.1", int(sys.argv[1]))).serve_forever()
asyncio.run(serve())
"""


async def measure(port: int, reads: int) -> tuple[float, float]:
    from pymodbus.client import AsyncModbusTcpClient

    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
    await client.connect()
    for _ in range(200):  # warm up
        await client.read_discrete_inputs(0, count=32, device_id=1)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(reads):
        await client.read_discrete_inputs(0, count=32, device_id=1)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    client.close()
    return cpu / reads, wall / reads


def main() -> int:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    try:
        wait_port(port)
        cpu, wall = asyncio.run(measure(port, 5000))
    finally:
        server.terminate()
        server.wait(10)
    print(f"pymodbus client alone; {machine()}")
    print(f"  read_discrete_inputs(32) back to back: {cpu * 1e6:.0f} us CPU and "
          f"{wall * 1e6:.0f} us wall per read")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
