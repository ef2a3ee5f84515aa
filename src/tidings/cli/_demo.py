"""``tidings demo``: preview the examples of ``templates/``, or run the whole demo job."""

from __future__ import annotations

import argparse
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TextIO

from ..preview import PageLink, render_index_html
from ._command import EXIT_ERROR, EXIT_OK, Command, UsageError, read_object, write_text
from ._preview import (
    CHANNELS,
    format_errors,
    load_source,
    preview_source,
    print_text,
    write_preview_html,
)

__all__ = ["DEMO"]

DEFAULT_TEMPLATES_DIR: Final = Path("templates")
DEFAULT_DEMO_OUT: Final = Path("out") / "demo"
DEFAULT_PREVIEW_OUT: Final = Path("out") / "preview"
DEFAULT_DEMO_DEFINITIONS: Final = Path("demo") / "demo.json"


@dataclass(frozen=True, slots=True)
class _Example:
    """One example of ``templates/``: a definition and its sample data files."""

    name: str
    definition: Path
    profile: Path | None
    trigger: Path | None


def _find_examples(directory: Path) -> list[_Example]:
    """Pair each ``NAME.CHANNEL.json`` with ``NAME.profile.json`` and ``NAME.trigger.json``.

    Missing sample files are ``None`` (previewed with empty data).
    """
    examples: list[_Example] = []
    for channel in CHANNELS:
        for path in directory.glob(f"*.{channel}.json"):
            name = path.name.removesuffix(f".{channel}.json")
            profile = directory / f"{name}.profile.json"
            trigger = directory / f"{name}.trigger.json"
            examples.append(
                _Example(
                    name=f"{name}.{channel}",
                    definition=path,
                    profile=profile if profile.is_file() else None,
                    trigger=trigger if trigger.is_file() else None,
                )
            )
    return sorted(examples, key=lambda e: e.name)


def _add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--templates",
        type=Path,
        default=DEFAULT_TEMPLATES_DIR,
        metavar="DIR",
        help="the examples directory (default: templates/ in the current directory)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="where to write (default: out/demo/, or out/preview/ with --preview-only)",
    )
    parser.add_argument(
        "--preview-only",
        action="store_true",
        help="only preview the examples in templates/ (no workspace, no dispatch)",
    )
    parser.add_argument(
        "--users", type=int, default=100_000, help="how many users to generate (default: 100000)"
    )
    parser.add_argument("--seed", type=int, default=7, help="the random seed (default: 7)")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="rebuild the workspace even if one with the same seed and size exists",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes generating the data (default: CPUs, at most 2)",
    )


def _preview_examples(directory: Path, out_dir: Path, out: TextIO) -> tuple[int, int, Path]:
    """Preview every example of ``directory`` into ``out_dir``; (examples, failed, index)."""
    examples = _find_examples(directory)
    if not examples:
        raise UsageError(f"no examples (NAME.push|email|webhook.json) in {directory}")
    pages: list[PageLink] = []
    failed = 0
    for example in examples:
        source = load_source(example.definition)
        profile = read_object(example.profile, "profile")
        trigger = read_object(example.trigger, "trigger")
        preview = preview_source(source, profile, trigger, "text")
        label = str(example.definition)
        print_text(preview, label, out)
        if not preview.ok:
            failed += 1
            out.write(format_errors(preview, label) + "\n")
        page = out_dir / f"{example.name}.html"
        write_preview_html(preview, page, label)
        out.write(f"preview page: {page}\n\n")
        pages.append(PageLink(example.name, page.name, preview))
    index_page = out_dir / "index.html"
    write_text(index_page, render_index_html(pages, title="tidings demo: example previews"))
    return len(examples), failed, index_page


def _run_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    directory: Path = args.templates
    if not directory.is_dir():
        raise UsageError(
            f"examples directory not found: {directory} (run from the repository root, "
            "or pass --templates DIR)"
        )
    if args.preview_only:
        return _run_preview_demo(directory, args.out or DEFAULT_PREVIEW_OUT, out, err)
    return _run_full_demo(args, directory, args.out or DEFAULT_DEMO_OUT, out, err)


def _run_preview_demo(directory: Path, out_dir: Path, out: TextIO, err: TextIO) -> int:
    count, failed, index_page = _preview_examples(directory, out_dir, out)
    out.write(
        f"{count - failed} of {count} examples rendered; "
        f"open {index_page} to see the HTML previews ({out_dir}/)\n"
    )
    if failed:
        err.write(f"error: {failed} example(s) did not render\n")
        return EXIT_ERROR
    return EXIT_OK


def _run_full_demo(
    args: argparse.Namespace, directory: Path, out_dir: Path, out: TextIO, err: TextIO
) -> int:
    from ..demo_data import DemoConfig, run_demo
    from ..errors import TidingsError

    if args.users < 1:
        raise UsageError(f"--users must be 1 or more, not {args.users}")
    definitions = directory / DEFAULT_DEMO_DEFINITIONS
    if not definitions.is_file():
        raise UsageError(f"demo definitions not found: {definitions}")
    failed_previews = 0

    def previews(target: Path) -> Path:
        nonlocal failed_previews
        _, failed_previews, index_page = _preview_examples(directory, target, io.StringIO())
        return index_page

    def progress(line: str) -> None:
        err.write(line + "\n")
        err.flush()

    try:
        result = run_demo(
            out_dir,
            definitions,
            DemoConfig(users=args.users, seed=args.seed),
            fresh=args.fresh,
            progress=progress,
            previews=previews,
            workers=args.workers,
        )
    except TidingsError as exc:  # the demo's own data or templates failed: not the user's input
        err.write(f"tidings demo: {exc}\n")
        return EXIT_ERROR
    out.write(result.summary() + "\n")
    if failed_previews:
        err.write(f"error: {failed_previews} example(s) did not render\n")
        return EXIT_ERROR
    return EXIT_OK


DEMO = Command(
    name="demo",
    help="build a demo workspace, dispatch, and write deliveries and the HTML report",
    add_arguments=_add_demo_arguments,
    run=_run_demo,
)
