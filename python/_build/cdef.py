"""Turn include/yoton.h into declarations cffi's cdef() accepts (run at build time).

cffi parses plain C declarations only: comments, #include/#ifndef guards, the extern "C"
block of C++ and the uses of function-like macros (attributes such as YOTON_DEPRECATED(...))
must go. Integer #defines are kept (cffi reads them as constants); others are dropped.
The header is the single source of truth: nothing here is retyped.
"""

import re
import sys


def _strip_macro_uses(text, name):
    """Remove every `name(...)` (balanced parentheses, string literals skipped)."""
    out, i = [], 0
    pattern = re.compile(r"\b%s\s*\(" % re.escape(name))
    while True:
        m = pattern.search(text, i)
        if not m:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i : m.start()])
        j, depth = m.end(), 1
        while depth:
            c = text[j]
            if c == '"':
                j = text.index('"', j + 1)
                while text[j - 1] == "\\":
                    j = text.index('"', j + 1)
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
            j += 1
        i = j


def header_to_cdef(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)  # block comments
    text = re.sub(r"//[^\n]*", "", text)  # line comments
    for name in set(re.findall(r"^\s*#\s*define\s+(\w+)\(", text, flags=re.M)):
        text = _strip_macro_uses(text, name)
    out = []
    skip = 0  # depth inside `#ifdef __cplusplus` blocks
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            directive = stripped[1:].strip()
            if directive.startswith("ifdef __cplusplus"):
                skip += 1
            elif directive.startswith("endif") and skip:
                skip -= 1
            elif re.match(r"define\s+\w+\s+-?\d+\s*$", directive) and not skip:
                out.append("#" + directive)
            continue
        if not skip and stripped:
            out.append(line)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        sys.stdout.write(header_to_cdef(f.read()))
