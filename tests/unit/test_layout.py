"""One mechanism, one home: image and mask files are decoded only by :mod:`olkit.data.io`.

``olkit.data.io.load_image`` (and ``decode_image`` for bytes held in memory) handles EXIF orientation, alpha, 16-bit
depth, palette masks and truncated files and names the file in its errors; a raw ``cv2.imread`` elsewhere silently
skips all of that. The source is parsed with :mod:`ast`, so a comment or a docstring that mentions ``cv2.imread``
does not count, and an aliased import (``from cv2 import imread as read``) does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE_READER = ROOT / "olkit" / "data" / "io.py"
SOURCES = sorted([*(ROOT / "olkit").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")])
DECODERS = {("cv2", "imread"), ("cv2", "imreadmulti"), ("cv2", "imdecode"), ("PIL.Image", "open")}
"""``(module, function)`` pairs that decode an image file or buffer."""


def decoder_calls(source: str) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every call of a :data:`DECODERS` function in ``source``, through any alias."""
    tree = ast.parse(source)
    modules: dict[str, str] = {}  # local name -> module (import cv2 as cv; from PIL import Image)
    functions: dict[str, str] = {}  # local name -> "module.function" (from cv2 import imread)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                local = alias.asname or alias.name
                if (node.module, alias.name) in DECODERS:
                    functions[local] = f"{node.module}.{alias.name}"
                modules[local] = f"{node.module}.{alias.name}"
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in functions:
            found.append((node.lineno, functions[func.id]))
        elif isinstance(func, ast.Attribute):
            owner = func.value
            dotted = None
            if isinstance(owner, ast.Name):
                dotted = modules.get(owner.id, owner.id)
            elif isinstance(owner, ast.Attribute) and isinstance(owner.value, ast.Name):  # PIL.Image.open
                dotted = f"{modules.get(owner.value.id, owner.value.id)}.{owner.attr}"
            if dotted is not None and (dotted, func.attr) in DECODERS:
                found.append((node.lineno, f"{dotted}.{func.attr}"))
    return sorted(found)


def test_the_checker_sees_aliases_and_ignores_comments() -> None:
    source = '''
"""cv2.imread in a docstring is no call."""
import cv2
import cv2 as cv
from cv2 import imdecode as dec
from PIL import Image
import PIL.Image
# cv2.imread("commented.png")
a = cv2.imread("a.png")
b = cv.imread("b.png", cv.IMREAD_UNCHANGED)
c = dec(buf, 1)
d = Image.open("d.png")
e = PIL.Image.open("e.png")
f = cv2.imwrite("f.png", a)
'''
    assert [name for _, name in decoder_calls(source)] == [
        "cv2.imread",
        "cv2.imread",
        "cv2.imdecode",
        "PIL.Image.open",
        "PIL.Image.open",
    ]


def test_the_sources_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in SOURCES}
    assert {
        "olkit/data/io.py",
        "olkit/prune/masks.py",
        "olkit/online/grid.py",
        "benchmarks/prune.py",
    } <= names
    assert decoder_calls(IMAGE_READER.read_text(encoding="utf-8")), "the image reader itself decodes"


@pytest.mark.parametrize(
    "path", [p for p in SOURCES if p != IMAGE_READER], ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_module_but_the_image_reader_decodes_images(path: Path) -> None:
    calls = decoder_calls(path.read_text(encoding="utf-8"))
    assert not calls, (
        f"{path.relative_to(ROOT)} decodes images itself at "
        + ", ".join(f"line {line} ({name})" for line, name in calls)
        + "; read them with olkit.data.io.load_image (mode='mask' for masks) or decode_image for bytes"
    )
