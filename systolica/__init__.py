"""The `systolica` command line and its flows: generate, synth, FPGA build, run, bench, demo.

The top floor: it imports golden/ (the specification and the shared contracts), hw/ (the gateware), compiler/
and sim/, and nothing imports it.
"""
