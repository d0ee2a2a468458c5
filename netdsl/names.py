"""Names in generated Python: reserved words, a unique-name allocator, class names and safe text."""

from __future__ import annotations

import builtins
import itertools
import keyword
import re

# Identifiers of generated code (locals, parameters, classes) never shadow these.
RESERVED_PY = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins)) | {
    "self", "torch", "nn", "F", "Tensor", "namedtuple", "Any", "super", "__class__"}

# Module-level names of generated code that are not the user's: the imports, the weight loader, and
# `x`, the input of every `forward` (a class or factory named `x` would make the body's variables
# avoid it while the signature keeps it). The helpers' own names (ops.HELPERS) join these in `lower`.
GENERATED = frozenset({"x", "OrderedDict", "namedtuple", "Any", "Tensor", "torch", "nn", "_load_weights"})

# Names that cannot be attributes of a generated nn.Module (stages, layers, defines): Python's words
# and nn.Module's own attributes.
RESERVED = frozenset(
    set(keyword.kwlist) | set(dir(builtins))
    | {"forward", "training", "to", "cuda", "cpu", "eval", "train", "parameters", "buffers", "modules",
       "children", "state_dict", "load_state_dict", "apply", "type", "float", "double", "half", "bfloat16",
       "zero_grad", "register_buffer", "register_parameter", "add_module", "named_modules",
       "named_parameters", "named_children", "named_buffers", "extra_repr", "requires_grad_", "share_memory",
       "dump_patches", "call_super_init", "self", "torch", "nn", "x", "out", "identity", "F"}
)


# CamelCase of well-known family names (cosmetic: resnet50 -> ResNet50).
_FAMILIES = {"resnet": "ResNet", "resnext": "ResNeXt", "vgg": "VGG", "googlenet": "GoogLeNet", "lenet": "LeNet",
             "alexnet": "AlexNet", "densenet": "DenseNet", "mobilenet": "MobileNet", "nasnet": "NASNet",
             "fractalnet": "FractalNet", "zfnet": "ZFNet", "nin": "NiN", "wrn": "WRN", "se": "SE",
             "shufflenet": "ShuffleNet", "squeezenet": "SqueezeNet", "efficientnet": "EfficientNet",
             "inception": "Inception", "convnext": "ConvNeXt", "regnet": "RegNet", "mnasnet": "MNASNet"}


def camel(name: str) -> str:
    out = ""
    for part in name.split("_"):
        if not part:
            continue
        m = re.match(r"[A-Za-z]+", part)
        word = m.group(0) if m else ""
        styled = _FAMILIES.get(word.lower(), word[:1].upper() + word[1:]) if word else ""
        piece = styled + part[len(word):]
        if out and out[-1].isdigit() and piece[:1].isdigit():
            out += "_"
        out += piece
    if not out or not out.isidentifier():
        out = "Net" + re.sub(r"\W", "_", out)
    return out


class Names:
    """Unique Python identifiers that never shadow keywords, builtins or the module's own names."""

    def __init__(self, reserved=RESERVED_PY, taken=()):
        self.reserved = reserved if isinstance(reserved, frozenset) else frozenset(reserved)  # read only
        self.taken = set(taken)
        self.next: dict[str, int] = {}  # next counter to try per stem (`numbered`)

    def claim(self, name: str) -> str:
        """Take a name as given (an explicit stage name)."""
        self.taken.add(name)
        return name

    def numbered(self, stem: str, numbered: bool, total: int) -> str:
        """Attribute names as torchvision's: the bare stem for a lone unnumbered layer (`fc`),
        else stem + counter (`conv1`, `conv2`)."""
        if not numbered and total == 1 and stem not in self.taken and stem not in self.reserved:
            return self.claim(stem)
        k = self.next.get(stem, 1)
        name = f"{stem}{k}"
        while name in self.taken or name in self.reserved:
            k += 1
            name = f"{stem}{k}"
        self.next[stem] = k + 1
        self.taken.add(name)
        return name

    def ok(self, name: str) -> bool:
        return name.isidentifier() and name not in self.reserved and name not in self.taken

    def take(self, stem: str, sep: str = "") -> str:
        stem = stem if stem.isidentifier() else (re.sub(r"\W", "_", stem) or "v")
        if stem[0].isdigit():
            stem = "v" + stem
        if self.ok(stem):
            self.taken.add(stem)
            return stem
        if sep == "" and stem[-1].isdigit():
            sep = "_"
        for k in itertools.count(2 if sep == "" and stem[0].isupper() else 1):
            cand = f"{stem}{sep}{k}"
            if self.ok(cand):
                self.taken.add(cand)
                return cand
        raise AssertionError("unreachable")


def attr(name: str) -> str:
    """How generated code reads a sub-module: `self.conv1`, or `getattr(self, "0")` for a module
    name that is no Python identifier (an index, a quoted name such as RegNet's `block1-0`)."""
    if name.isidentifier() and not keyword.iskeyword(name):
        return f"self.{name}"
    return f'getattr(self, "{name}")'


def safe_text(s: str) -> str:
    """Text from the input shown in docstrings and comments: plain characters only."""
    return re.sub(r"[^A-Za-z0-9_.+\-/ ]", "?", s)


def file_text(file: str) -> str:
    """A source file as generated comments name it: its base name, plain characters only."""
    base = file.replace("\\", "/").rsplit("/", 1)[-1]
    return safe_text(base)[:60] or "?"
