"""`systolica` command line: one subcommand per module, imported only when used."""
import argparse
import importlib
import sys

__all__ = ["main"]

# name -> (module, help). Each module provides `add_arguments(parser)` and `run(args) -> int`.
COMMANDS = {
    "golden":   ("systolica.embeddings", "integer vs float all-MiniLM-L6-v2 sentence embeddings"),
    "generate": ("systolica.generate", "write the accelerator's Verilog and JSON manifest"),
    "synth":    ("systolica.synth", "Yosys area per unit (generic / ECP5 / iCE40), DIM sweep with a plot"),
    "build":    ("systolica.fpga", "ECP5 bitstream (ULX3S) with nextpnr: Fmax and utilization"),
    "bench":    ("systolica.bench", "run the benchmarks, write JSON + Markdown under build/"),
    "run":      ("systolica.run", "encoder layers (MiniLM, bert-base-random, a checkpoint) on the RTL, checked"),
    "paper":    ("systolica.paper", "the seed paper's claims beside ours: JSON, Markdown, PNG"),
    "rebert":   ("systolica.rebert", "ReBERT's window search on MiniLM: accuracy, cycles, the RTL check"),
    "explore":  ("systolica.explore", "hardware x model co-design: Pareto fronts of latency, area, energy, accuracy"),
    "demo":     ("systolica.demo", "the main job on a built-in default"),
}


class _Parser(argparse.ArgumentParser):
    """Bad arguments are reported in one line naming the bad value, as bad input everywhere is (``-h`` shows
    the usage)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(command=None):
    """The parser; only ``command``'s module is imported (the others may need heavy or optional packages)."""
    parser = _Parser(prog="systolica", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(_module=module)
        if name == command:
            importlib.import_module(module).add_arguments(sp)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    try:
        return importlib.import_module(args._module).run(args) or 0
    except ValueError as e:
        # Bad input is reported in one line, naming the bad value; tracebacks are for bugs.
        print(f"systolica {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
