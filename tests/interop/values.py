"""OBJECT values used by the interop tests."""

INF = float("inf")

# What the C peer's `send_sample` builds with the yoton_value_* constructors
# (keep in sync with build_sample() in peer.c).
SAMPLE = {
    "ints": [0, 1, -1, 255, 2**63 - 1, -(2**63), 2**63 - 2, -(2**63) + 1, 4294967296],
    "floats": (1.5, -0.0, INF, -INF, 0.1, 1e300, 5e-324, -2.5e-05, 1e16, 123456789.125),
    "text": "héllo wörld ✓ 日本語 😀 \"dq\" 'sq' back\\slash tab\t nl\n cr\r nul-free",
    "nested": [(), [], {}, ((True, False), None), {"k": [None, ("deep", [1, (2, [3])])]}],
    "bools": (True, False),
    "none": None,
    "empty": "",
    7: "int key",
    -3: (1,),
    (1, "a"): [[]],
    None: "none key",
    2.5: "float key",
    "long": "x" * 300,
    "many": list(range(300)),
}

# Values the Python side sends to our subscriber (each compared by bytes and by repr).
PY_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    -(2**63),
    2**63 - 2,
    -(2**63) + 1,
    1.5,
    -0.0,
    INF,
    -INF,
    0.1,
    1e-7,
    1e22,
    "",
    "a",
    "héllo wörld ✓ 日本語 😀",
    "x" * 255,
    [],
    (),
    {},
    (1,),
    [1, (2, [3, (4,)])],
    {"b": [1, 2.5, None], "a": (True, "z")},
    {1: None, (1, 2): [True], "k": {"nested": {}}, None: -0.0, 2.5: "f"},
    list(range(255)),
    ("add", (3, 4), {}),
    SAMPLE,
]

# Strings whose repr needs Python's escaping rules (quotes, backslash, control and
# non-printable characters). Compared against yoton_value_repr.
REPR_EDGE_STRINGS = [
    "it's",
    'say "hi"',
    "both ' and \"",
    "back\\slash",
    "\t\n\r",
    "\x00\x01\x1f\x7f",
    "\x80\x9f\xa0\xad",
    "é\u00ff\u0100",
    "\u2028\u2029\u200b\ufeff",
    "\ud7ff\ue000\uffff",
    "😀\U0001f600\U000e0001\U0010ffff",
    "\u0378",  # unassigned
    "日本語",
]
