/// Validates UTF-8 that arrives in pieces, failing on the first piece that makes the
/// text invalid rather than at the end of the message (RFC 6455 section 8.1).
///
/// ```
/// let mut v = wsock_proto::Utf8Validator::default();
/// let snowman = "☃".as_bytes();
/// assert!(v.feed(&snowman[..1]).is_ok());   // an incomplete character is fine so far
/// assert!(v.feed(&snowman[1..]).is_ok());
/// assert!(v.finish().is_ok());
/// assert!(v.feed(&[0xff]).is_err());         // never valid: fails at once
/// ```
#[derive(Clone, Debug, Default)]
pub struct Utf8Validator {
    partial: [u8; 4],
    partial_len: u8,
}

/// The text is not valid UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    /// Checks the next piece. An incomplete character at the end is remembered; bytes
    /// that can never begin valid UTF-8 fail immediately.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), InvalidUtf8> {
        while self.partial_len > 0 {
            let Some((&byte, rest)) = data.split_first() else {
                return Ok(());
            };
            data = rest;
            self.partial[usize::from(self.partial_len)] = byte;
            self.partial_len += 1;
            match simdutf8::compat::from_utf8(&self.partial[..usize::from(self.partial_len)]) {
                Ok(_) => self.partial_len = 0,
                Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                // A prefix of a valid character: keep collecting (at most 4 bytes).
                Err(_) => {}
            }
        }
        if simdutf8::basic::from_utf8(data).is_ok() {
            return Ok(());
        }
        match simdutf8::compat::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(e) => {
                // An incomplete character: at most 3 bytes.
                let tail = &data[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                Ok(())
            }
        }
    }

    /// Ends the text: fails if it stopped inside a character. Resets the validator.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.partial_len == 0;
        self.partial_len = 0;
        if complete {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }

    /// Forgets any incomplete character.
    pub fn reset(&mut self) {
        self.partial_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_in_every_split(text: &[u8]) -> bool {
        let whole = std::str::from_utf8(text).is_ok();
        for cut in 0..=text.len() {
            for cut2 in cut..=text.len() {
                let mut v = Utf8Validator::default();
                let got = v.feed(&text[..cut]).is_ok()
                    && v.feed(&text[cut..cut2]).is_ok()
                    && v.feed(&text[cut2..]).is_ok()
                    && v.finish().is_ok();
                assert_eq!(got, whole, "{text:x?} cut at {cut},{cut2}");
            }
        }
        whole
    }

    #[test]
    fn agrees_with_std_for_every_split() {
        assert!(valid_in_every_split("Hello-µ@ßöäüàá-UTF-8!!".as_bytes()));
        assert!(valid_in_every_split("κόσμε 𝄞 ☃".as_bytes()));
        assert!(!valid_in_every_split(
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"
        ));
        assert!(!valid_in_every_split(b"ab\xf4\x90\x80\x80")); // above U+10FFFF
        assert!(!valid_in_every_split(b"\xc0\xaf")); // overlong
        assert!(!valid_in_every_split(b"abc\xe2\x82")); // truncated at the end
    }

    #[test]
    fn fails_on_the_first_impossible_byte_not_at_the_end() {
        let mut v = Utf8Validator::default();
        assert!(v
            .feed(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")
            .is_ok());
        // 0xf4 0x90 can never start a valid character, even before more bytes arrive.
        assert_eq!(v.feed(b"\xf4\x90"), Err(InvalidUtf8));
    }

    #[test]
    fn surrogate_is_rejected_across_pieces() {
        let mut v = Utf8Validator::default();
        assert!(v.feed(b"\xed").is_ok());
        assert_eq!(v.feed(b"\xa0"), Err(InvalidUtf8));
    }
}
