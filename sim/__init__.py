"""cocotb testbenches, the Verilator runner and memory models."""
