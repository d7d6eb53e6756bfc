//! Slot and port hashing (docs/protocol.md §4.4, §5.2–5.4): exact for names of any length.
//!
//! Both hashes share the recurrence `val = val + (val >> 3) + c * FAC` over code points,
//! which grows without bound (about 0.17 bit per character). The floor shift does not commute
//! with the final modulus, so `val` must be exact: it is kept in a `u128` while that cannot
//! overflow (names up to ~430 code points) and moved to a small bignum beyond.

/// The hash multiplier.
const FAC: u128 = 0xD2D8_4A61;
/// `slot_hash` reduces modulo `2^64 - SLOT_OFFSET` and adds `SLOT_OFFSET` (slots 0..8 are reserved).
const SLOT_OFFSET: u64 = 8;
const SLOT_MODULUS: u64 = u64::MAX - SLOT_OFFSET + 1; // 2^64 - 8
/// Port range: 49152 + (val mod 2^14).
const PORT_BASE: u16 = 49152;
const PORT_MASK: u64 = (1 << 14) - 1;

/// Python's `str.isspace()`: the set `str.strip()` removes (docs/protocol.md §5.2). Unlike
/// `char::is_whitespace`, it includes U+001C..U+001F and excludes U+200B-style oddities.
pub fn is_py_space(c: char) -> bool {
    matches!(
        c,
        '\u{9}'..='\u{d}'
            | '\u{1c}'..='\u{20}'
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// Python's `name.strip().lower()` (strip with Python's `str.isspace`, full Unicode lower-casing).
pub fn normalize_slot_name(name: &str) -> String {
    // Strip first, then lower-case: the final-sigma rule must see the stripped text.
    name.trim_matches(is_py_space).to_lowercase()
}

/// Hash of an already-normalised full slot name; always >= 8.
pub fn slot_hash(normalized: &str) -> u64 {
    match hash_value(normalized) {
        Val::Small(v) => SLOT_OFFSET + (v % SLOT_MODULUS as u128) as u64,
        Val::Big(limbs) => SLOT_OFFSET + big_mod_u64(&limbs, SLOT_MODULUS),
    }
}

/// `slot_hash(normalize_slot_name(full_name))`.
pub fn slot_of(full_name: &str) -> u64 {
    slot_hash(&normalize_slot_name(full_name))
}

/// Port for a port *name* (case-sensitive, not normalised); always in 49152..=65535.
pub fn port_hash(name: &str) -> u16 {
    // 2^14 divides 2^64, so only the lowest limb matters.
    let low = match hash_value(name) {
        Val::Small(v) => v as u64,
        Val::Big(limbs) => limbs[0],
    };
    PORT_BASE + (low & PORT_MASK) as u16
}

/// The exact, unreduced value of the recurrence.
enum Val {
    Small(u128),
    /// Little-endian 64-bit limbs, never empty.
    Big(Vec<u64>),
}

/// Run the recurrence over the code points of `name`, then the final length step.
fn hash_value(name: &str) -> Val {
    let mut count: u128 = 0;
    let mut val = Val::Small(0);
    for c in name.chars() {
        count += 1;
        step(&mut val, c as u128 * FAC);
    }
    // count <= 2^64 and FAC < 2^32, so the product fits easily in u128.
    step(&mut val, count * FAC);
    val
}

/// `val = val + (val >> 3) + add`, switching to the bignum on u128 overflow.
fn step(val: &mut Val, add: u128) {
    match val {
        Val::Small(v) => {
            if let Some(next) = v.checked_add(*v >> 3).and_then(|x| x.checked_add(add)) {
                *v = next;
            } else {
                let mut limbs = vec![*v as u64, (*v >> 64) as u64];
                big_step(&mut limbs, add);
                *val = Val::Big(limbs);
            }
        }
        Val::Big(limbs) => big_step(limbs, add),
    }
}

/// In-place `v = v + (v >> 3) + add` on little-endian limbs; `add` must be below 2^126
/// so the running carry cannot overflow (callers pass at most ~2^97).
fn big_step(v: &mut Vec<u64>, add: u128) {
    debug_assert!(add < 1 << 126);
    let n = v.len();
    let mut carry = add;
    for i in 0..n {
        // Limb i of (v >> 3) takes bits from limb i+1, which is not yet overwritten.
        let high = if i + 1 < n { v[i + 1] } else { 0 };
        let shifted = (v[i] >> 3) | (high << 61);
        let sum = v[i] as u128 + shifted as u128 + carry;
        v[i] = sum as u64;
        carry = sum >> 64;
    }
    while carry != 0 {
        v.push(carry as u64);
        carry >>= 64;
    }
}

/// `v mod m` for a little-endian bignum, by schoolbook division from the top limb.
fn big_mod_u64(v: &[u64], m: u64) -> u64 {
    let m = m as u128;
    let mut rem: u128 = 0;
    for &limb in v.iter().rev() {
        rem = ((rem << 64) | limb as u128) % m;
    }
    rem as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: the recurrence with the bignum from the start (no u128 fast path).
    fn slow_val(name: &str) -> Vec<u64> {
        let mut v = vec![0u64];
        let mut n = 0u128;
        for c in name.chars() {
            n += 1;
            big_step(&mut v, c as u128 * FAC);
        }
        big_step(&mut v, n * FAC);
        v
    }

    #[test]
    fn port_hash_table() {
        let table: &[(&str, u16)] = &[
            ("", 49152),
            ("a", 65274),
            ("test", 56337),
            ("Test", 51089),
            ("TEST", 53425),
            ("test1", 49382),
            ("chat", 49264),
            ("yoton", 58084),
            ("whop", 62578),
            ("split1", 59910),
            ("PYZO", 50369),
            ("pyzo", 53281),
            ("pyzoserver", 63859),
            ("ü", 59596),
            ("a:b", 59354),
        ];
        for &(name, port) in table {
            assert_eq!(port_hash(name), port, "port_hash({name:?})");
        }
        assert_eq!(port_hash(&"x".repeat(300)), 63557);
    }

    #[test]
    fn slot_hash_table() {
        let table: &[(&str, u64)] = &[
            ("", 8),
            ("a", 389555093250),
            ("A", 262209046878),
            ("test", 2156616211481),
            ("text.txt.pub-sub", 18217440170564),
            ("text.txt.sub-pub", 18226533412856),
            ("chat.txt.pub-sub", 17460451874447),
            ("chat.txt.sub-pub", 17469545116738),
            ("duplicate.obj.req-rep", 35202545273768),
            ("duplicate.obj.rep-req", 35200150345757),
            ("state a.txt.state", 20155170271031),
            ("numbers.num.pub-sub", 27449970841763),
            ("data.bin.pub-sub", 16911501297756),
            ("strm-out.txt.pub-sub", 31081566444306),
            ("ctrl-code.obj.pub-sub", 33637028178293),
            ("stat-startup.obj.state", 40567577846366),
            ("reqp-introspect.obj.req-rep", 75312300316713),
            ("reqp-introspect.obj.rep-req", 75309905388701),
            ("my service .obj.req-rep", 42712336957292),
            ("i\u{307}.txt.state", 18452125638480),
            ("héllo.txt.pub-sub", 23512580348084),
            ("日本.txt.pub-sub", 921260954008639),
            ("😀.obj.state", 1667325908635469),
        ];
        for &(name, slot) in table {
            assert_eq!(slot_hash(name), slot, "slot_hash({name:?})");
        }
        assert_eq!(slot_hash("i\u{307}.txt.state"), 0x0000_10c8_3864_df50);
        assert_eq!("i\u{307}.txt.state".chars().count(), 12);
        assert_eq!("😀.obj.state".chars().count(), 11);
    }

    #[test]
    fn slot_hash_long_names() {
        let x = |n| "x".repeat(n);
        assert_eq!(slot_hash(&x(100)), 498145192547379914);
        assert_eq!(slot_hash(&x(100)), 0x06e9_c469_d05a_eaca);
        assert_eq!(slot_hash(&x(200)), 3808215054343709666);
        assert_eq!(slot_hash(&x(300)), 16210734540559853341);
        assert_eq!(slot_hash(&x(300)), 0xe0f8_192d_2e39_a71d);
        // val ≈ 2^212: needs the bignum path.
        assert!(matches!(hash_value(&"a".repeat(1000)), Val::Big(_)));
        assert_eq!(slot_hash(&"a".repeat(1000)), 8480803826094977163);
        assert_eq!(slot_hash(&"a".repeat(1000)), 0x75b1_de25_882a_308b);
    }

    #[test]
    fn fast_path_matches_bignum_across_the_switch() {
        // docs/protocol.md §5.4: 'a' needs > 128 bits from length 510, U+10FFFF from 430.
        for (c, lengths) in [
            ('a', 500..520),
            ('\u{10FFFF}', 420..440),
            ('\u{ff}', 495..505),
        ] {
            for n in lengths {
                let name: String = std::iter::repeat(c).take(n).collect();
                let exact = slow_val(&name);
                let expected_slot = SLOT_OFFSET + big_mod_u64(&exact, SLOT_MODULUS);
                assert_eq!(slot_hash(&name), expected_slot, "{c:?} x {n}");
                assert_eq!(
                    port_hash(&name) as u64,
                    49152 + (exact[0] & PORT_MASK),
                    "{c:?} x {n}"
                );
            }
        }
    }

    #[test]
    fn precision_bounds_of_section_5_4() {
        // First length at which val exceeds 2^128 (docs/protocol.md §5.4 table).
        for (c, first) in [('a', 510), ('z', 508), ('\u{ff}', 501), ('\u{10FFFF}', 430)] {
            let below: String = std::iter::repeat(c).take(first - 1).collect();
            let at: String = std::iter::repeat(c).take(first).collect();
            assert!(
                matches!(hash_value(&below), Val::Small(_)),
                "{c:?} x {}",
                first - 1
            );
            assert!(matches!(hash_value(&at), Val::Big(_)), "{c:?} x {first}");
        }
    }

    #[test]
    fn slot_hash_is_at_least_8() {
        for name in ["", "a", "zzzz", &"q".repeat(777)] {
            assert!(slot_hash(name) >= 8);
        }
    }

    #[test]
    fn normalisation_examples() {
        assert_eq!(
            normalize_slot_name(" My Service .obj.req-rep"),
            "my service .obj.req-rep"
        );
        assert_eq!(slot_of(" My Service .obj.req-rep"), 42712336957292);
        assert_eq!(normalize_slot_name("CHAT.txt.pub-sub"), "chat.txt.pub-sub");
        assert_eq!(
            normalize_slot_name("\x1cchat.txt.pub-sub"),
            "chat.txt.pub-sub"
        );
        assert_eq!(slot_of("CHAT.txt.pub-sub"), 17460451874447);
        assert_eq!(slot_of("\x1cchat.txt.pub-sub"), 17460451874447);
        // "İ" lower-cases to two code points.
        assert_eq!(normalize_slot_name("İ.txt.state"), "i\u{307}.txt.state");
        assert_eq!(slot_of("İ.txt.state"), 18452125638480);
        assert_eq!(slot_of("A"), slot_hash("a"));
    }

    #[test]
    fn normalisation_uses_python_whitespace() {
        for c in [
            '\t', '\n', '\u{b}', '\u{c}', '\r', '\u{1c}', '\u{1d}', '\u{1e}', '\u{1f}', ' ',
            '\u{85}', '\u{a0}', '\u{1680}', '\u{2000}', '\u{200a}', '\u{2028}', '\u{2029}',
            '\u{202f}', '\u{205f}', '\u{3000}',
        ] {
            assert!(is_py_space(c), "{c:?}");
            assert_eq!(
                normalize_slot_name(&format!("{c}{c}X{c}Y{c}")),
                format!("x{c}y"),
                "{c:?}"
            );
        }
        // Not whitespace for Python: zero-width space, BOM, U+180E, NUL.
        for c in ['\u{200b}', '\u{feff}', '\u{180e}', '\0', 'a'] {
            assert!(!is_py_space(c), "{c:?}");
        }
        assert_eq!(normalize_slot_name("\u{200b}A"), "\u{200b}a");
    }

    #[test]
    fn normalisation_final_sigma() {
        // Python: "ΟΔΟΣ".lower() == "οδος" (final sigma), "ΣΑ".lower() == "σα".
        assert_eq!(normalize_slot_name("ΟΔΟΣ"), "οδος");
        assert_eq!(normalize_slot_name("ΣΑ"), "σα");
        // Strip happens before lower-casing, so the sigma is word-final after stripping.
        assert_eq!(normalize_slot_name("ΟΔΟΣ  "), "οδος");
    }

    #[test]
    fn port_names_are_not_normalised() {
        assert_ne!(port_hash("test"), port_hash(" test"));
        assert_ne!(port_hash("test"), port_hash("Test"));
    }
}
