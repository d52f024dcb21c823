"""The command line's configuration options: one mapping from options to ``golden.config.AcceleratorConfig``.

Every command that builds or runs hardware (generate, synth, build, run, demo) calls :func:`add_config_arguments`
and :func:`config_from_args`, so each configuration field has one option, spelled and documented the same way
everywhere (``--dim``, ``--pe-pipeline``, ...), plus ``--config FILE`` for a JSON configuration. A command changes
only the defaults (a board build starts from a configuration that fits the board).
"""
import dataclasses
import pathlib
import re

from golden.config import PRESETS, AcceleratorConfig, preset

__all__ = ["add_config_arguments", "config_from_args", "field_help"]


def field_help():
    """``{field: first sentence of its description}`` from the ``Parameters`` section of the config's docstring
    (escaped for argparse)."""
    doc = AcceleratorConfig.__doc__
    found = {}
    for mo in re.finditer(r"^    (\w+) : \w+\n((?:        .*\n)+)", doc, re.M):
        text = " ".join(line.strip() for line in mo.group(2).splitlines())
        found[mo.group(1)] = text.split(". ")[0].rstrip(".").replace("``", "").replace("%", "%%")
    return found


def _option(name):
    return "--" + name.replace("_", "-")


def add_config_arguments(parser, **defaults):
    """Add ``--<field>`` for every configuration field, ``--preset NAME`` and ``--config FILE``.

    ``defaults`` override the config's defaults for this command. A preset or a file replaces the defaults;
    the ``--<field>`` options given on the command line apply over any of them."""
    base = AcceleratorConfig()
    unknown = sorted(set(defaults) - {f.name for f in dataclasses.fields(AcceleratorConfig)})
    if unknown:
        raise ValueError(f"unknown configuration field(s) {unknown}")
    helps = field_help()
    group = parser.add_argument_group("configuration (golden.config.AcceleratorConfig)")
    for f in dataclasses.fields(AcceleratorConfig):
        default = defaults.get(f.name, getattr(base, f.name))
        group.add_argument(_option(f.name), type=type(default), default=None, metavar=type(default).__name__.upper(),
                           help=f"{helps.get(f.name, f.name)} (default: {default})")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=sorted(PRESETS),
                        help="a named configuration (golden.config.PRESETS); the options above apply over it")
    source.add_argument("--config", metavar="FILE",
                        help="JSON configuration file; the options above apply over it")
    parser.set_defaults(config_defaults=defaults)


def config_from_args(args):
    """The configuration the options of :func:`add_config_arguments` describe (``ValueError`` names a bad value)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(AcceleratorConfig)
             if getattr(args, f.name) is not None}
    if args.config:
        try:
            text = pathlib.Path(args.config).read_text()
        except OSError as e:
            raise ValueError(f"cannot read --config {args.config!r}: {e.strerror}") from None
        return AcceleratorConfig.from_json(text).replace(**given)
    if args.preset:
        return preset(args.preset, **given)
    return AcceleratorConfig(**{**args.config_defaults, **given})
