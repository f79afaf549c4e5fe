"""Charm Studio's exporter for the Charm SDK: agent runs sent to Charm Studio.

Enable it in charm.yaml (`runtime: telemetry: [studio]`) and set `CHARM_STUDIO_URL`.
"""

from charm_studio._version import __version__
from charm_studio.exporter import StudioExporter
from charm_studio.sender import flush

__all__ = ["StudioExporter", "__version__", "flush"]
