//! TLS records over TCP, for server-svc's TLS front and client-svc's
//! `tls://` targets. Two layers, as in mini-redis's `Connection`:
//! [`RecordCodec`] is the engine's `Deframer` and `encode_records` as a
//! `tokio_util` codec; [`RecordStream`] holds the socket, its buffers and
//! the codec. Reads are bounded: at most one record of the largest size at
//! a time ([`READ_CHUNK`]), and at most [`MAX_BUFFERED`] held.

use std::io;

use handshake::{
    Deframer, MAX_CIPHERTEXT, MAX_CLIENT_HELLO_LEN, RECORD_HEADER_LEN, encode_records,
};
use handshake::{Error, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_util::bytes::{BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// The most bytes read from the socket at once: a whole record of the
/// largest size.
pub const READ_CHUNK: usize = RECORD_HEADER_LEN + MAX_CIPHERTEXT;

/// What the codec may hold after a read: an incomplete record and a
/// handshake message being reassembled (the largest accepted of any type
/// is a ClientHello; the deframer refuses larger ones itself), plus one
/// read. Beyond that the connection is cut.
pub const MAX_BUFFERED: usize = READ_CHUNK + 4 + MAX_CLIENT_HELLO_LEN + READ_CHUNK;

/// The most bytes [`RecordStream::close`] reads and drops.
const LINGER_BYTES: usize = 64 * 1024;

/// Records in, one [`Message`] at a time out; messages in, records out.
#[derive(Debug, Default)]
pub struct RecordCodec {
    deframer: Deframer,
}

/// The bytes are not TLS records (the engine's alert and reason), or the
/// socket failed (`Decoder` and `Encoder` need `From<io::Error>`).
#[derive(Debug)]
pub enum RecordError {
    Tls(Error),
    Io(io::Error),
}

impl From<io::Error> for RecordError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl Decoder for RecordCodec {
    type Item = Message;
    type Error = RecordError;

    /// Moves all of `src` into the deframer (which keeps records until they
    /// are whole), within [`MAX_BUFFERED`], then pops the next message. A
    /// framing error is final: every later call returns it again.
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, RecordError> {
        self.deframer.push(src);
        src.clear();
        match self.deframer.buffered() {
            held if held > MAX_BUFFERED => Err(RecordError::Tls(Error::internal(format!(
                "{held} bytes buffered, more than {MAX_BUFFERED}"
            )))),
            _ => self.deframer.pop().map_err(RecordError::Tls),
        }
    }
}

impl Encoder<&Message> for RecordCodec {
    type Error = RecordError;

    /// Appends `msg` as records (a long handshake message split over several).
    fn encode(&mut self, msg: &Message, dst: &mut BytesMut) -> Result<(), RecordError> {
        let mut out = Vec::new();
        encode_records(msg, &mut out).map_err(RecordError::Tls)?;
        dst.extend_from_slice(&out);
        Ok(())
    }
}

/// What [`RecordStream::read`] got.
#[derive(Debug)]
pub enum Received {
    /// The next message, or the framing error to abort the engine with
    /// (final: every later read returns it again).
    Message(Result<Message, Error>),
    /// TCP EOF, with `pending` bytes of an unfinished record or handshake
    /// message left (0 for a clean end between records).
    Eof { pending: usize },
    /// Reading from the socket failed.
    ReadFailed(io::Error),
    /// Writing what was queued failed.
    WriteFailed(io::Error),
}

/// One TCP connection carrying TLS records.
#[derive(Debug)]
pub struct RecordStream {
    stream: TcpStream,
    codec: RecordCodec,
    /// Bytes read and not yet given to the codec: empty between reads.
    read_buf: BytesMut,
    /// Records queued and not yet written.
    write_buf: BytesMut,
}

impl RecordStream {
    /// Records over `stream`, `queued` (records already encoded) first,
    /// with TCP_NODELAY: a handshake is a ping-pong of small flights, which
    /// must not wait for a delayed ACK.
    pub fn new(stream: TcpStream, queued: Vec<u8>) -> Self {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
        Self {
            stream,
            codec: RecordCodec::default(),
            read_buf: BytesMut::with_capacity(READ_CHUNK),
            write_buf: BytesMut::from(&queued[..]),
        }
    }

    /// Queues `msg` as records, for the next [`RecordStream::read`] or
    /// [`RecordStream::flush`] to write. `Err` only for a message that does
    /// not fit a record, which the engine never makes.
    pub fn queue(&mut self, msg: &Message) -> Result<(), Error> {
        match self.codec.encode(msg, &mut self.write_buf) {
            Err(RecordError::Tls(e)) => Err(e),
            Err(RecordError::Io(e)) => Err(Error::internal(e.to_string())),
            Ok(()) => Ok(()),
        }
    }

    /// The next message, reading as needed and writing what is queued
    /// meanwhile, so that neither side can block the other with a full
    /// buffer. Cancel-safe: a timeout around it loses nothing.
    pub async fn read(&mut self) -> Received {
        loop {
            match self.codec.decode(&mut self.read_buf) {
                Ok(Some(msg)) => return Received::Message(Ok(msg)),
                Ok(None) => {}
                Err(RecordError::Tls(e)) => return Received::Message(Err(e)),
                Err(RecordError::Io(e)) => return Received::ReadFailed(e),
            }
            self.read_buf.reserve(READ_CHUNK);
            // At most one record's worth per read, whatever the capacity.
            let mut chunk = (&mut self.read_buf).limit(READ_CHUNK);
            let (mut reader, mut writer) = self.stream.split();
            let read = if self.write_buf.is_empty() {
                reader.read_buf(&mut chunk).await
            } else {
                tokio::select! {
                    read = reader.read_buf(&mut chunk) => read,
                    wrote = writer.write_buf(&mut self.write_buf) => match wrote {
                        Ok(0) => return Received::WriteFailed(io::ErrorKind::WriteZero.into()),
                        Ok(_) => continue,
                        Err(e) => return Received::WriteFailed(e),
                    },
                }
            };
            match read {
                Ok(0) => {
                    return Received::Eof {
                        pending: self.codec.deframer.buffered(),
                    };
                }
                Ok(_) => {}
                Err(e) => return Received::ReadFailed(e),
            }
        }
    }

    /// Writes everything queued. Cancel-safe: what is not written stays.
    pub async fn flush(&mut self) -> io::Result<()> {
        while !self.write_buf.is_empty() {
            if self.stream.write_buf(&mut self.write_buf).await? == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
        Ok(())
    }

    /// Writes what is queued, ends our side (FIN), then reads and drops
    /// what the peer still sends until it closes too, all by `until` and
    /// for at most [`LINGER_BYTES`]: closing a socket with unread bytes
    /// makes the kernel answer with a reset, which could destroy our last
    /// records before the peer reads them.
    pub async fn close(&mut self, until: Instant) {
        match timeout_at(until, self.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return tracing::debug!("last records not written: {e}"),
            Err(_) => return tracing::debug!("last records not written in time"),
        }
        if timeout_at(until, self.stream.shutdown()).await.is_err() {
            return;
        }
        let mut dropped = 0;
        let mut sink = [0u8; 4096];
        while dropped < LINGER_BYTES {
            match timeout_at(until, self.stream.read(&mut sink)).await {
                Ok(Ok(n)) if n > 0 => dropped += n,
                _ => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use handshake::MAX_PLAINTEXT;
    use handshake::msgs::enums::AlertDescription;
    use handshake::msgs::message::RawHandshake;
    use handshake::{Alert, Message};
    use tokio::net::TcpListener;

    use super::*;

    async fn pair() -> (RecordStream, RecordStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let server = RecordStream::new(accepted.unwrap().0, Vec::new());
        (RecordStream::new(client.unwrap(), Vec::new()), server)
    }

    /// A Certificate-type handshake message of 60,000 bytes: four records.
    fn big(n: u8) -> Message {
        let mut bytes = vec![11, 0, 0xea, 0x60];
        bytes.resize(4 + 60_000, n);
        Message::RawHandshake(RawHandshake::new(bytes).unwrap())
    }

    /// Reads `count` messages, then writes what is still queued (`read`
    /// writes only while it waits).
    async fn read_all(stream: &mut RecordStream, count: u8) -> Vec<Message> {
        let mut got = Vec::new();
        while got.len() < usize::from(count) {
            match stream.read().await {
                Received::Message(Ok(msg)) => got.push(msg),
                other => panic!("message {}: {other:?}", got.len()),
            }
        }
        stream.flush().await.unwrap();
        got
    }

    #[tokio::test]
    async fn both_sides_write_while_they_read() {
        // 12 MB each way, far more than the sockets buffer: sides that
        // wrote everything before reading would wait for ever on each other.
        const COUNT: u8 = 200;
        let (mut a, mut b) = pair().await;
        for n in 0..COUNT {
            a.queue(&big(n)).unwrap();
            b.queue(&big(n)).unwrap();
        }
        let both = async { tokio::join!(read_all(&mut a, COUNT), read_all(&mut b, COUNT)) };
        // A guard against a hang, not a measure: this takes well under a second.
        let (at_a, at_b) = tokio::time::timeout(std::time::Duration::from_secs(60), both)
            .await
            .expect("both sides read everything");
        let want: Vec<Message> = (0..COUNT).map(big).collect();
        assert!(at_a == want && at_b == want);
    }

    #[tokio::test]
    async fn eof_in_the_middle_of_a_record_says_how_much_was_pending() {
        let (mut a, mut b) = pair().await;
        a.stream.write_all(&[21, 3, 3, 0, 2, 2]).await.unwrap();
        a.stream.shutdown().await.unwrap();
        let Received::Eof { pending } = b.read().await else {
            panic!("EOF expected");
        };
        assert_eq!(pending, 6);
        let (mut a, mut b) = pair().await;
        a.queue(&alert()).unwrap();
        a.flush().await.unwrap();
        a.stream.shutdown().await.unwrap();
        assert!(matches!(b.read().await, Received::Message(Ok(m)) if m == alert()));
        assert!(matches!(b.read().await, Received::Eof { pending: 0 }));
    }

    fn alert() -> Message {
        Message::Alert(Alert::fatal(AlertDescription::INTERNAL_ERROR))
    }

    #[tokio::test]
    async fn records_round_trip_one_byte_at_a_time() {
        let (mut a, mut b) = pair().await;
        a.queue(&alert()).unwrap();
        a.queue(&alert()).unwrap();
        assert_eq!(&a.write_buf[..5], &[21, 3, 3, 0, 2]);
        for byte in std::mem::take(&mut a.write_buf) {
            a.stream.write_all(&[byte]).await.unwrap();
            a.stream.flush().await.unwrap();
        }
        let got = read_all(&mut b, 2).await;
        assert_eq!(got, vec![alert(), alert()]);
        assert_eq!(b.codec.deframer.buffered(), 0);
    }

    #[tokio::test]
    async fn a_framing_error_is_final() {
        let (mut a, mut b) = pair().await;
        a.stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let Received::Message(Err(first)) = b.read().await else {
            panic!("HTTP is not TLS records");
        };
        a.stream.write_all(&[21, 3, 3, 0, 2, 2, 80]).await.unwrap();
        let Received::Message(Err(again)) = b.read().await else {
            panic!("the error must stay");
        };
        assert_eq!(first.alert(), again.alert());
    }

    #[test]
    fn the_codec_holds_at_most_max_buffered() {
        let mut codec = RecordCodec::default();
        // A header announcing the largest plaintext record, then only part
        // of its body: held, waiting for the rest.
        let mut start = vec![22, 3, 3];
        start.extend_from_slice(&u16::try_from(MAX_PLAINTEXT).unwrap().to_be_bytes());
        start.resize(RECORD_HEADER_LEN + MAX_PLAINTEXT - 1, 0);
        let mut src = BytesMut::from(&start[..]);
        assert!(codec.decode(&mut src).unwrap().is_none());
        assert!(src.is_empty());
        assert_eq!(codec.deframer.buffered(), start.len());
        // More than reads of at most READ_CHUNK can leave: refused with
        // internal_error.
        let mut more = BytesMut::from(&vec![0u8; MAX_BUFFERED + 1 - start.len()][..]);
        let Err(RecordError::Tls(e)) = codec.decode(&mut more) else {
            panic!("too much buffered must be refused");
        };
        assert_eq!(e.alert(), AlertDescription::INTERNAL_ERROR);
        assert!(e.reason().contains("bytes buffered"), "{e:?}");
    }
}
