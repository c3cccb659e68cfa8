//! On-disk journal record: encoding, decoding and the forward resync probe.
//!
//! Layout, little-endian:
//! `len u32 | crc32c u32 | seq u64 | kind u16 | reserved u16 | payload[len]`,
//! where the CRC covers `seq`, `kind` and `payload`.

/// Bytes before the payload of every record.
pub const RECORD_HEADER_LEN: usize = 20;

/// Largest payload the format accepts; longer lengths are treated as garbage.
pub const MAX_PAYLOAD_LEN: u32 = 1 << 30;

/// A record borrowed from a segment buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Sequence number (from 1, +1 per record across segments).
    pub seq: u64,
    /// Caller-defined record kind.
    pub kind: u16,
    /// The record's bytes, borrowed from the segment buffer.
    pub payload: &'a [u8],
}

/// What sits at an offset of a segment buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded<'a> {
    /// A well-formed record and the offset just past it.
    Record(RecordRef<'a>, usize),
    /// The buffer ends before the record does.
    Incomplete(&'static str),
    /// The bytes do not form a valid record.
    Invalid(String),
}

fn checksum(seq: u64, kind: u16, payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&seq.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &kind.to_le_bytes());
    crc32c::crc32c_append(crc, payload)
}

/// Appends one encoded record to `buf`. The caller checks the payload length.
pub(crate) fn encode(buf: &mut Vec<u8>, seq: u64, kind: u16, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_PAYLOAD_LEN as usize);
    buf.reserve(RECORD_HEADER_LEN + payload.len());
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&checksum(seq, kind, payload).to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&kind.to_le_bytes());
    buf.extend_from_slice(&0u16.to_le_bytes());
    buf.extend_from_slice(payload);
}

fn u16_at(buf: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([buf[at], buf[at + 1]])
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(b)
}

pub(crate) fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Decodes the record starting at `off`. Does not check the sequence number.
pub(crate) fn decode(buf: &[u8], off: usize) -> Decoded<'_> {
    let rest = buf.len().saturating_sub(off);
    if rest < RECORD_HEADER_LEN {
        return Decoded::Incomplete("record header cut short");
    }
    let len = u32_at(buf, off);
    if len > MAX_PAYLOAD_LEN {
        return Decoded::Invalid(format!("payload length {len} exceeds the format limit"));
    }
    let end = RECORD_HEADER_LEN + len as usize;
    if rest < end {
        return Decoded::Incomplete("record payload cut short");
    }
    let crc = u32_at(buf, off + 4);
    let seq = u64_at(buf, off + 8);
    let kind = u16_at(buf, off + 16);
    let reserved = u16_at(buf, off + 18);
    let payload = &buf[off + RECORD_HEADER_LEN..off + end];
    let actual = checksum(seq, kind, payload);
    if actual != crc {
        return Decoded::Invalid(format!("checksum mismatch (stored {crc:#010x}, computed {actual:#010x})"));
    }
    if reserved != 0 {
        return Decoded::Invalid(format!("reserved field is {reserved:#06x}, expected 0"));
    }
    Decoded::Record(RecordRef { seq, kind, payload }, off + end)
}

/// Looks for any valid record starting after `bad_off` whose sequence number
/// is at least `min_seq` and could plausibly follow. Returns its offset.
///
/// This decides whether a bad record is a torn tail (nothing valid after it)
/// or corruption in the middle of the journal (valid data after it).
pub(crate) fn find_valid_after(buf: &[u8], bad_off: usize, min_seq: u64) -> Option<usize> {
    let max_records = (buf.len().saturating_sub(bad_off) / RECORD_HEADER_LEN) as u64;
    let last_start = buf.len().checked_sub(RECORD_HEADER_LEN)?;
    (bad_off + 1..=last_start).find(|&p| {
        let seq = u64_at(buf, p + 8);
        seq >= min_seq && seq - min_seq <= max_records && matches!(decode(buf, p), Decoded::Record(..))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let mut buf = Vec::new();
        encode(&mut buf, 7, 3, b"hello");
        encode(&mut buf, 8, 4, b"");
        assert_eq!(buf.len(), 2 * RECORD_HEADER_LEN + 5);
        let Decoded::Record(r, next) = decode(&buf, 0) else {
            panic!("first record should decode");
        };
        assert_eq!((r.seq, r.kind, r.payload), (7, 3, &b"hello"[..]));
        let Decoded::Record(r, end) = decode(&buf, next) else {
            panic!("second record should decode");
        };
        assert_eq!((r.seq, r.kind, r.payload.len(), end), (8, 4, 0, buf.len()));
        assert!(matches!(decode(&buf, end), Decoded::Incomplete(_)));
    }

    #[test]
    fn detects_damage() {
        let mut buf = Vec::new();
        encode(&mut buf, 1, 1, b"payload");
        for i in 4..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x40;
            assert!(matches!(decode(&bad, 0), Decoded::Invalid(_)), "flip at byte {i} not detected");
        }
        assert!(matches!(decode(&buf[..buf.len() - 1], 0), Decoded::Incomplete(_)));
        assert!(matches!(decode(&buf[..10], 0), Decoded::Incomplete(_)));
    }

    #[test]
    fn resync_finds_following_record() {
        let mut buf = Vec::new();
        encode(&mut buf, 1, 1, b"aaaa");
        let second = buf.len();
        encode(&mut buf, 2, 1, b"bbbb");
        buf[RECORD_HEADER_LEN] ^= 1;
        assert_eq!(find_valid_after(&buf, 0, 1), Some(second));
        assert_eq!(find_valid_after(&buf, second, 3), None);
        assert_eq!(find_valid_after(&[0u8; 64], 0, 1), None);
    }
}
