"""Energy and memory meters behind one interface (see session.py for the trainer's contract)."""

from pepr_desktop.core.metering.session import EnergyWindow, MeterSession, UnavailableMeter

__all__ = ["EnergyWindow", "MeterSession", "UnavailableMeter"]
