//! Hex text for BINARY messages: lowercase, no separators; whitespace is ignored on input.

pub fn encode(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn decode(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return Err("bad hex: odd number of digits".into());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).map_err(|_| "bad hex: not ASCII".to_string())?;
            u8::from_str_radix(s, 16).map_err(|_| format!("bad hex digits {s:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_round_trips() {
        assert_eq!(super::encode(&[0, 1, 0xab, 0xff]), "0001abff");
        assert_eq!(
            super::decode("00 01ab\nFF").unwrap(),
            vec![0, 1, 0xab, 0xff]
        );
        assert!(super::decode("abc").is_err());
        assert!(super::decode("zz").is_err());
    }
}
