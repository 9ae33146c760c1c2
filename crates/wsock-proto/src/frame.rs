use bytes::{BufMut, BytesMut};

use crate::error::ProtocolError;
use crate::mask::apply_mask;

/// A frame's opcode (RFC 6455 section 5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: starts a text message.
    Text,
    /// 0x2: starts a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// Decodes the low 4 bits of a frame's first byte; `None` for reserved opcodes.
    pub fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    pub fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Close, ping and pong are control frames: at most 125 bytes and never fragmented.
    pub fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// Largest payload a control frame may carry.
pub(crate) const MAX_CONTROL_PAYLOAD: usize = 125;

/// Longest possible frame header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// The fixed part of a frame, before its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Last frame of its message.
    pub fin: bool,
    /// The three RSV bits, RSV1 as 0b100.
    pub rsv: u8,
    /// What the frame carries.
    pub opcode: OpCode,
    /// Masking key; present on every client-to-server frame.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Parses a header at the start of `buf`. `Ok(None)` means more bytes are needed;
    /// otherwise returns the header and how many bytes it took.
    ///
    /// Rejects what is wrong whatever the role: reserved opcodes, a 64-bit length with
    /// its top bit set, and control frames that are long or fragmented.
    ///
    /// ```
    /// use wsock_proto::{FrameHeader, OpCode};
    /// // RFC 6455 section 5.7: an unmasked "Hello".
    /// let (h, len) = FrameHeader::decode(b"\x81\x05Hello").unwrap().unwrap();
    /// assert_eq!((h.opcode, h.fin, h.payload_len, len), (OpCode::Text, true, 5, 2));
    /// ```
    pub fn decode(buf: &[u8]) -> Result<Option<(Self, usize)>, ProtocolError> {
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x7;
        let opcode =
            OpCode::from_bits(b0 & 0x0f).ok_or(ProtocolError::ReservedOpcode(b0 & 0x0f))?;
        let masked = b1 & 0x80 != 0;
        let (payload_len, mut pos) = match b1 & 0x7f {
            126 => {
                let Some(bytes) = buf.get(2..4) else {
                    return Ok(None);
                };
                (u64::from(u16::from_be_bytes([bytes[0], bytes[1]])), 4)
            }
            127 => {
                let Some(bytes) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut word = [0u8; 8];
                word.copy_from_slice(bytes);
                let len = u64::from_be_bytes(word);
                if len >> 63 != 0 {
                    return Err(ProtocolError::InvalidLength);
                }
                (len, 10)
            }
            short => (u64::from(short), 2),
        };
        if opcode.is_control() {
            if payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlFrameTooLong(payload_len));
            }
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
        }
        let mask = if masked {
            let Some(bytes) = buf.get(pos..pos + 4) else {
                return Ok(None);
            };
            pos += 4;
            Some([bytes[0], bytes[1], bytes[2], bytes[3]])
        } else {
            None
        };
        let header = Self {
            fin,
            rsv,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, pos)))
    }

    /// Appends the header, using the shortest length form, to `out` (a `BytesMut`,
    /// or a slice with room for the longest header, 14 bytes).
    pub fn encode(&self, out: &mut impl BufMut) {
        let b0 = (u8::from(self.fin) << 7) | ((self.rsv & 0x7) << 4) | self.opcode.bits();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        out.put_u8(b0);
        match self.payload_len {
            len @ 0..=125 => out.put_u8(mask_bit | len as u8),
            len @ 126..=0xffff => {
                out.put_u8(mask_bit | 126);
                out.put_u16(len as u16);
            }
            len => {
                out.put_u8(mask_bit | 127);
                out.put_u64(len);
            }
        }
        if let Some(key) = self.mask {
            out.put_slice(&key);
        }
    }
}

/// Appends one whole frame to `out`, masking the payload if `mask` is given.
///
/// ```
/// use bytes::BytesMut;
/// use wsock_proto::{encode_frame, OpCode};
/// let mut out = BytesMut::new();
/// encode_frame(&mut out, OpCode::Text, true, 0, None, b"Hello");
/// assert_eq!(&out[..], b"\x81\x05Hello");
/// ```
pub fn encode_frame(
    out: &mut BytesMut,
    opcode: OpCode,
    fin: bool,
    rsv: u8,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) {
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    out.reserve(MAX_HEADER_LEN + payload.len());
    header.encode(out);
    let start = out.len();
    out.put_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(header: FrameHeader) {
        let mut out = BytesMut::new();
        header.encode(&mut out);
        let (decoded, len) = FrameHeader::decode(&out).unwrap().unwrap();
        assert_eq!(decoded, header);
        assert_eq!(len, out.len());
        // Every strict prefix asks for more bytes rather than guessing.
        for cut in 0..out.len() {
            assert_eq!(FrameHeader::decode(&out[..cut]), Ok(None), "prefix {cut}");
        }
    }

    #[test]
    fn every_length_form_round_trips_masked_and_unmasked() {
        for len in [0u64, 1, 125, 126, 127, 65535, 65536, 1 << 32, (1 << 63) - 1] {
            for mask in [None, Some([1, 2, 3, 4])] {
                round_trip(FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: OpCode::Binary,
                    mask,
                    payload_len: len,
                });
            }
        }
    }

    #[test]
    fn shortest_length_form_is_used() {
        let sizes = [(125usize, 2usize), (126, 4), (65535, 4), (65536, 10)];
        for (len, header_len) in sizes {
            let mut out = BytesMut::new();
            encode_frame(&mut out, OpCode::Binary, true, 0, None, &vec![0; len]);
            assert_eq!(out.len() - len, header_len, "payload {len}");
        }
    }

    #[test]
    fn rfc_examples_decode() {
        // Section 5.7 examples.
        let (h, n) = FrameHeader::decode(b"\x81\x85\x37\xfa\x21\x3d")
            .unwrap()
            .unwrap();
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!((h.payload_len, n), (5, 6));
        let (h, _) = FrameHeader::decode(b"\x01\x03Hel").unwrap().unwrap();
        assert!(!h.fin);
        let (h, n) = FrameHeader::decode(b"\x82\x7E\x01\x00").unwrap().unwrap();
        assert_eq!((h.payload_len, n), (256, 4));
        let (h, n) = FrameHeader::decode(b"\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00")
            .unwrap()
            .unwrap();
        assert_eq!((h.payload_len, n), (65536, 10));
    }

    #[test]
    fn masked_frame_matches_rfc_bytes() {
        let mut out = BytesMut::new();
        encode_frame(
            &mut out,
            OpCode::Text,
            true,
            0,
            Some([0x37, 0xfa, 0x21, 0x3d]),
            b"Hello",
        );
        assert_eq!(&out[..], b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
    }

    #[test]
    fn reserved_opcodes_are_rejected() {
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(
                FrameHeader::decode(&[0x80 | op, 0]),
                Err(ProtocolError::ReservedOpcode(op))
            );
        }
    }

    #[test]
    fn length_with_top_bit_set_is_rejected() {
        let frame = [0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            FrameHeader::decode(&frame),
            Err(ProtocolError::InvalidLength)
        );
    }

    #[test]
    fn long_control_frame_is_rejected() {
        assert_eq!(
            FrameHeader::decode(&[0x89, 126, 0, 126]),
            Err(ProtocolError::ControlFrameTooLong(126))
        );
    }

    #[test]
    fn fragmented_control_frame_is_rejected() {
        assert_eq!(
            FrameHeader::decode(&[0x09, 0]),
            Err(ProtocolError::FragmentedControlFrame)
        );
    }

    #[test]
    fn rsv_bits_are_reported() {
        let (h, _) = FrameHeader::decode(&[0xC1, 0]).unwrap().unwrap();
        assert_eq!(h.rsv, 0b100);
    }
}
