//! The recognisable form of a token password, after GitHub's: `sesame_`, 36 random base62
//! characters, then a 6-character checksum (CRC32 of those 36 characters' ASCII bytes, in
//! base62 with the alphabet `0-9A-Za-z`, left-padded with `0`). A scanner tells a real
//! password from a look-alike without asking the server; the server answers a leak report
//! of a look-alike without a database lookup.

pub const PREFIX: &str = "sesame_";
/// The random part's length: 36 base62 characters carry 214 bits.
pub const RANDOM_CHARS: usize = 36;
const CHECKSUM_CHARS: usize = 6;
/// The whole password: 49 characters.
pub const LEN: usize = PREFIX.len() + RANDOM_CHARS + CHECKSUM_CHARS;

/// The checksum's alphabet (GitHub's order, digits first).
const CHECKSUM_ALPHABET: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The checksum of a random part, as it is written after it.
pub fn checksum(random: &str) -> String {
    let mut value = crc32fast::hash(random.as_bytes());
    let mut digits = [b'0'; CHECKSUM_CHARS];
    for digit in digits.iter_mut().rev() {
        *digit = CHECKSUM_ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    // 62^6 > 2^32: six digits always hold the whole value.
    debug_assert_eq!(value, 0);
    digits.iter().map(|&b| char::from(b)).collect()
}

/// The password made of a random part: prefix, part, checksum.
pub fn assemble(random: &str) -> String {
    debug_assert_eq!(random.len(), RANDOM_CHARS);
    format!("{PREFIX}{random}{}", checksum(random))
}

/// Whether `text` has the form of a password and its checksum is right.
pub fn is_valid(text: &str) -> bool {
    let Some(rest) = text.strip_prefix(PREFIX) else {
        return false;
    };
    rest.len() == RANDOM_CHARS + CHECKSUM_CHARS
        && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        && checksum(&rest[..RANDOM_CHARS]) == rest[RANDOM_CHARS..]
}

/// Whether `text` starts like a password of this form (whatever follows): such a report
/// with a wrong checksum is a look-alike, with no need to ask the database.
pub fn has_prefix(text: &str) -> bool {
    text.starts_with(PREFIX)
}

/// The valid passwords in a line of text, as byte ranges. A candidate must stand alone:
/// no base62 character or `_` right before its prefix or right after its checksum (it is
/// then part of some longer word, not a password).
pub fn find_in(line: &str) -> Vec<std::ops::Range<usize>> {
    let bytes = line.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = line[from..].find(PREFIX) {
        let start = from + offset;
        let end = start + LEN;
        let alone_before = start == 0 || !word(bytes[start - 1]);
        let alone_after = bytes.get(end).is_none_or(|b| !word(*b));
        // `get`: the end may fall inside a multi-byte character.
        let candidate = line.get(start..end);
        if alone_before && alone_after && candidate.is_some_and(is_valid) {
            found.push(start..end);
            from = end;
        } else {
            from = start + PREFIX.len();
        }
    }
    found
}

/// A password as it may be shown: the prefix and four characters, the rest starred.
pub fn masked(password: &str) -> String {
    let shown = PREFIX.len() + 4;
    let head: String = password.chars().take(shown).collect();
    let hidden = password.chars().count().saturating_sub(shown);
    format!("{head}{}", "*".repeat(hidden))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Worked by hand from CRC32's definition (the check value of "123456789" is
    /// 0xCBF43926 = 3,421,780,262), which in base62 is the digits 3 45 35 27 22 14.
    #[test]
    fn the_checksum_is_crc32_in_base62_left_padded() {
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(checksum("123456789"), "3jZRME");
        // CRC32 of nothing is 0: all padding.
        assert_eq!(checksum(""), "000000");
    }

    #[test]
    fn a_look_alike_is_not_valid() {
        let random = "a".repeat(RANDOM_CHARS);
        let real = assemble(&random);
        assert!(is_valid(&real));
        assert_eq!(real.len(), LEN);
        let mut wrong = real.clone().into_bytes();
        let last = wrong.len() - 1;
        wrong[last] = if wrong[last] == b'0' { b'1' } else { b'0' };
        assert!(!is_valid(std::str::from_utf8(&wrong).unwrap()));
        assert!(!is_valid(&real[1..]));
        assert!(!is_valid(&format!("{real}x")));
        assert!(!is_valid(&real.replace("sesame_", "sesam3_")));
        // Non-ASCII where a checksum character belongs is refused, not a slicing panic.
        assert!(!is_valid(&format!("{PREFIX}{random}12345é")));
    }

    #[test]
    fn passwords_are_found_only_standing_alone() {
        let real = assemble(&"Q".repeat(RANDOM_CHARS));
        let line = format!("export SESAME_PASSWORD=\"{real}\" # and x{real} and {real}y");
        let found = find_in(&line);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(&line[found[0].clone()], real);
        assert_eq!(find_in(&real).len(), 1, "a line that is only the password");
        assert!(find_in("sesame_ sesame_short").is_empty());
        // Cut off by a multi-byte character: no password, and no panic.
        assert!(find_in(&format!("{}é", &real[..LEN - 1])).is_empty());
    }

    #[test]
    fn a_masked_password_shows_only_its_start() {
        let real = assemble(&"Z".repeat(RANDOM_CHARS));
        let shown = masked(&real);
        assert_eq!(shown.len(), real.len());
        assert!(shown.starts_with("sesame_ZZZZ*"));
        assert!(!shown.contains(&real[11..]));
    }

    proptest! {
        /// Every random part makes a valid password, found in any surrounding text, and
        /// any change to one of its characters is caught by the checksum (CRC32 detects
        /// every single-character change).
        #[test]
        fn every_password_checks_and_every_typo_is_caught(
            random in "[0-9A-Za-z]{36}",
            position in 0usize..42,
            replacement in "[0-9A-Za-z]",
            before in "[ =:\"']{0,3}",
            after in "[ \"',;]{0,3}",
        ) {
            let real = assemble(&random);
            prop_assert!(is_valid(&real));
            let line = format!("{before}{real}{after}");
            prop_assert_eq!(find_in(&line).len(), 1);
            let mut typo = real.clone().into_bytes();
            let at = PREFIX.len() + position;
            prop_assume!(typo[at] != replacement.as_bytes()[0]);
            typo[at] = replacement.as_bytes()[0];
            let typo = String::from_utf8(typo).unwrap();
            prop_assert!(!is_valid(&typo));
            prop_assert!(find_in(&typo).is_empty());
        }
    }
}
