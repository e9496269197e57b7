//! The jute binary encoding (Hadoop record I/O) that ZooKeeper speaks on the wire and on disk.
//!
//! Big-endian integers, `int32` length prefixes, `-1` for null strings/buffers/vectors, no
//! tags and no padding. Decoding is bounded: every length is checked against the remaining
//! input and against a configured maximum before anything is allocated, so hostile input
//! yields an error, never a panic or a huge allocation.

use std::fmt;

/// ZooKeeper's default `jute.maxbuffer` (1 MiB - 1).
pub const DEFAULT_MAX_BUFFER: usize = 0xfffff;

/// Why a record failed to decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JuteError {
    /// The input ended before the record did.
    UnexpectedEof { wanted: usize, remaining: usize },
    /// A length prefix was negative (other than -1 for null) or over the limit.
    BadLength(i64),
    /// A null appeared where the protocol requires a value (e.g. a null path).
    UnexpectedNull(&'static str),
    /// A string was not valid UTF-8.
    BadUtf8,
    /// Bytes were left over after a record that must fill its frame.
    TrailingBytes(usize),
    /// A field held a value the protocol does not define.
    BadValue(&'static str, i64),
}

impl fmt::Display for JuteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JuteError::UnexpectedEof { wanted, remaining } => {
                write!(
                    f,
                    "record truncated: wanted {wanted} bytes, {remaining} left"
                )
            }
            JuteError::BadLength(n) => write!(f, "unreasonable length {n}"),
            JuteError::UnexpectedNull(what) => write!(f, "null {what}"),
            JuteError::BadUtf8 => write!(f, "string is not valid UTF-8"),
            JuteError::TrailingBytes(n) => write!(f, "{n} unexpected trailing bytes"),
            JuteError::BadValue(what, v) => write!(f, "bad {what}: {v}"),
        }
    }
}

impl std::error::Error for JuteError {}

/// Result of a decode.
pub type JuteResult<T> = Result<T, JuteError>;

/// A bounded cursor over jute bytes.
#[derive(Clone, Debug)]
pub struct JuteReader<'a> {
    buf: &'a [u8],
    pos: usize,
    max_len: usize,
}

impl<'a> JuteReader<'a> {
    /// Read `buf`, allowing strings/buffers up to twice the default maxbuffer
    /// (`maxbuffer + extrasize`, as ZooKeeper does).
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_limit(buf, 2 * DEFAULT_MAX_BUFFER)
    }

    /// Read `buf` with an explicit per-field length limit.
    pub fn with_limit(buf: &'a [u8], max_len: usize) -> Self {
        JuteReader {
            buf,
            pos: 0,
            max_len,
        }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The unconsumed tail.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Fail unless every byte was consumed.
    pub fn finish(&self) -> JuteResult<()> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(JuteError::TrailingBytes(n)),
        }
    }

    fn take(&mut self, n: usize) -> JuteResult<&'a [u8]> {
        if self.remaining() < n {
            return Err(JuteError::UnexpectedEof {
                wanted: n,
                remaining: self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Skip `n` bytes (already known to be well-formed, e.g. equal to bytes decoded before).
    pub fn skip(&mut self, n: usize) -> JuteResult<()> {
        self.take(n).map(|_| ())
    }

    /// One byte.
    pub fn read_u8(&mut self) -> JuteResult<u8> {
        Ok(self.take(1)?[0])
    }

    /// A boolean: any non-zero byte is true, as Java reads it.
    pub fn read_bool(&mut self) -> JuteResult<bool> {
        Ok(self.read_u8()? != 0)
    }

    /// A big-endian `int`.
    pub fn read_i32(&mut self) -> JuteResult<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A big-endian `long`.
    pub fn read_i64(&mut self) -> JuteResult<i64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    /// A length prefix: `None` for -1 (null), checked against the limit and the input.
    fn read_len(&mut self, elem_min_size: usize) -> JuteResult<Option<usize>> {
        let n = self.read_i32()?;
        if n == -1 {
            return Ok(None);
        }
        if n < 0 || n as usize > self.max_len {
            return Err(JuteError::BadLength(n as i64));
        }
        let n = n as usize;
        // Cheap plausibility check before allocating: every element needs at least
        // `elem_min_size` bytes of input.
        if n.saturating_mul(elem_min_size) > self.remaining() {
            return Err(JuteError::UnexpectedEof {
                wanted: n.saturating_mul(elem_min_size),
                remaining: self.remaining(),
            });
        }
        Ok(Some(n))
    }

    /// A `buffer`; `None` is null.
    pub fn read_buffer(&mut self) -> JuteResult<Option<Vec<u8>>> {
        match self.read_len(1)? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take(n)?.to_vec())),
        }
    }

    /// A `ustring`; `None` is null.
    pub fn read_ustring(&mut self) -> JuteResult<Option<String>> {
        match self.read_len(1)? {
            None => Ok(None),
            Some(n) => {
                // Java decodes malformed UTF-8 leniently (replacement characters), so a bad
                // path is an invalid path (writes: BadArguments) or a missing node (reads),
                // never a MarshallingError.
                let b = self.take(n)?;
                // Valid UTF-8 (the normal case) is checked by the faster validator first.
                Ok(Some(match std::str::from_utf8(b) {
                    Ok(s) => s.to_owned(),
                    Err(_) => String::from_utf8_lossy(b).into_owned(),
                }))
            }
        }
    }

    /// A `ustring` that must not be null (paths, schemes...).
    pub fn read_string(&mut self, what: &'static str) -> JuteResult<String> {
        self.read_ustring()?.ok_or(JuteError::UnexpectedNull(what))
    }

    /// A `vector<T>`; `None` is null. `elem_min_size` bounds the pre-allocation.
    pub fn read_vec<T>(
        &mut self,
        elem_min_size: usize,
        mut f: impl FnMut(&mut Self) -> JuteResult<T>,
    ) -> JuteResult<Option<Vec<T>>> {
        match self.read_len(elem_min_size.max(1))? {
            None => Ok(None),
            Some(n) => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(f(self)?);
                }
                Ok(Some(v))
            }
        }
    }

    /// A `vector<ustring>` of non-null strings; null reads as empty.
    pub fn read_string_vec(&mut self, what: &'static str) -> JuteResult<Vec<String>> {
        Ok(self
            .read_vec(4, |r| r.read_string(what))?
            .unwrap_or_default())
    }
}

/// Appends jute bytes to a buffer.
#[derive(Clone, Debug, Default)]
pub struct JuteWriter {
    buf: Vec<u8>,
}

impl JuteWriter {
    /// An empty writer.
    pub fn new() -> Self {
        JuteWriter { buf: Vec::new() }
    }

    /// A writer that first reserves a 4-byte frame length, filled in by [`finish_frame`].
    ///
    /// [`finish_frame`]: JuteWriter::finish_frame
    pub fn framed() -> Self {
        JuteWriter { buf: vec![0; 4] }
    }

    /// Patch the length prefix reserved by [`framed`](JuteWriter::framed) and return the frame.
    pub fn finish_frame(mut self) -> Vec<u8> {
        let len = (self.buf.len() - 4) as i32;
        self.buf[..4].copy_from_slice(&len.to_be_bytes());
        self.buf
    }

    /// The bytes written so far.
    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn write_u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn write_bool(&mut self, v: bool) {
        self.buf.push(v as u8);
    }

    pub fn write_i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// A `buffer`; `None` writes null (-1).
    pub fn write_buffer(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.write_i32(-1),
            Some(b) => {
                self.write_i32(b.len() as i32);
                self.buf.extend_from_slice(b);
            }
        }
    }

    /// A `ustring`; `None` writes null (-1).
    pub fn write_ustring(&mut self, v: Option<&str>) {
        self.write_buffer(v.map(str::as_bytes));
    }

    /// A non-null `ustring`.
    pub fn write_string(&mut self, v: &str) {
        self.write_buffer(Some(v.as_bytes()));
    }

    /// A `vector<ustring>`.
    pub fn write_string_vec<S: AsRef<str>>(&mut self, v: &[S]) {
        self.write_i32(v.len() as i32);
        for s in v {
            self.write_string(s.as_ref());
        }
    }

    /// Raw bytes, no prefix.
    pub fn write_raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
}

/// A jute record: encodes itself and decodes from a reader.
pub trait Record: Sized {
    /// Append the encoding.
    fn write(&self, w: &mut JuteWriter);
    /// Decode one record.
    fn read(r: &mut JuteReader<'_>) -> JuteResult<Self>;

    /// Encode into a fresh buffer.
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = JuteWriter::new();
        self.write(&mut w);
        w.into_inner()
    }

    /// Decode from a buffer that must hold exactly one record.
    fn from_bytes(b: &[u8]) -> JuteResult<Self> {
        let mut r = JuteReader::new(b);
        let v = Self::read(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_round_trip() {
        let mut w = JuteWriter::new();
        w.write_i32(-5);
        w.write_i64(1 << 40);
        w.write_bool(true);
        w.write_ustring(None);
        w.write_string("héllo");
        w.write_buffer(Some(&[]));
        w.write_string_vec(&["a", "bc"]);
        let b = w.into_inner();
        let mut r = JuteReader::new(&b);
        assert_eq!(r.read_i32().unwrap(), -5);
        assert_eq!(r.read_i64().unwrap(), 1 << 40);
        assert!(r.read_bool().unwrap());
        assert_eq!(r.read_ustring().unwrap(), None);
        assert_eq!(r.read_ustring().unwrap().as_deref(), Some("héllo"));
        assert_eq!(r.read_buffer().unwrap(), Some(vec![]));
        assert_eq!(
            r.read_string_vec("x").unwrap(),
            vec!["a".to_string(), "bc".to_string()]
        );
        r.finish().unwrap();
    }

    #[test]
    fn hostile_lengths_are_errors() {
        // A vector claiming 2^31-1 elements in 4 bytes of input must not allocate.
        let b = i32::MAX.to_be_bytes();
        assert!(JuteReader::new(&b).read_vec(4, |r| r.read_i32()).is_err());
        assert!(JuteReader::new(&(-7i32).to_be_bytes())
            .read_buffer()
            .is_err());
        assert!(JuteReader::new(&[0, 0, 0]).read_i32().is_err());
        let mut w = JuteWriter::new();
        w.write_i32(2);
        w.write_raw(&[0xff, 0xfe]);
        assert_eq!(
            JuteReader::new(&w.into_inner()).read_ustring(),
            Ok(Some("\u{fffd}\u{fffd}".to_string()))
        );
    }

    #[test]
    fn framed_writer_patches_length() {
        let mut w = JuteWriter::framed();
        w.write_i32(7);
        assert_eq!(w.finish_frame(), vec![0, 0, 0, 4, 0, 0, 0, 7]);
    }
}
