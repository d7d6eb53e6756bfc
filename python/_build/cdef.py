"""Turn include/yoton.h into declarations cffi's cdef() accepts (run at build time).

cffi parses plain C declarations only: comments, #include/#ifndef guards and the
extern "C" block of C++ must go. Integer #defines are kept (cffi reads them as constants).
The header is the single source of truth: nothing here is retyped.
"""

import re
import sys


def header_to_cdef(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)  # block comments
    text = re.sub(r"//[^\n]*", "", text)  # line comments
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
