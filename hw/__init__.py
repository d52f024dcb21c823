"""Systolica gateware (Amaranth HDL) and the command line.

Importing this package does not import Amaranth: `hw.config` is plain Python so that golden/ and the cycle
model can share the one configuration object.
"""
