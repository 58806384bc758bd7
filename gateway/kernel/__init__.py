"""The kernel: what drivers and simulators may import from the gateway, and nothing more.

Everything here is a leaf (it imports no other part of the gateway) and light (no driver
library, no web stack): the event model and its catalogue (``events``), the field types of the
site file (``fields``), bounded parsing of what comes from outside (``boundary``), logging that
a peer cannot forge (``logs``), rate limits (``limits``), YAML documents (``documents``), the
access request and decision (``access``), and the ports a driver is given and offers
(``ports``: ``DeviceSink``, ``Driver``, ``ActionError``, ``DeviceUnavailable``). The dependency
runs one way: the daemon imports drivers through ``drivers.registry``; drivers import only this.
import-linter keeps the boundary (``pyproject.toml``, ``make lint``).
"""
