"""Systolica gateware (Amaranth HDL): PE, meshes, memories, execute units, nonlinear units, DMA, AXI, CSRs,
controller and the accelerator top.

Gateware only. Its parameters come from ``golden.config.AcceleratorConfig``, its instruction and lane-op
encodings from ``golden.isa`` and ``golden.nlops``; Verilog is written by ``sim.verilog`` and the flows live
in ``systolica``.
"""
