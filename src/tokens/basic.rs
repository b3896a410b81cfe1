//! HTTP Basic credentials, parsed strictly: anything odd is simply "no credentials".

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// Real token credentials encode to about 90 characters; anything much longer is refused
/// before decoding.
pub const MAX_HEADER_BYTES: usize = 512;

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Username and password from an `Authorization` header value.
pub struct BasicCredentials {
    decoded: String,
    colon: usize,
}

impl BasicCredentials {
    pub fn username(&self) -> &str {
        &self.decoded[..self.colon]
    }

    pub fn password(&self) -> &str {
        &self.decoded[self.colon + 1..]
    }
}

pub fn parse(header: &[u8]) -> Option<BasicCredentials> {
    if header.len() > MAX_HEADER_BYTES || header.len() < 6 {
        return None;
    }
    let (scheme, rest) = header.split_at(5);
    if !scheme.eq_ignore_ascii_case(b"basic") || rest.first() != Some(&b' ') {
        return None;
    }
    let encoded = rest.trim_ascii();
    let decoded = String::from_utf8(BASE64.decode(encoded).ok()?).ok()?;
    let colon = decoded.find(':')?;
    // Control characters (a NUL, say) are in no real credentials, and PostgreSQL refuses
    // a NUL in text outright: such a header is malformed.
    if colon == 0 || decoded.chars().any(char::is_control) {
        return None;
    }
    Some(BasicCredentials { decoded, colon })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(raw: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
        .into_bytes()
    }

    #[test]
    fn good_credentials_split_at_the_first_colon() {
        let creds = parse(&header("tok_abc:pa:ss")).unwrap();
        assert_eq!(creds.username(), "tok_abc");
        assert_eq!(creds.password(), "pa:ss");
        assert!(
            parse(b"basic dG9rOnB3").is_some(),
            "scheme is case-insensitive, padding optional"
        );
    }

    #[test]
    fn anything_else_is_no_credentials() {
        for bad in [
            b"".to_vec(),
            b"Bearer abc".to_vec(),
            b"Basic".to_vec(),
            b"Basic !!!notbase64".to_vec(),
            header("no-colon"),
            header(":password-only"),
            header("tok_\0x:y"),
            header("tok_x:pass\u{7f}"),
            header("tok_x:pa\nss"),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode([0xff, b':', 0xfe])
            )
            .into_bytes(),
            [b"Basic ".to_vec(), vec![b'A'; 8192]].concat(),
            b"BasicdG9rOnB3".to_vec(),
        ] {
            assert!(
                parse(&bad).is_none(),
                "{:?}",
                String::from_utf8_lossy(&bad[..bad.len().min(40)])
            );
        }
    }
}
